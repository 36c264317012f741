//! The Master's view of the cluster: Workers and their slots, applications and their AppMasters.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use loci::Remote;
use serde::{Deserialize, Serialize};

use crate::app::AppId;
use crate::program::gearpump::{AppMaster, Worker};

/// One Worker as the Master sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerView {
    /// Its name.
    pub name: String,
    /// Its slots.
    pub slots: u32,
    /// Slots in use (AppMasters and Executors).
    pub used: u32,
}

struct WorkerState {
    remote: Remote<Worker>,
    slots: u32,
    used: u32,
}

/// Workers, slots and applications.
#[derive(Default)]
pub struct Resources {
    state: Mutex<ResourcesState>,
}

#[derive(Default)]
struct ResourcesState {
    workers: BTreeMap<u64, WorkerState>,
    apps: BTreeMap<AppId, Remote<AppMaster>>,
    next_app: AppId,
}

impl Resources {
    fn state(&self) -> std::sync::MutexGuard<'_, ResourcesState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A Worker registered (again), with its slots, how many are in use, and the applications
    /// it runs processes of (a restarted Master numbers new applications after them).
    pub fn register_worker(&self, worker: &Remote<Worker>, slots: u32, used: u32, apps: &[AppId]) {
        let mut state = self.state();
        state.next_app = apps.iter().copied().fold(state.next_app, AppId::max);
        state.workers.insert(worker.instance(), WorkerState { remote: worker.clone(), slots, used });
    }

    /// Whether application `app` runs (it was not killed, and its AppMaster registered).
    pub fn app_runs(&self, app: AppId) -> bool {
        self.state().apps.contains_key(&app)
    }

    /// A Worker says how many of its slots are in use now.
    pub fn usage(&self, worker: &Remote<Worker>, used: u32) {
        if let Some(state) = self.state().workers.get_mut(&worker.instance()) {
            state.used = used;
        }
    }

    /// A Worker was lost: its slots go with it (unless it registered again meanwhile, on a
    /// new connection).
    pub fn worker_lost(&self, worker: &Remote<Worker>) -> bool {
        let mut state = self.state();
        let same_connection = state.workers.get(&worker.instance()).is_some_and(|w| w.remote.id() == worker.id());
        same_connection && state.workers.remove(&worker.instance()).is_some()
    }

    /// A number for a new application.
    pub fn new_app(&self) -> AppId {
        let mut state = self.state();
        state.next_app = state.next_app.saturating_add(1);
        state.next_app
    }

    /// Application `app`'s AppMaster registered (again, after a Master restart).
    pub fn register_app(&self, app: AppId, app_master: &Remote<AppMaster>) {
        let mut state = self.state();
        state.next_app = state.next_app.max(app);
        state.apps.insert(app, app_master.clone());
    }

    /// The application whose AppMaster is instance `instance`, if it is still the registered one.
    pub fn app_of(&self, instance: u64) -> Option<AppId> {
        self.state().apps.iter().find(|(_, am)| am.instance() == instance).map(|(app, _)| *app)
    }

    /// Application `app` ended.
    pub fn app_ended(&self, app: AppId) {
        self.state().apps.remove(&app);
    }

    /// Up to `slots` slots, from the Workers with the most free ones first: (worker, slots).
    /// They count as used from now on (the Worker's next report confirms them).
    pub fn allocate(&self, slots: u32) -> Vec<(Remote<Worker>, u32)> {
        let mut state = self.state();
        let mut allocation = Vec::new();
        let mut wanted = slots;
        while wanted > 0 {
            let most_free = state.workers.values_mut().filter(|w| w.used < w.slots).max_by_key(|w| w.slots - w.used);
            let Some(worker) = most_free else { break };
            worker.used += 1;
            wanted -= 1;
            match allocation.iter_mut().find(|(remote, _): &&mut (Remote<Worker>, u32)| *remote == worker.remote) {
                Some((_, count)) => *count += 1,
                None => allocation.push((worker.remote.clone(), 1)),
            }
        }
        allocation
    }

    /// Every Worker with its slots.
    pub fn view(&self) -> Vec<WorkerView> {
        self.state()
            .workers
            .values()
            .map(|w| WorkerView { name: w.remote.name().to_owned(), slots: w.slots, used: w.used })
            .collect()
    }

    /// Every connected Worker.
    pub fn workers(&self) -> Vec<Remote<Worker>> {
        self.state().workers.values().map(|w| w.remote.clone()).collect()
    }
}
