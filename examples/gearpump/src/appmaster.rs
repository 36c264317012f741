//! An AppMaster's bookkeeping: its Executors (launched, registered, lost), which task runs on
//! which, and whether the source must replay.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use loci::Remote;
use tokio::sync::Notify;

use crate::app::{ExecutorId, Kind, TaskId, TaskSpec};
use crate::program::gearpump::Executor;

/// How long a launched Executor has to register before it is launched elsewhere.
const REGISTER_WITHIN: Duration = Duration::from_secs(20);

struct ExecutorState {
    remote: Option<Remote<Executor>>,
    launched: Instant,
    task: Option<TaskId>,
}

/// The AppMaster's view of its application.
#[derive(Default)]
pub struct Plan {
    state: Mutex<PlanState>,
    /// Woken by registrations and losses.
    pub changed: Notify,
}

#[derive(Default)]
struct PlanState {
    tasks: Vec<TaskSpec>,
    executors: BTreeMap<ExecutorId, ExecutorState>,
    next_executor: ExecutorId,
    replay: bool,
}

/// What to do next, as the plan says.
pub struct Step {
    /// Executors to launch (slots to ask the Master for).
    pub launch: u32,
    /// Tasks to start now, each on a registered idle executor.
    pub start: Vec<(TaskSpec, Remote<Executor>)>,
    /// Where every assigned task is, once `start` is done.
    pub routes: Vec<(TaskId, Remote<Executor>)>,
    /// The source must read the text again (a counter's state was lost).
    pub replay: bool,
}

impl Plan {
    fn state(&self) -> std::sync::MutexGuard<'_, PlanState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The application's tasks.
    pub fn set_tasks(&self, tasks: Vec<TaskSpec>) {
        self.state().tasks = tasks;
    }

    /// A number for an Executor about to be launched.
    pub fn launching(&self) -> ExecutorId {
        let mut state = self.state();
        state.next_executor += 1;
        let id = state.next_executor;
        state.executors.insert(id, ExecutorState { remote: None, launched: Instant::now(), task: None });
        id
    }

    /// A launch that failed: forget it.
    pub fn launch_failed(&self, id: ExecutorId) {
        self.state().executors.remove(&id);
    }

    /// Executor `id` registered.
    pub fn registered(&self, id: ExecutorId, remote: &Remote<Executor>) -> bool {
        let known = match self.state().executors.get_mut(&id) {
            Some(executor) => {
                executor.remote = Some(remote.clone());
                true
            }
            None => false,
        };
        self.changed.notify_one();
        known
    }

    /// Executor `remote` was lost: its task needs another; a counter's state went with it.
    pub fn lost(&self, remote: &Remote<Executor>) -> Option<(ExecutorId, Option<TaskSpec>)> {
        let mut state = self.state();
        let id = state.executors.iter().find(|(_, e)| e.remote.as_ref() == Some(remote)).map(|(id, _)| *id)?;
        let task = state.executors.remove(&id).and_then(|executor| executor.task);
        let spec = task.and_then(|task| state.tasks.iter().find(|spec| spec.id == task).copied());
        if spec.is_some_and(|spec| spec.kind == Kind::Count) {
            state.replay = true;
        }
        drop(state);
        self.changed.notify_one();
        Some((id, spec))
    }

    /// What to do now: launch executors for tasks that have none, start tasks on registered
    /// idle executors.
    pub fn next_step(&self) -> Step {
        let mut state = self.state();
        let now = Instant::now();
        state.executors.retain(|_, e| e.remote.is_some() || now.duration_since(e.launched) < REGISTER_WITHIN);
        let assigned: Vec<TaskId> = state.executors.values().filter_map(|e| e.task).collect();
        let unassigned: Vec<TaskSpec> = state.tasks.iter().filter(|t| !assigned.contains(&t.id)).copied().collect();
        let pending = state.executors.values().filter(|e| e.remote.is_none()).count() as u32;
        let idle: Vec<ExecutorId> =
            state.executors.iter().filter(|(_, e)| e.remote.is_some() && e.task.is_none()).map(|(id, _)| *id).collect();
        let mut start = Vec::new();
        for (task, id) in unassigned.iter().zip(idle) {
            if let Some(executor) = state.executors.get_mut(&id) {
                executor.task = Some(task.id);
                if let Some(remote) = &executor.remote {
                    start.push((*task, remote.clone()));
                }
            }
        }
        let waiting = unassigned.len() as u32 - start.len() as u32;
        let launch = waiting.saturating_sub(pending);
        let routes = state.executors.values().filter_map(|e| Some((e.task?, e.remote.clone()?))).collect();
        // A replay waits until every task runs again.
        let replay = state.replay && waiting == 0;
        if replay {
            state.replay = false;
        }
        Step { launch, start, routes, replay }
    }

    /// Task `task` did not start on its executor: it needs one again.
    pub fn unassign(&self, task: TaskId) {
        for executor in self.state().executors.values_mut().filter(|e| e.task == Some(task)) {
            executor.task = None;
        }
    }

    /// The source could not be told to replay: tell it at the next step.
    pub fn replay_again(&self) {
        self.state().replay = true;
    }

    /// Every running task and its executor.
    pub fn running(&self) -> Vec<(TaskSpec, Remote<Executor>)> {
        let state = self.state();
        state
            .executors
            .values()
            .filter_map(|e| {
                let spec = state.tasks.iter().find(|spec| Some(spec.id) == e.task)?;
                Some((*spec, e.remote.clone()?))
            })
            .collect()
    }

    /// Whether every task runs.
    pub fn all_running(&self) -> bool {
        let state = self.state();
        let running = state.executors.values().filter(|e| e.task.is_some() && e.remote.is_some()).count();
        running == state.tasks.len()
    }
}
