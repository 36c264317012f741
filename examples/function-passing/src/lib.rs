//! Function passing with lineages (Haller, Miller, Müller) as a loci multitier program.
//!
//! Data stays put in typed, immutable **silos** on workers. The master holds **SiloRefs** and
//! sends **spores** (loci's transmittable functions) to the data. A SiloRef is a **lineage**:
//! the DAG of operations that derives its silo, so a silo lost with its worker is rebuilt from
//! its lineage on a live one. The same lineage tells which workers a result depends on, which
//! [`ldfi`] uses to choose the faults to inject. See `docs/function-passing.md`.

pub mod cluster;
mod error;
mod eval;
pub mod ldfi;
pub mod lineage;
pub mod master;
pub mod people;
mod program;
pub mod scenarios;
pub mod spark;
pub mod trace;

pub use error::FpError;
pub use eval::{SiloStore, DEFAULT_SILO_BYTES, MAX_TEXT_FILE_BYTES};
pub use lineage::{Lineage, SiloId, SiloRef};
pub use program::fp;
pub use trace::{How, Step, Trace};

/// The guide's page on function passing; its Rust blocks are compiled as doctests.
#[doc = include_str!("../../../docs/function-passing.md")]
#[cfg(doctest)]
pub struct Guide;
