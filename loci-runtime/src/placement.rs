//! The traits `#[multitier]` implements for peers, ties and placed items.
//!
//! Users rarely name these traits; they show up in compile errors, which is why each one that
//! can fail for a user mistake carries a `#[diagnostic::on_unimplemented]` message that names
//! the peers involved and says what to write instead.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::RemoteError;
use crate::here::Here;
use crate::reactive::{Event, Observation, Signal};
use crate::spec::{ModuleSpec, Multiplicity};
use crate::wire::{Failure, ItemId};

/// A boxed, sendable future, as the generated code returns them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A multitier module, as described by its generated [`ModuleSpec`].
pub trait Module: 'static {
    /// Peers, ties, placed items and the fingerprint of the module.
    const SPEC: ModuleSpec;
}

/// A peer kind of a multitier module. Declared with `#[peer]` inside `#[loci::multitier]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a peer of a multitier module",
    label = "not a peer",
    note = "peers are unit structs marked `#[peer]` inside a `#[loci::multitier]` module"
)]
pub trait Peer: Sized + Send + Sync + 'static {
    /// The module the peer belongs to.
    type Module: Module;
    /// The peer's index in [`ModuleSpec::peers`].
    const INDEX: u16;
    /// The peer's name.
    const NAME: &'static str;

    /// Creates the placed value `item` of this peer (generated).
    #[doc(hidden)]
    fn __init_value(ctx: &Here<Self>, item: ItemId) -> Option<Box<dyn Any + Send + Sync>>;

    /// Starts serving a call of placed function `item` with encoded `args` from `requester`
    /// (generated).
    #[doc(hidden)]
    fn __serve_call(
        ctx: &Here<Self>,
        item: ItemId,
        args: Bytes,
        requester: &Requester,
    ) -> Result<BoxFuture<'static, Result<Vec<u8>, Failure>>, Failure>;

    /// Forwards occurrences of placed event `item` to `sink`, encoded (generated).
    #[doc(hidden)]
    fn __serve_subscribe(ctx: &Here<Self>, item: ItemId, sink: EventSink, requester: &Requester)
        -> Option<Observation>;

    /// Applies spore `spore` to the encoded `input` with its encoded `captures` (generated):
    /// the spores written for this peer and those for any peer.
    #[doc(hidden)]
    fn __apply_spore(ctx: &Here<Self>, spore: u16, captures: &[u8], input: &[u8]) -> Result<Vec<u8>, SporeFailure>;

    /// The input and output types of spore `spore`, if it runs on this peer (generated).
    #[doc(hidden)]
    fn __spore_signature(spore: u16) -> Option<(std::any::TypeId, std::any::TypeId)>;

    /// The peer's `main`, if it has one (generated).
    #[doc(hidden)]
    fn __main(ctx: Here<Self>) -> Option<BoxFuture<'static, crate::Result<()>>>;
}

/// Why the generated dispatch could not apply a spore.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SporeFailure {
    /// This peer's executable has no such spore (it was written for another peer kind).
    NotHere,
    /// The captures or the input did not decode, or the output did not encode.
    Codec(String),
}

/// A spore of a module: which function it is and its types (generated per spore).
#[doc(hidden)]
pub trait SporeFn: Sized {
    /// The module the spore is written in.
    type Module: Module;
    /// The peer kind it runs on, or [`Anywhere`](crate::Anywhere).
    type Target;
    /// What it is applied to.
    type Input: Transmit;
    /// What it returns.
    type Output: Transmit;
    /// Its index among the module's spores.
    const ID: u16;

    /// The spore value with these captures.
    fn __new(captured: Captured) -> crate::Spore<Self::Target, Self::Input, Self::Output> {
        crate::Spore::__new(<Self::Module as Module>::SPEC.fingerprint, Self::ID, captured)
    }
}

/// The remote that subscribed to a placed value, for subjective values (generated code).
#[doc(hidden)]
pub struct Requester(pub(crate) std::sync::Arc<crate::remote::RemoteInfo>);

