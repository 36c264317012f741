//! What a `send` did: the silos had on the way, on which workers and how, and which lost
//! workers' silos were rebuilt where. Its workers are what a result depends on.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::lineage::SiloId;

/// How a silo was had during one `send`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum How {
    /// It was in its host's memory.
    Held,
    /// Computed from its parent by its spore.
    Computed,
    /// Read from its text file.
    Read,
    /// Had (computed or read) but not kept, though it was to be: its worker holds all it may.
    /// It is had again from its lineage next time.
    NotKept,
}

/// One silo had during a `send`: which, where and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// The silo.
    pub silo: SiloId,
    /// Its name in the lineage.
    pub label: String,
    /// The worker that had it.
    pub worker: String,
    /// Its instance id.
    pub instance: u64,
    /// How.
    pub how: How,
}

/// What a `send` did, in the order it finished: the provenance of the result, including silos
/// reached through nested spores on other workers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace {
    /// Each silo had, in the order it was had.
    pub steps: Vec<Step>,
    /// Workers that were lost during the send, and the ones that took their silos over:
    /// (lost, replacement).
    pub rebuilt_on: Vec<(String, String)>,
}

impl Trace {
    /// The workers the result depends on (that had a silo of its DAG), by name, each once.
    pub fn workers(&self) -> Vec<String> {
        let mut names: Vec<String> = self.steps.iter().map(|step| step.worker.clone()).collect();
        names.sort();
        names.dedup();
        names
    }
}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (lost, replacement) in &self.rebuilt_on {
            writeln!(f, "{lost} was lost: its silos are rebuilt on {replacement}")?;
        }
        for step in &self.steps {
            let how = match step.how {
                How::Held => "held in memory",
                How::Computed => "computed by its spore",
                How::Read => "read from its file",
                How::NotKept => "had but not kept (the worker is full)",
            };
            writeln!(f, "  {} [{}] {how} on {}", step.label, step.silo, step.worker)?;
        }
        Ok(())
    }
}
