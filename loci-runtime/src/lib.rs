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

mod block;
mod cli;
mod connection;
mod core;
pub mod credentials;
mod error;
mod here;
mod inbound;
mod instance;
#[cfg(unix)]
pub mod launch;
mod local;
mod outbound;
mod placement;
mod reactive;
mod reconnect;
mod reload;
mod remote;
mod remotes;
mod running;
pub mod spec;
mod spore;
#[cfg(feature = "testing")]
pub mod testing;
mod transport;
pub mod wire;

pub use block::{Block, Bound};
pub use cli::{run, run_configured, run_with, InstanceArgs};
pub use connection::dropped_occurrences;
pub use core::Reconnect;
pub use error::{Error, RemoteError, Result};
pub use here::{Access, All, Answer, Each, Here, LocalCall, PerRemote, PerRemoteEvents, PerRemoteValues, Selected};
pub use instance::{Builder, Instance};
pub use local::Local;
pub use loci_macros::multitier;
pub use placement::{
    Aggregate, AsLocal, EventKind, FunctionKind, LocalKind, Module, Multiple, NamedTie, OneTie, Optional, Peer, Placed,
    PlacedEvent, PlacedFunction, PlacedOn, PlacedSignal, SeveralTies, SignalKind, Single, Supplied, Tie,
    TieMultiplicity, Transmit,
};
pub use reactive::{Event, Observation, Signal, Var};
pub use remote::{Remote, Traffic};
pub use remotes::Remotes;
pub use running::Running;
pub use spore::{Anywhere, RunsOn, Spore, SporeError, UntypedSpore};
pub use transport::Security;

/// A remote block: code written inline that runs on a remote of another peer, with the values
/// it captures copied there.
///
/// ```text
/// remote!(ctx, capture(a, b), |remote_ctx: &Here<Peer>| -> Result { .. })
/// ```
///
/// `#[multitier]` lifts every `remote!` in the module's code into a function of `Peer`; see
/// the remote-block guide in `docs/`. Anywhere else, `remote!` is a compile error.
#[macro_export]
macro_rules! remote {
    ($($tokens:tt)*) => {
        ::core::compile_error!("`remote!` blocks are lifted by `#[loci::multitier]`: write them in code placed with `#[on(Peer)]` inside the multitier module")
    };
}

/// A spore: a function value that can travel, `spore!(capture(a), |input: In| -> Out { .. })`.
///
/// `#[multitier]` lifts every `spore!` in the module's code into a function of the module and
/// turns it into a [`Spore`] value. Anywhere else, `spore!` is a compile error.
#[macro_export]
macro_rules! spore {
    ($($tokens:tt)*) => {
        ::core::compile_error!(
            "`spore!` is lifted by `#[loci::multitier]`: write it in code inside the multitier module"
        )
    };
}

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
    #[doc = include_str!("../../docs/reference/remote-blocks.md")]
    struct RemoteBlocks;
    #[doc = include_str!("../../docs/spores.md")]
    struct Spores;
    #[doc = include_str!("../../docs/flink-gateway.md")]
    struct FlinkGateway;
    #[doc = include_str!("../../docs/reference/topology.md")]
    struct Topology;
    #[doc = include_str!("../../docs/reference/instances.md")]
    struct Instances;
    #[doc = include_str!("../../docs/reference/limits.md")]
    struct Limits;
    #[doc = include_str!("../../docs/reactives.md")]
    struct Reactives;
    #[doc = include_str!("../../docs/subjective-values.md")]
    struct SubjectiveValues;
}

/// The guide's page on `loci::testing`, compiled and run when the feature is on.
#[cfg(all(doctest, feature = "testing"))]
#[doc = include_str!("../../docs/testing.md")]
struct TestingGuide;

/// Items the generated code refers to. Not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::placement::{
        encode_output, pin_event, serve_subjective, serve_subjective_signal, take, take_input, BoxFuture, CallLocal,
        Capture, Captured, EventSink, LocalAccess, Reach, Requester, SporeFailure, SporeFn,
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