impl Requester {
    /// The requester's peer index.
    pub fn peer(&self) -> u16 {
        self.0.peer
    }

    /// The requester as a typed remote, if it is a `Q`.
    pub fn remote<Q: Peer>(&self) -> Option<crate::Remote<Q>> {
        (self.0.peer == Q::INDEX).then(|| crate::Remote::new(std::sync::Arc::clone(&self.0)))
    }
}

/// Serves a subjective event to one remote: when the subscription ends, the per-remote
/// pipeline is detached from the shared events it was built on.
#[doc(hidden)]
pub fn serve_subjective<V: PlacedEvent>(event: Event<V::Item>, sink: EventSink) -> Observation {
    let forwarding = V::__forward(&event, sink);
    Observation::new(move || {
        forwarding.cancel();
        event.detach();
    })
}

/// Serves a signal computed for one remote: when the subscription ends, the forwarding stops
/// and the per-remote signal is released with its last handle.
#[doc(hidden)]
pub fn serve_subjective_signal<V: PlacedSignal>(signal: Signal<V::Item>, sink: EventSink) -> Observation {
    V::__forward(&signal, sink)
}

/// Marks a placed event as shared by the instance, so detaching a subjective pipeline stops there.
#[doc(hidden)]
pub fn pin_event<T: 'static>(event: &Event<T>) {
    event.pin();
}

/// Where the encoded occurrences of a served event go.
pub type EventSink = std::sync::Arc<dyn Fn(&[u8]) + Send + Sync>;

/// A declared tie from `Self` to peer `To`. Generated from `#[peer(ties(To = ...))]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no tie to `{To}`",
    label = "remote access from `{Self}` to `{To}` needs a tie between them",
    note = "declare the tie on both peers, e.g. `#[peer(ties({To} = Single))]` on `{Self}` (or `Optional`, `Multiple`) and a tie back to `{Self}` on `{To}`"
)]
pub trait Tie<To: Peer>: Peer {
    /// `Single`, `Optional` or `Multiple`.
    type Multiplicity: TieMultiplicity;
}

/// A named tie of peer `From`, generated from `#[peer(ties(next: Node = Single))]`: the
/// `next` in `ctx.remote(item).over(next)` and `ctx.tie(next)`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a tie of `{From}`",
    label = "not one of the named ties of `{From}`",
    note = "`.over(..)` and `ctx.tie(..)` take a tie declared with a name in the ties of the peer the code runs on, e.g. `#[peer(ties(next: Node = Single))]`"
)]
pub trait NamedTie<From: Peer>: Copy + Send + Sync + 'static {
    /// The peer kind the tie leads to.
    type To: Peer;
    /// `Single`, `Optional` or `Multiple`.
    type Multiplicity: TieMultiplicity;
    /// The tie's index among the ties of `From`.
    const INDEX: u16;
    /// The tie's name.
    const NAME: &'static str;
}

mod sealed {
    pub trait Sealed {}
}

/// The multiplicity of a tie, as a type: [`Single`], [`Optional`] or [`Multiple`].
pub trait TieMultiplicity: sealed::Sealed + Send + Sync + 'static {
    /// The same multiplicity as a value.
    const VALUE: Multiplicity;
    /// What reading the one remote yields for a value `T`: `T` over `Single`, `Option<T>` over
    /// `Optional`. (Defined for `Multiple` as well, so that a misuse of `as_local` over it is
    /// reported once, by [`AsLocal`], and not again for the result type.)
    type Out<T>;
    /// Wraps the answer of the one remote, or reports that there is none.
    #[doc(hidden)]
    fn wrap<T>(answer: Option<T>, missing: impl FnOnce() -> RemoteError) -> Result<Self::Out<T>, RemoteError>;
}

/// Exactly one remote: `as_local` yields the value itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Single;
/// Zero or one remote: `as_local` yields an `Option`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Optional;
/// Any number of remotes: access must aggregate (`from_all`) or select (`from`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Multiple;

