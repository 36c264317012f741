//! Spores: function values that can travel.
//!
//! A spore is written in a multitier module with `spore!(capture(a), |x: In| -> Out { .. })`.
//! `#[multitier]` lifts its code into a function of the module, so the code is compiled in
//! (into the executables of the peers it may run on); the value that travels is only which
//! function it is and its captured data. Applying it runs the function where it is applied.

use std::any::TypeId;
use std::fmt;
use std::marker::PhantomData;

use serde::{Deserialize, Serialize};

use crate::here::Here;
use crate::placement::{Captured, Module, Peer, SporeFailure, Transmit};
use crate::spec::hex;

/// The target of a spore that takes no context: it runs on any peer of its module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Anywhere;

/// Peers a spore written for `Self` may run on: that peer itself, or any peer for
/// [`Anywhere`].
#[diagnostic::on_unimplemented(
    message = "this spore runs on `{Self}`, so it cannot be applied on `{Q}`",
    label = "the spore takes the context of `{Self}`",
    note = "apply it with the context of a `{Self}` instance (send it there with a remote call), or write a spore without a context to run anywhere"
)]
pub trait RunsOn<Q> {}

impl<Q: Peer> RunsOn<Q> for Q {}
impl<Q: Peer> RunsOn<Q> for Anywhere {}

/// Why a spore could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SporeError {
    /// The spore was made by another build of the module: its code may differ, so it is not run.
    #[error("the spore was made by another build of module `{module}` (fingerprint {theirs}, here {ours}); rebuild both from the same source")]
    OtherBuild {
        /// The module applying it.
        module: &'static str,
        /// This build's fingerprint.
        ours: String,
        /// The fingerprint the spore carries.
        theirs: String,
    },
    /// This peer's executable does not hold the spore's code: it was written for another peer.
    #[error("spore {spore} does not run on `{peer}`: it was written for another peer kind")]
    NotHere {
        /// The spore's index in its module.
        spore: u16,
        /// The peer it was applied on.
        peer: &'static str,
    },
    /// Its captures, its input or its output could not be encoded or decoded.
    #[error("spore {spore}: {detail}")]
    Codec {
        /// The spore's index in its module (or the first one, for the input).
        spore: u16,
        /// What postcard said.
        detail: String,
    },
    /// Spores of two different modules were composed.
    #[error("spores of different modules cannot be composed")]
    Mixed,
    /// The spore's functions do not chain from its input type to its output type (it was
    /// decoded as another spore type than it was made as).
    #[error("the spore's functions do not take `{input}` to `{output}`: it was made as another spore type")]
    Mistyped {
        /// The input type it was applied to.
        input: &'static str,
        /// The output type asked of it.
        output: &'static str,
    },
    /// Of an untyped spore's functions, one does not take what the one before it gives (its
    /// bytes were made up, or decoded as another spore).
    #[error("spore {spore} does not take what the function before it gives")]
    Unchained {
        /// The function that does not fit.
        spore: u16,
    },
}

/// One function of a spore: which one, and its encoded captures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Step {
    spore: u16,
    captures: Vec<u8>,
}

/// A function value that can be stored, sent to another peer and applied there: which code to
/// run (compiled into the module) and its captured data. It takes an `In` and gives an `Out`;
/// `P` is the peer kind it runs on, or [`Anywhere`].
///
/// Only the spore travels, never its code: its bytes are the module's fingerprint, the index of
/// each function and its captures. A spore made by another build of the module is refused when
/// applied ([`SporeError::OtherBuild`]), never run against different code.
///
/// ```
/// #[loci::multitier]
/// pub mod numbers {
///     use loci::{spore, Here, Spore};
///
///     #[peer(ties(Worker = Multiple))]
///     pub struct Driver;
///     #[peer(ties(Driver = Single))]
///     pub struct Worker;
///
///     /// A spore that scales its input, made with the factor it captures.
///     pub fn scale(factor: u64) -> Spore<loci::Anywhere, u64, u64> {
///         spore!(capture(factor), |x: u64| -> u64 { x * factor })
///     }
///
///     /// Workers apply what they are sent, where their data is.
///     #[on(Worker)]
///     pub fn apply(ctx: &Here<Worker>, f: Spore<loci::Anywhere, u64, u64>, x: u64) -> Result<u64, String> {
///         f.apply(ctx, x).map_err(|error| error.to_string())
///     }
/// }
/// ```
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Spore<P, In, Out> {
    fingerprint: [u8; 16],
    steps: Vec<Step>,
    /// Why the spore cannot be applied, found when it was made (a capture that did not encode,
    /// a composition of different modules).
    broken: Option<String>,
    #[serde(skip)]
    _types: PhantomData<fn(P, In) -> Out>,
}

