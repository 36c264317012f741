//! # loci: multitier programming for Rust
//!
//! One module, marked [`multitier`], describes a whole distributed system: its kinds of
//! peers, how they are tied, which values and functions live on which peer, and how peers
//! reach each other's values. The compiler checks the architecture, the macro generates the
//! networking, and each peer becomes its own executable. Peers talk over QUIC with mutual TLS;
//! values travel as postcard-encoded serde types.
//!
//! ```
//! #[loci::multitier]
//! pub mod chat {
//!     use loci::{Event, Here};
//!
//!     #[peer(ties(Node = Multiple))]
//!     pub struct Registry;
//!
//!     #[peer(ties(Registry = Single))]
//!     pub struct Node;
//!
//!     /// Lines typed on this node.
//!     #[on(Node)]
//!     pub fn message() -> Event<String> {
//!         Event::new()
//!     }
//!
//!     /// Every node's lines, as the registry relays them.
//!     #[on(Registry)]
//!     pub fn public_message(ctx: &Here<Registry>) -> Event<String> {
//!         ctx.remote(message).from_all_seq().map(|(from, line)| format!("{}: {line}", from.name()))
//!     }
//! }
//! ```
//!
//! See the guide in `docs/` for concepts, a tutorial and every compile error.

#![warn(missing_docs)]

mod cli;
mod connection;
mod core;
/// Creating and loading cluster credentials.
pub mod credentials;
mod error;
mod here;
mod instance;
mod placement;
mod reactive;
mod remote;
pub mod spec;
mod transport;
pub mod wire;

pub use cli::{run, InstanceArgs};
pub use error::{Error, RemoteError, Result};
pub use here::{Access, All, Here, PerRemote, Remotes, Selected};
pub use instance::{Builder, Instance, Running};
pub use loci_macros::multitier;
pub use placement::{
    Aggregate, AsLocal, EventKind, FunctionKind, Module, Multiple, Optional, Peer, Placed, PlacedEvent, PlacedFunction,
    PlacedOn, Single, Tie, TieMultiplicity, Transmit,
};
pub use reactive::{Event, Observation};
pub use remote::Remote;
pub use transport::Security;

/// Items the generated code refers to. Not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::placement::{forward_event, BoxFuture, EventSink};
    pub use crate::reactive::Observation;
    pub use crate::spec::{ItemKind, ItemSpec, ModuleSpec, Multiplicity, PeerSpec, TieSpec};
    pub use crate::wire::{Failure, ItemId};
    pub use bytes::Bytes;

    /// Decodes the arguments of a call.
    pub fn decode_args<T: serde::de::DeserializeOwned>(args: &Bytes) -> Result<T, Failure> {
        postcard::from_bytes(args).map_err(|error| Failure::BadArguments(error.to_string()))
    }

    /// Encodes the result of a call.
    pub fn encode_result<T: serde::Serialize>(result: &T) -> Result<Vec<u8>, Failure> {
        postcard::to_allocvec(result).map_err(|error| Failure::Unencodable(error.to_string()))
    }

    /// Compile-time check that a placed signature's type can travel; the span of the call
    /// is the user's type, so the error points there.
    pub const fn assert_transmit<T: crate::Transmit>() {}

    /// Converts what a peer's `main` returns into the instance's result.
    pub trait MainOutput {
        /// The conversion.
        fn into_result(self) -> crate::Result<()>;
    }

    impl MainOutput for () {
        fn into_result(self) -> crate::Result<()> {
            Ok(())
        }
    }

    impl<E: std::fmt::Display> MainOutput for Result<(), E> {
        fn into_result(self) -> crate::Result<()> {
            self.map_err(|error| crate::Error::Main(error.to_string()))
        }
    }
}