/// Several named ties to the same peer kind (`prev: Node = Single, next: Node = Single`):
/// together any number of remotes. Access over all of them aggregates like `Multiple`; to read
/// the one remote of one tie, choose the tie with `.over(tie)` (reading without choosing is
/// reported by [`OneTie`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeveralTies;

impl sealed::Sealed for SeveralTies {}
impl TieMultiplicity for SeveralTies {
    const VALUE: Multiplicity = Multiplicity::Multiple;
    type Out<T> = T;
    fn wrap<T>(answer: Option<T>, missing: impl FnOnce() -> RemoteError) -> Result<T, RemoteError> {
        answer.ok_or_else(missing)
    }
}

impl sealed::Sealed for Single {}
impl sealed::Sealed for Optional {}
impl sealed::Sealed for Multiple {}
impl TieMultiplicity for Single {
    const VALUE: Multiplicity = Multiplicity::Single;
    type Out<T> = T;
    fn wrap<T>(answer: Option<T>, missing: impl FnOnce() -> RemoteError) -> Result<T, RemoteError> {
        answer.ok_or_else(missing)
    }
}
impl TieMultiplicity for Optional {
    const VALUE: Multiplicity = Multiplicity::Optional;
    type Out<T> = Option<T>;
    fn wrap<T>(answer: Option<T>, _missing: impl FnOnce() -> RemoteError) -> Result<Option<T>, RemoteError> {
        Ok(answer)
    }
}
impl TieMultiplicity for Multiple {
    const VALUE: Multiplicity = Multiplicity::Multiple;
    type Out<T> = T;
    fn wrap<T>(answer: Option<T>, missing: impl FnOnce() -> RemoteError) -> Result<T, RemoteError> {
        answer.ok_or_else(missing)
    }
}

/// Ties over which `as_local` is allowed: `Single` and `Optional`.
#[diagnostic::on_unimplemented(
    message = "`as_local` needs a Single or Optional tie, but `{From}` ties to `{To}` as `{Self}`",
    label = "`{From}` may be connected to many `{To}` remotes, so there is no one value to read",
    note = "aggregate explicitly with `.from_all()` (for events: `.from_all_seq()`), or pick one remote with `.from(&remote)`"
)]
pub trait AsLocal<From, To>: TieMultiplicity {}

impl<From, To> AsLocal<From, To> for Single {}
impl<From, To> AsLocal<From, To> for Optional {}
impl<From, To> AsLocal<From, To> for SeveralTies {}

/// Access that reads the one remote needs one tie: implemented by every multiplicity but
/// [`SeveralTies`], so that `as_local` over several named ties says to choose one.
#[diagnostic::on_unimplemented(
    message = "`{From}` has several named ties to `{To}`, so it cannot tell which `{To}` to reach",
    label = "which tie? `{From}` ties to `{To}` more than once",
    note = "choose the tie first, e.g. `ctx.remote(item).over(next).as_local()`; or reach every `{To}` on any of them with `.from_all()`"
)]
pub trait OneTie<From, To>: TieMultiplicity {}

impl<From, To> OneTie<From, To> for Single {}
impl<From, To> OneTie<From, To> for Optional {}
impl<From, To> OneTie<From, To> for Multiple {}

/// Ties over which `from_all` and `from_all_seq` are allowed: `Multiple`.
#[diagnostic::on_unimplemented(
    message = "`from_all` needs a Multiple tie, but `{From}` ties to `{To}` as `{Self}`",
    label = "`{From}` has at most one `{To}` remote",
    note = "read the one remote with `.as_local()`, or declare `{To} = Multiple` in the ties of `{From}`"
)]
pub trait Aggregate<From, To>: TieMultiplicity {}

impl<From, To> Aggregate<From, To> for Multiple {}
impl<From, To> Aggregate<From, To> for SeveralTies {}

