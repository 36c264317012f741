//! The master silo's index: which grain is active on which slave silo, and where a grain that
//! is not active goes (the least-loaded silo).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use loci::Remote;
use serde::{Deserialize, Serialize};

use crate::grain::{GrainAddress, GrainError};
use crate::program::orleans::Slave;
use crate::silo::Load;

/// Where an active grain is, numbered: a silo's report that it deactivated the grain counts only
/// for the activation it was about.
struct Placement {
    silo: Remote<Slave>,
    epoch: u64,
}

/// The answer to a silo that got a message for a grain it does not have active.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Claim {
    /// Activate it here, as activation `epoch`.
    Here(u64),
    /// It is active on (or placed on) this other silo: forward the message there.
    Elsewhere(Remote<Slave>),
}

/// One slave silo as the master sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiloView {
    /// Its name.
    pub name: String,
    /// Grains the index places on it.
    pub placed: usize,
    /// Grains it reported active with its last heartbeat.
    pub active: usize,
    /// Messages per second it reported.
    pub rate: f64,
}

/// The index of active grains.
#[derive(Default)]
pub struct Directory {
    state: Mutex<DirectoryState>,
}

#[derive(Default)]
struct DirectoryState {
    index: HashMap<GrainAddress, Placement>,
    /// Activations numbered so far.
    epochs: u64,
    /// Grains created so far, for fresh ids.
    created: u64,
}

impl Directory {
    fn state(&self) -> std::sync::MutexGuard<'_, DirectoryState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A fresh grain id.
    pub fn new_id(&self, master: u64) -> String {
        let mut state = self.state();
        state.created += 1;
        format!("{master:x}-{}", state.created)
    }

    /// The silo grain `to` is on; if none (new, passive, or its silo was lost), the least loaded
    /// of `silos`, recorded as its place.
    pub fn place(&self, to: &GrainAddress, silos: &[(Remote<Slave>, Load)]) -> Result<Remote<Slave>, GrainError> {
        let mut state = self.state();
        if let Some(placement) = state.index.get(to) {
            return Ok(placement.silo.clone());
        }
        let silo = least_loaded(&state, silos).ok_or_else(|| GrainError::NoSilos(to.to_string()))?;
        state.epochs += 1;
        let epoch = state.epochs;
        state.index.insert(to.clone(), Placement { silo: silo.clone(), epoch });
        Ok(silo)
    }

    /// What silo `caller` does with a message for grain `to`, which it does not have active:
    /// activate it, if the index places it there or nowhere yet (then on the least loaded of
    /// `silos`, which may be another), or forward it.
    pub fn claim(
        &self,
        caller: &Remote<Slave>,
        to: &GrainAddress,
        silos: &[(Remote<Slave>, Load)],
    ) -> Result<Claim, GrainError> {
        let mut state = self.state();
        let placed = state.index.get(to).map(|placement| placement.silo.clone());
        let silo = match placed {
            Some(silo) => silo,
            None => least_loaded(&state, silos).ok_or_else(|| GrainError::NoSilos(to.to_string()))?,
        };
        if silo != *caller {
            state.index.entry(to.clone()).or_insert_with(|| Placement { silo: silo.clone(), epoch: 0 });
            return Ok(Claim::Elsewhere(silo));
        }
        // A new activation on the caller: numbered anew.
        state.epochs += 1;
        let epoch = state.epochs;
        state.index.insert(to.clone(), Placement { silo, epoch });
        Ok(Claim::Here(epoch))
    }

    /// Silo `silo` deactivated these grains: they are passive unless activated again since.
    pub fn passive(&self, silo: u64, grains: &[(GrainAddress, u64)]) {
        let mut state = self.state();
        for (grain, epoch) in grains {
            if state.index.get(grain).is_some_and(|p| p.silo.instance() == silo && p.epoch == *epoch) {
                state.index.remove(grain);
            }
        }
    }

    /// Silo `silo` was lost: its grains are passive (activated again elsewhere, from their last
    /// saved state, at their next message). How many there were.
    pub fn silo_lost(&self, silo: u64) -> usize {
        let mut state = self.state();
        let before = state.index.len();
        state.index.retain(|_, placement| placement.silo.instance() != silo);
        before - state.index.len()
    }

    /// Each silo as the master sees it.
    pub fn view(&self, silos: &[(Remote<Slave>, Load)]) -> Vec<SiloView> {
        let state = self.state();
        let mut views: Vec<SiloView> = silos
            .iter()
            .map(|(silo, load)| SiloView {
                name: silo.name().to_owned(),
                placed: placed_on(&state, silo),
                active: load.active,
                rate: load.rate,
            })
            .collect();
        views.sort_by(|a, b| a.name.cmp(&b.name));
        views
    }
}

fn placed_on(state: &DirectoryState, silo: &Remote<Slave>) -> usize {
    state.index.values().filter(|placement| placement.silo == *silo).count()
}

/// The silo with the fewest grains placed on it, then the lowest recent message rate, then the
/// first by name.
fn least_loaded(state: &DirectoryState, silos: &[(Remote<Slave>, Load)]) -> Option<Remote<Slave>> {
    silos
        .iter()
        .min_by(|(a, a_load), (b, b_load)| {
            placed_on(state, a)
                .cmp(&placed_on(state, b))
                .then(a_load.rate.total_cmp(&b_load.rate))
                .then_with(|| a.name().cmp(b.name()))
        })
        .map(|(silo, _)| silo.clone())
}
