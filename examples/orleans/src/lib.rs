//! Orleans-style grains and silos (after the `ds-orleans` design) as a loci multitier program.
//!
//! Grains are single-threaded units of state addressed by id. Slave silos hold them and deliver
//! their messages, one at a time per grain; a master silo keeps the index of which grain is on
//! which slave and places new ones on the least-loaded slave (fewest grains placed, then the
//! message rate slaves report with their heartbeats). Clients create grains, `tell` them (one way) and `ask` them (with an
//! answer). A grain's state is saved to an embedded database (SQLite) after every message that
//! changes it; a grain idle for a while is deactivated, and activated again from storage at its
//! next message, on the silo the master picks, which is also what happens to the grains of a
//! slave silo that is lost. See `docs/orleans.md`.

pub mod cluster;
pub mod directory;
pub mod grain;
pub mod grains;
mod program;
pub mod routing;
pub mod scenarios;
pub mod silo;
pub mod storage;

pub use grain::{Grain, GrainAddress, GrainContext, GrainError, GrainRef, Kinds};
pub use program::orleans;
pub use routing::{create, Caller};
pub use silo::{Load, Silo};
pub use storage::{InMemory, Sqlite, Storage, StorageError};

/// The grain kinds of the demo and the tests.
pub fn demo_kinds() -> Kinds {
    Kinds::new().register::<grains::Greeter>().register::<grains::Counter>().register::<grains::Sleeper>()
}

/// The guide's page on Orleans; its Rust blocks are compiled as doctests.
#[doc = include_str!("../../../docs/orleans.md")]
#[cfg(doctest)]
pub struct Guide;
