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
mod local;
mod outbound;
mod placement;
mod reactive;
mod remote;
pub mod spec;
mod transport;
pub mod wire;

pub use cli::{run, run_configured, run_with, InstanceArgs};
pub use connection::dropped_occurrences;
pub use error::{Error, RemoteError, Result};
pub use here::{
    Access, All, Answer, Each, Here, LocalCall, PerRemote, PerRemoteEvents, PerRemoteValues, Remotes, Selected,
};
pub use instance::{Builder, Instance, Running};
pub use local::Local;
pub use loci_macros::multitier;
pub use placement::{
    Aggregate, AsLocal, EventKind, FunctionKind, LocalKind, Module, Multiple, Optional, Peer, Placed, PlacedEvent,
    PlacedFunction, PlacedOn, PlacedSignal, SignalKind, Single, Supplied, Tie, TieMultiplicity, Transmit,
};
pub use reactive::{Event, Observation, Signal, Var};
pub use remote::Remote;
pub use transport::Security;

/// The guide's code blocks, compiled as doctests so the documentation stays true.
#[cfg(doctest)]
mod guide {
    #[doc = include_str!("../../docs/concepts.md")]
    struct Concepts;
    #[doc = include_str!("../../docs/tutorial-chat.md")]
    struct TutorialChat;
    #[doc = include_str!("../../docs/reference/peers-and-ties.md")]
    struct PeersAndTies;
    #[doc = include_str!("../../docs/reference/placed-items.md")]
    struct PlacedItems;
    #[doc = include_str!("../../docs/reference/remote-access.md")]
    struct RemoteAccess;
    #[doc = include_str!("../../docs/reference/local-state.md")]
    struct LocalState;
    #[doc = include_str!("../../docs/reference/calls.md")]
    struct Calls;
    #[doc = include_str!("../../docs/scalaloci.md")]
    struct ComparedWithScalaLoci;
    #[doc = include_str!("../../docs/reference/topology.md")]
    struct Topology;
    #[doc = include_str!("../../docs/reference/instances.md")]
    struct Instances;
    #[doc = include_str!("../../docs/reactives.md")]
    struct Reactives;
    #[doc = include_str!("../../docs/subjective-values.md")]
    struct SubjectiveValues;
}

/// Items the generated code refers to. Not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::placement::{
        pin_event, serve_subjective, serve_subjective_signal, BoxFuture, CallLocal, EventSink, LocalAccess, Reach,
        Requester,
    };
    pub use crate::reactive::Observation;
    pub use crate::spec::{ItemKind, ItemSpec, ModuleSpec, Multiplicity, PeerSpec, TieSpec};
    pub use crate::wire::{Failure, ItemId};
    pub use bytes::Bytes;

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
