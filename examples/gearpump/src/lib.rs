//! A Gearpump cluster as a loci multitier program (after "Deep into Apache Gearpump" and slide
//! 15 of the ScalaLoci slides): a MasterProxy, a Master and Workers with the slide's ties;
//! AppMasters and Executors, started by Workers as child processes; and a streaming word count
//! whose tasks send data to each other directly. See `docs/gearpump.md`.

pub mod app;
pub mod appmaster;
mod appmaster_calls;
pub mod client;
pub mod cluster;
mod program;
pub mod resources;
pub mod spawner;
pub mod tasks;
mod worker;

pub use program::gearpump;

/// The guide's page on Gearpump; its Rust blocks are compiled as doctests.
#[doc = include_str!("../../../docs/gearpump.md")]
#[cfg(doctest)]
pub struct Guide;