/// A value that can travel between peers: serde-serializable, encoded with postcard.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot travel between peers",
    label = "placed items take and return values that are sent over the network",
    note = "values that cross peers are encoded with postcard: add `#[derive(serde::Serialize, serde::Deserialize)]` to `{Self}`, or send a type that has them"
)]
pub trait Transmit: Send + Sized + 'static {
    /// Encodes the value for the wire.
    #[doc(hidden)]
    fn __encode(&self) -> Result<Vec<u8>, postcard::Error>;
    /// Encodes the value into `buffer`, returning the used part.
    #[doc(hidden)]
    fn __encode_into<'b>(&self, buffer: &'b mut [u8]) -> Result<&'b mut [u8], postcard::Error>;
    /// Decodes a value from the wire.
    #[doc(hidden)]
    fn __decode(bytes: &[u8]) -> Result<Self, postcard::Error>;
    /// Appends the encoded value to `out` (values written one after the other read back as a
    /// tuple of them).
    #[doc(hidden)]
    fn __append(&self, out: &mut Vec<u8>) -> Result<(), postcard::Error>;
    /// Decodes a value from the front of `bytes`, returning the rest.
    #[doc(hidden)]
    fn __take(bytes: &[u8]) -> Result<(Self, &[u8]), postcard::Error>;
}

// Transmit deliberately has no serde supertraits: with them, a missing derive is reported as
// the serde bound; without them, `do_not_recommend` reports it as "`T` cannot travel".
#[diagnostic::do_not_recommend]
impl<T: Serialize + DeserializeOwned + Send + 'static> Transmit for T {
    fn __encode(&self) -> Result<Vec<u8>, postcard::Error> {
        postcard::to_allocvec(self)
    }

    fn __encode_into<'b>(&self, buffer: &'b mut [u8]) -> Result<&'b mut [u8], postcard::Error> {
        postcard::to_slice(self, buffer)
    }

    fn __decode(bytes: &[u8]) -> Result<Self, postcard::Error> {
        postcard::from_bytes(bytes)
    }

    fn __append(&self, out: &mut Vec<u8>) -> Result<(), postcard::Error> {
        postcard::to_extend(self, std::mem::take(out)).map(|extended| *out = extended)
    }

    fn __take(bytes: &[u8]) -> Result<(Self, &[u8]), postcard::Error> {
        postcard::take_from_bytes(bytes)
    }
}

/// The captures of a remote block or a spore, encoded one after the other as they are given.
///
/// It is what a block's lifted function takes as its arguments: its bytes go on the wire as
/// they are, and the serving side takes each capture back as its own type. Each capture's type
/// is checked on its own ([`Capture`]), so one that cannot travel is reported at that capture.
#[doc(hidden)]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    bytes: Vec<u8>,
    /// Why a capture could not be encoded, if one could not.
    failed: Option<String>,
}

impl Captured {
    /// No captures yet.
    pub fn new() -> Self {
        Captured::default()
    }

    /// Appends the value of capture `N` of `M` (a block's or a spore's marker). Typed through
    /// [`Capture`], whose impl is the one place a capture that cannot travel is reported.
    pub fn with<M: Capture<N>, const N: usize>(mut self, value: &M::Type) -> Self {
        if self.failed.is_none() {
            if let Err(error) = value.__append(&mut self.bytes) {
                self.failed = Some(error.to_string());
            }
        }
        self
    }

    /// The encoded captures, or why one could not be encoded.
    pub fn into_bytes(self) -> Result<Vec<u8>, String> {
        match self.failed {
            Some(error) => Err(error),
            None => Ok(self.bytes),
        }
    }
}

// The bytes are the payload itself: no length in front, no second encoding. (`Captured` has no
// serde impls, so this does not overlap the blanket impl.)
impl Transmit for Captured {
    fn __encode(&self) -> Result<Vec<u8>, postcard::Error> {
        match &self.failed {
            Some(_) => Err(postcard::Error::SerdeSerCustom),
            None => Ok(self.bytes.clone()),
        }
    }

