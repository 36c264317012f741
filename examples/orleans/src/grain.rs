//! Grains: what users write (a type with a message handler), references to them, and how a
//! silo runs grains of many kinds behind one interface.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A grain: a single-threaded unit of state and behaviour, addressed by id. Its state is the
/// value itself (saved with serde after every message that changes it); a new grain starts as
/// `Default`.
///
/// ```
/// use orleans::{Grain, GrainContext};
/// use serde::{Deserialize, Serialize};
///
/// /// Counts what it is told to add.
/// #[derive(Default, Serialize, Deserialize)]
/// struct Tally {
///     total: u64,
/// }
///
/// impl Grain for Tally {
///     const KIND: &'static str = "tally";
///     type Message = u64;
///     type Reply = u64;
///
///     async fn receive(&mut self, add: u64, _ctx: &GrainContext) -> u64 {
///         self.total += add;
///         self.total
///     }
/// }
/// ```
pub trait Grain: Default + Serialize + DeserializeOwned + Send + 'static {
    /// The kind's name: silos run the kinds registered with them, and storage keys state by it.
    const KIND: &'static str;
    /// What it is sent.
    type Message: Serialize + DeserializeOwned + Send + 'static;
    /// What it answers (to `ask`; a `tell`'s answer is dropped).
    type Reply: Serialize + DeserializeOwned + Send + 'static;

    /// Handles one message. A grain handles one message at a time: the next one waits until
    /// this future is done, so `&mut self` is never shared.
    fn receive(&mut self, message: Self::Message, ctx: &GrainContext) -> impl Future<Output = Self::Reply> + Send;
}

/// What a grain knows about the message it handles.
#[derive(Clone)]
pub struct GrainContext {
    /// Its own id.
    pub id: String,
    /// The name of the peer that sent the message (a client, or the silo of a grain that sent it).
    pub sender: String,
    /// The silo it runs on: to send messages to other grains (`GrainRef::ask(&ctx.silo, ..)`).
    pub silo: loci::Here<crate::program::orleans::Slave>,
}

/// A reference to grain `id` of kind `G`: any peer can hold it, send it to another peer and
/// use it (`tell`, `ask`); the silo it is on is found through the master.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct GrainRef<G> {
    id: String,
    #[serde(skip)]
    _kind: PhantomData<fn() -> G>,
}

impl<G> Clone for GrainRef<G> {
    fn clone(&self) -> Self {
        GrainRef { id: self.id.clone(), _kind: PhantomData }
    }
}

impl<G> PartialEq for GrainRef<G> {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl<G> Eq for GrainRef<G> {}

impl<G: Grain> fmt::Debug for GrainRef<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", G::KIND, self.id)
    }
}

impl<G: Grain> GrainRef<G> {
    /// The grain of kind `G` named `id`: a well-known grain, placed where the master picks when
    /// it is first sent something, and activated from storage if it was saved before.
    pub fn named(id: impl Into<String>) -> Self {
        GrainRef { id: id.into(), _kind: PhantomData }
    }

    /// Its id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Where the runtime finds it: its kind and id.
    pub fn address(&self) -> GrainAddress {
        GrainAddress { kind: G::KIND.to_owned(), id: self.id.clone() }
    }
}

/// A grain's kind and id, untyped: what travels with a message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GrainAddress {
    /// Its kind.
    pub kind: String,
    /// Its id.
    pub id: String,
}

impl fmt::Display for GrainAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.id)
    }
}

/// Why a message did not reach its grain or got no answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum GrainError {
    /// No silo runs grains of this kind.
    #[error("no silo runs grains of kind `{0}`")]
    UnknownKind(String),
    /// Its message or answer could not be encoded or decoded.
    #[error("grain {grain}: {detail}")]
    Codec {
        /// The grain.
        grain: String,
        /// What went wrong.
        detail: String,
    },
    /// Its state could not be loaded or saved.
    #[error("grain {grain}: {detail}")]
    Storage {
        /// The grain.
        grain: String,
        /// What went wrong.
        detail: String,
    },
    /// No silo is there to run it.
    #[error("no slave silo is connected to place grain {0} on")]
    NoSilos(String),
    /// The silos it was sent to were lost, again and again.
    #[error("grain {grain}: gave up after {attempts} attempts ({last})")]
    Unreachable {
        /// The grain.
        grain: String,
        /// How many attempts.
        attempts: usize,
        /// The last failure.
        last: String,
    },
    /// A call to a peer failed (a timeout, a closed connection).
    #[error("{0}")]
    Remote(String),
}

/// A future that handles one message, giving the encoded answer.
pub type Handling<'a> = Pin<Box<dyn Future<Output = Result<Vec<u8>, GrainError>> + Send + 'a>>;

/// A grain of some kind, active on a silo: handles encoded messages, gives its encoded state.
pub trait Activation: Send {
    /// Handles one encoded message.
    fn handle<'a>(&'a mut self, message: &'a [u8], ctx: &'a GrainContext) -> Handling<'a>;
    /// Its state, encoded.
    fn state(&self, id: &str) -> Result<Vec<u8>, GrainError>;
}

impl<G: Grain> Activation for G {
    fn handle<'a>(&'a mut self, message: &'a [u8], ctx: &'a GrainContext) -> Handling<'a> {
        Box::pin(async move {
            let codec = |detail: postcard::Error| GrainError::Codec {
                grain: format!("{}/{}", G::KIND, ctx.id),
                detail: detail.to_string(),
            };
            let message: G::Message = postcard::from_bytes(message).map_err(codec)?;
            let reply = self.receive(message, ctx).await;
            postcard::to_allocvec(&reply).map_err(codec)
        })
    }

    fn state(&self, id: &str) -> Result<Vec<u8>, GrainError> {
        postcard::to_allocvec(self)
            .map_err(|error| GrainError::Codec { grain: format!("{}/{id}", G::KIND), detail: error.to_string() })
    }
}

/// Makes an activation of one kind, fresh or from saved state.
type Activate = dyn Fn(Option<&[u8]>) -> Result<Box<dyn Activation>, postcard::Error> + Send + Sync;

/// The grain kinds a silo runs.
#[derive(Clone, Default)]
pub struct Kinds {
    kinds: HashMap<&'static str, Arc<Activate>>,
}

impl Kinds {
    /// No kinds yet.
    pub fn new() -> Self {
        Kinds::default()
    }

    /// Adds kind `G`.
    pub fn register<G: Grain>(mut self) -> Self {
        let activate = |state: Option<&[u8]>| -> Result<Box<dyn Activation>, postcard::Error> {
            let grain: G = match state {
                Some(state) => postcard::from_bytes(state)?,
                None => G::default(),
            };
            Ok(Box::new(grain))
        };
        self.kinds.insert(G::KIND, Arc::new(activate));
        self
    }

    /// Whether kind `kind` is registered.
    pub fn knows(&self, kind: &str) -> bool {
        self.kinds.contains_key(kind)
    }

    /// An activation of `address`, from its saved `state` or fresh.
    pub fn activate(&self, address: &GrainAddress, state: Option<&[u8]>) -> Result<Box<dyn Activation>, GrainError> {
        let activate =
            self.kinds.get(address.kind.as_str()).ok_or_else(|| GrainError::UnknownKind(address.kind.clone()))?;
        activate(state).map_err(|error| GrainError::Codec { grain: address.to_string(), detail: error.to_string() })
    }
}