impl<P, In, Out> Clone for Spore<P, In, Out> {
    fn clone(&self) -> Self {
        Spore {
            fingerprint: self.fingerprint,
            steps: self.steps.clone(),
            broken: self.broken.clone(),
            _types: PhantomData,
        }
    }
}

impl<P, In, Out> PartialEq for Spore<P, In, Out> {
    fn eq(&self, other: &Self) -> bool {
        self.fingerprint == other.fingerprint && self.steps == other.steps && self.broken == other.broken
    }
}

impl<P, In, Out> fmt::Debug for Spore<P, In, Out> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let steps: Vec<u16> = self.steps.iter().map(|step| step.spore).collect();
        f.debug_struct("Spore")
            .field("steps", &steps)
            .field("capture_bytes", &self.steps.iter().map(|step| step.captures.len()).sum::<usize>())
            .field("broken", &self.broken)
            .finish()
    }
}

impl<P, In: Transmit, Out: Transmit> Spore<P, In, Out> {
    /// Created by the code `#[multitier]` writes for `spore!`.
    #[doc(hidden)]
    pub fn __new(fingerprint: [u8; 16], spore: u16, captured: Captured) -> Self {
        let (captures, broken) = match captured.into_bytes() {
            Ok(bytes) => (bytes, None),
            Err(error) => (Vec::new(), Some(format!("a capture could not be encoded: {error}"))),
        };
        Spore { fingerprint, steps: vec![Step { spore, captures }], broken, _types: PhantomData }
    }

    /// Runs the spore on this instance with `input`.
    pub fn apply<Q: Peer>(&self, ctx: &Here<Q>, input: In) -> Result<Out, SporeError>
    where
        P: RunsOn<Q>,
    {
        let first = self.steps.first().map_or(0, |step| step.spore);
        check_build::<Q>(&self.fingerprint, self.broken.as_deref(), first)?;
        self.check_types::<Q>()?;
        let input = input.__encode().map_err(|error| SporeError::Codec { spore: first, detail: error.to_string() })?;
        let value = run_steps(ctx, &self.steps, input)?;
        let last = self.steps.last().map_or(0, |step| step.spore);
        Out::__decode(&value).map_err(|error| SporeError::Codec { spore: last, detail: error.to_string() })
    }

    /// Checks, before running anything, that every function is here and that they chain from
    /// `In` to `Out`: the bytes of a spore may come from anywhere.
    fn check_types<Q: Peer>(&self) -> Result<(), SporeError> {
        let mistyped =
            || SporeError::Mistyped { input: std::any::type_name::<In>(), output: std::any::type_name::<Out>() };
        let mut expected = TypeId::of::<In>();
        for step in &self.steps {
            let (input, output) =
                Q::__spore_signature(step.spore).ok_or(SporeError::NotHere { spore: step.spore, peer: Q::NAME })?;
            if input != expected {
                return Err(mistyped());
            }
            expected = output;
        }
        if self.steps.is_empty() || expected != TypeId::of::<Out>() {
            return Err(mistyped());
        }
        Ok(())
    }

    /// The spore that applies `next` to this one's output: a spore built of others.
    pub fn then<C: Transmit>(self, next: Spore<P, Out, C>) -> Spore<P, In, C> {
        let broken = match (self.broken, next.broken) {
            (Some(broken), _) | (None, Some(broken)) => Some(broken),
            (None, None) if self.fingerprint != next.fingerprint => Some(SporeError::Mixed.to_string()),
            (None, None) => None,
        };
        let mut steps = self.steps;
        steps.extend(next.steps);
        Spore { fingerprint: self.fingerprint, steps, broken, _types: PhantomData }
    }
}

impl<P, In, Out> Spore<P, In, Out> {
    /// The same spore, typed to run on peer `Q`: an [`Anywhere`] spore for a peer (to compose
    /// it with spores written for that peer, or to store it with them), or a spore for `Q`
    /// itself.
    pub fn on<Q: Peer>(self) -> Spore<Q, In, Out>
    where
        P: RunsOn<Q>,
    {
        Spore { fingerprint: self.fingerprint, steps: self.steps, broken: self.broken, _types: PhantomData }
    }
}

impl<P, In: Transmit, Out: Transmit> Spore<P, In, Out> {
    /// The spore with its input and output types erased: it is applied to encoded input and
    /// gives encoded output. This is how code that holds spores of many types in one structure
    /// (a lineage of silos, a queue of jobs) stores and applies them.
    pub fn untyped(self) -> UntypedSpore<P> {
        UntypedSpore {
            fingerprint: self.fingerprint,
            steps: self.steps,
            broken: self.broken,
            input: std::any::type_name::<In>().to_owned(),
            output: std::any::type_name::<Out>().to_owned(),
            _peer: PhantomData,
        }
    }
}

