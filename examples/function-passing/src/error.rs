//! Why a silo could not be had.

use serde::{Deserialize, Serialize};

use crate::lineage::{SiloId, MAX_NESTING};

/// Why a silo could not be had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum FpError {
    /// A worker that hosts a silo of the DAG cannot be reached.
    #[error("worker {name} (instance {instance:x}) cannot be reached: {reason}")]
    HostLost {
        /// Its name.
        name: String,
        /// Its instance id.
        instance: u64,
        /// Why.
        reason: String,
    },
    /// A populated silo is not at its host (the host restarted, or took over a lost worker's
    /// silos before its values were given again).
    #[error("populated silo {silo} is not on worker instance {host:x}")]
    Missing {
        /// The silo.
        silo: SiloId,
        /// Its host's instance id.
        host: u64,
    },
    /// A spore could not be applied.
    #[error("spore of {label}: {reason}")]
    Spore {
        /// The silo it derives.
        label: String,
        /// What went wrong.
        reason: String,
    },
    /// A text file could not be read.
    #[error("text file {path}: {reason}")]
    TextFile {
        /// Its path.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// Nested spores' results nested deeper than [`MAX_NESTING`].
    #[error("spores' results nest deeper than {MAX_NESTING} at {label}")]
    TooDeep {
        /// The silo whose spore's result was to be evaluated.
        label: String,
    },
    /// A worker holds as many bytes of silos as it may.
    #[error("worker {worker} holds {held} bytes of silos and may hold {limit}: {silo} ({bytes} bytes) does not fit")]
    Full {
        /// The worker.
        worker: String,
        /// The silo refused.
        silo: SiloId,
        /// Its bytes.
        bytes: usize,
        /// What the worker holds.
        held: usize,
        /// What it may hold.
        limit: usize,
    },
    /// A value could not be encoded or decoded.
    #[error("{0}")]
    Codec(String),
    /// A remote call failed for a reason other than a lost worker.
    #[error("{0}")]
    Remote(String),
    /// A send tried again as often as it may (workers lost, values missing) and gave up.
    #[error("gave up on {label} after {attempts} attempts")]
    GaveUp {
        /// The silo sent for.
        label: String,
        /// How many attempts.
        attempts: usize,
    },
    /// No live worker is left to rebuild lost silos on.
    #[error("no live worker is left to rebuild the silos of {0} on")]
    NoWorkers(String),
}
