//! Reactives: `Event<T>` (discrete occurrences) and `Signal<T>` / `Var<T>` (values that change).
//!
//! Signals propagate in *turns*: setting a `Var` updates every signal that depends on it, in
//! order of their depth in the dependency graph, each exactly once, before any observer runs.
//! No observer ever sees a mix of old and new values from one change (glitch freedom).
//! Events fire between turns: an occurrence that updates a signal (`fold`, `toggle`, ...)
//! starts a turn of its own.

pub(crate) mod backlog;
mod event;
mod signal;

pub use event::{Event, Observation};
pub(crate) use signal::WeakVar;
pub use signal::{Signal, Var};