    fn __encode_into<'b>(&self, buffer: &'b mut [u8]) -> Result<&'b mut [u8], postcard::Error> {
        let used = buffer.get_mut(..self.bytes.len()).ok_or(postcard::Error::SerializeBufferFull)?;
        used.copy_from_slice(&self.bytes);
        Ok(used)
    }

    fn __decode(bytes: &[u8]) -> Result<Self, postcard::Error> {
        Ok(Captured { bytes: bytes.to_vec(), failed: None })
    }

    fn __append(&self, out: &mut Vec<u8>) -> Result<(), postcard::Error> {
        out.extend_from_slice(&self.bytes);
        Ok(())
    }

    fn __take(bytes: &[u8]) -> Result<(Self, &[u8]), postcard::Error> {
        Ok((Captured { bytes: bytes.to_vec(), failed: None }, &[]))
    }
}

impl std::ops::Deref for Captured {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

/// The type of capture `N` of a remote block or a spore (generated per capture).
#[doc(hidden)]
pub trait Capture<const N: usize> {
    /// The captured value's type.
    type Type: Transmit;
}

/// Decodes capture `N` of `M` from the front of `bytes` and moves `bytes` past it.
#[doc(hidden)]
pub fn take<M: Capture<N>, const N: usize>(bytes: &mut &[u8]) -> Result<M::Type, postcard::Error> {
    take_value::<M::Type>(bytes)
}

fn take_value<T: Transmit>(bytes: &mut &[u8]) -> Result<T, postcard::Error> {
    let (value, rest) = T::__take(bytes)?;
    *bytes = rest;
    Ok(value)
}

/// Decodes the input of spore `M`.
#[doc(hidden)]
pub fn take_input<M: SporeFn>(bytes: &[u8]) -> Result<M::Input, postcard::Error> {
    M::Input::__decode(bytes)
}

/// Encodes the output of spore `M`.
#[doc(hidden)]
pub fn encode_output<M: SporeFn>(value: &M::Output) -> Result<Vec<u8>, postcard::Error> {
    value.__encode()
}

/// Kind marker of placed events (values created once per instance).
#[derive(Debug, Clone, Copy)]
pub struct EventKind;
/// Kind marker of placed signals (values created once per instance that change).
#[derive(Debug, Clone, Copy)]
pub struct SignalKind;
/// Kind marker of placed functions (run once per access) and placed data values (`#[once]`,
/// read remotely like a function without arguments).
#[derive(Debug, Clone, Copy)]
pub struct FunctionKind;
/// Kind marker of local state (`Local<T>`): it has no remote access at all.
#[derive(Debug, Clone, Copy)]
pub struct LocalKind;

/// A placed item: generated as a unit struct named like the item, used as its handle.
pub trait Placed: Copy + Send + Sync + 'static {
    /// The peer the item is placed on.
    type Peer: Peer;
    /// [`EventKind`] or [`FunctionKind`].
    type Kind;
    /// The item's wire id (its index in [`ModuleSpec::items`]).
    const ID: ItemId;
    /// The item's name.
    const NAME: &'static str;
}

/// A placed `Event<Item>`: created once when the instance starts, observable remotely.
pub trait PlacedEvent: Placed<Kind = EventKind> {
    /// The type of one occurrence.
    type Item: Transmit + Sync;

    /// Forwards every occurrence of `event` to `sink`, encoded with postcard.
    #[doc(hidden)]
    fn __forward(event: &Event<Self::Item>, sink: EventSink) -> Observation {
        event.observe(move |value| {
            // Small occurrences are encoded on the stack: no allocation per occurrence.
            let mut stack = [0u8; 128];
            let encoded = match value.__encode_into(&mut stack) {
                Ok(encoded) => {
                    sink(encoded);
                    Ok(())
                }
                Err(postcard::Error::SerializeBufferFull) => value.__encode().map(|bytes| sink(&bytes)),
                Err(error) => Err(error),
            };
            if let Err(error) = encoded {
                tracing::warn!(%error, "dropped an event occurrence that could not be encoded");
            }
        })
    }
}