/// A [`Spore`] whose input and output types are erased ([`Spore::untyped`]): applied to the
/// postcard encoding of its input, it gives the encoding of its output. It travels like a
/// spore; the names of the types it was made for travel with it, for messages.
///
/// Its functions are still checked to chain from one to the next before anything runs; that the
/// bytes it is given encode its input type is the caller's to ensure (bytes of another type
/// give [`SporeError::Codec`], or a value decoded from them).
///
/// ```
/// #[loci::multitier]
/// pub mod numbers {
///     use loci::{spore, Here, Spore};
///
///     #[peer(ties(Worker = Multiple))]
///     pub struct Driver;
///     #[peer(ties(Driver = Single))]
///     pub struct Worker;
///
///     pub fn double() -> Spore<loci::Anywhere, u64, u64> {
///         spore!(capture(), |x: u64| -> u64 { x * 2 })
///     }
///
///     /// Workers apply spores to values they hold encoded.
///     #[on(Worker)]
///     pub fn apply(ctx: &Here<Worker>, f: loci::UntypedSpore<loci::Anywhere>, x: Vec<u8>) -> Result<Vec<u8>, String> {
///         f.apply_encoded(ctx, &x).map_err(|error| error.to_string())
///     }
/// }
/// ```
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct UntypedSpore<P> {
    fingerprint: [u8; 16],
    steps: Vec<Step>,
    broken: Option<String>,
    input: String,
    output: String,
    #[serde(skip)]
    _peer: PhantomData<fn() -> P>,
}

impl<P> Clone for UntypedSpore<P> {
    fn clone(&self) -> Self {
        UntypedSpore {
            fingerprint: self.fingerprint,
            steps: self.steps.clone(),
            broken: self.broken.clone(),
            input: self.input.clone(),
            output: self.output.clone(),
            _peer: PhantomData,
        }
    }
}

impl<P> fmt::Debug for UntypedSpore<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let steps: Vec<u16> = self.steps.iter().map(|step| step.spore).collect();
        f.debug_struct("UntypedSpore")
            .field("input", &self.input)
            .field("output", &self.output)
            .field("steps", &steps)
            .field("capture_bytes", &self.capture_bytes())
            .finish()
    }
}

impl<P> UntypedSpore<P> {
    /// The name of the input type it was made for.
    pub fn input_type(&self) -> &str {
        &self.input
    }

    /// The name of the output type it was made for.
    pub fn output_type(&self) -> &str {
        &self.output
    }

    /// How many bytes its captures take.
    pub fn capture_bytes(&self) -> usize {
        self.steps.iter().map(|step| step.captures.len()).sum()
    }

    /// Runs the spore on this instance with the encoded `input`, giving its encoded output.
    pub fn apply_encoded<Q: Peer>(&self, ctx: &Here<Q>, input: &[u8]) -> Result<Vec<u8>, SporeError>
    where
        P: RunsOn<Q>,
    {
        let first = self.steps.first().map_or(0, |step| step.spore);
        check_build::<Q>(&self.fingerprint, self.broken.as_deref(), first)?;
        // Every function is here, and each takes what the one before it gives.
        let mut gives: Option<TypeId> = None;
        for step in &self.steps {
            let (input, output) =
                Q::__spore_signature(step.spore).ok_or(SporeError::NotHere { spore: step.spore, peer: Q::NAME })?;
            if gives.is_some_and(|gives| gives != input) {
                return Err(SporeError::Unchained { spore: step.spore });
            }
            gives = Some(output);
        }
        if self.steps.is_empty() {
            return Err(SporeError::Mistyped { input: "nothing", output: "nothing" });
        }
        run_steps(ctx, &self.steps, input.to_vec())
    }
}

/// Refuses a spore made by another build of the module, or found broken when it was made.
fn check_build<Q: Peer>(fingerprint: &[u8; 16], broken: Option<&str>, first: u16) -> Result<(), SporeError> {
    let spec = &Q::Module::SPEC;
    if *fingerprint != spec.fingerprint {
        return Err(SporeError::OtherBuild {
            module: spec.name,
            ours: spec.fingerprint_hex(),
            theirs: hex(fingerprint),
        });
    }
    match broken {
        Some(broken) => Err(SporeError::Codec { spore: first, detail: broken.to_owned() }),
        None => Ok(()),
    }
}

/// Runs a spore's functions one after the other on this instance, from the encoded input.
fn run_steps<Q: Peer>(ctx: &Here<Q>, steps: &[Step], mut value: Vec<u8>) -> Result<Vec<u8>, SporeError> {
    for step in steps {
        value = Q::__apply_spore(ctx, step.spore, &step.captures, &value).map_err(|failure| match failure {
            SporeFailure::NotHere => SporeError::NotHere { spore: step.spore, peer: Q::NAME },
            SporeFailure::Codec(detail) => SporeError::Codec { spore: step.spore, detail },
        })?;
    }
    Ok(value)
}