/// What `ctx.local(item)` gives on the item's own peer `P` (generated per item): the
/// instance's value of a placed value, or a [`LocalCall`](crate::LocalCall) of a function.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no local form on `{P}`",
    label = "placed on another peer, or computed per requesting remote",
    note = "`ctx.local` reads values and calls functions placed on the peer the code runs on; reach other peers' items with `ctx.remote(..)`"
)]
pub trait LocalAccess<P: Peer>: Placed {
    /// `Event<T>`, `Signal<T>`, `Var<T>`, `Local<T>`, `Arc<T>` for a `#[once]` value, or
    /// `LocalCall` for a function.
    type Local;
    /// Reads the item on this instance.
    fn __local(here: &Here<P>) -> Self::Local;
}

/// A placed function called on its own peer, without the network (generated per function).
#[doc(hidden)]
pub trait CallLocal<P: Peer>: PlacedFunction {
    /// Runs the body with `args`.
    fn __call(here: &Here<P>, args: Self::Args) -> BoxFuture<'static, Self::Output>;
}

/// Local state written without a body (`fn mode() -> Local<Mode>;`): its value is supplied
/// to the builder with [`Builder::supply`](crate::Builder::supply) when the instance starts.
pub trait Supplied: Placed<Kind = LocalKind> {
    /// The supplied value's type.
    type Item: Send + Sync + 'static;
}

/// A placed `Signal<Item>` or `Var<Item>`: created once when the instance starts; remotes
/// read its current value and follow its changes.
pub trait PlacedSignal: Placed<Kind = SignalKind> {
    /// The signal's value type.
    type Item: Transmit + Clone + PartialEq + Sync;

    /// Sends the current value to `sink`, then every new value, encoded with postcard.
    #[doc(hidden)]
    fn __forward(signal: &Signal<Self::Item>, sink: EventSink) -> Observation {
        let send = move |value: &Self::Item| match value.__encode() {
            Ok(bytes) => sink(&bytes),
            Err(error) => tracing::warn!(%error, "dropped a signal value that could not be encoded"),
        };
        send(&signal.get());
        signal.observe(send)
    }
}

/// A placed function: every access runs it on the remote with the given arguments.
pub trait PlacedFunction: Placed<Kind = FunctionKind> {
    /// The arguments: `()` for none, the type itself for one, a tuple for several.
    type Args: Transmit;
    /// What the function returns.
    type Output: Transmit;

    /// Decodes the arguments of an incoming call.
    #[doc(hidden)]
    fn __decode_args(args: &Bytes) -> Result<Self::Args, Failure> {
        Self::Args::__decode(args).map_err(|error| Failure::BadArguments(error.to_string()))
    }

    /// Encodes the result of a call.
    #[doc(hidden)]
    fn __encode_output(output: &Self::Output) -> Result<Vec<u8>, Failure> {
        output.__encode().map_err(|error| Failure::Unencodable(error.to_string()))
    }
}

/// Items reachable from peer `P`: those placed on a peer `P` is tied to (generated per item).
/// Local state is reachable from nowhere; an item that takes the requesting `&Remote<Q>` only
/// from `Q`.
///
/// Resolving the tie through the item, not through `P`, keeps a missing tie reported as such
/// (`P` has no tie to ..) even when `P` has a single tie.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be reached remotely from `{P}`",
    label = "local state, or an item that only the peer of its requester parameter may reach",
    note = "`Local<T>` items never leave their instance; an item taking `requester: &Remote<Q>` is reached only from `Q`"
)]
pub trait Reach<P: Peer>: Placed {
    /// The multiplicity of the tie from `P` to the item's peer.
    type Multiplicity: TieMultiplicity;
}

/// Implemented by items placed on `P`, so that `ctx.local(item)` only accepts those.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not placed on `{P}`, so `{P}` cannot read it locally",
    label = "placed on another peer",
    note = "reach it through a tie with `ctx.remote({Self})`, or place it on `{P}` with `#[on(..)]`"
)]
pub trait PlacedOn<P: Peer>: Placed {}
