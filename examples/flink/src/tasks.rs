//! The tasks a TaskManager runs: real work (counting the words of a text chunk) in spawned
//! tasks that can be stopped (they finish the word at hand and report what they counted) or
//! cancelled (aborted at once). This is plain Rust, kept in the TaskManager's local state.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::gateway::{Checkpoint, ExecutionAttemptId, PartitionInfo, TaskDeployment, TaskState, TaskStatus};

/// One task: its deployment, its progress and what the JobManager told it.
pub struct Task {
    deployment: TaskDeployment,
    progress: Arc<Progress>,
    abort: tokio::task::AbortHandle,
    partitions: Vec<PartitionInfo>,
    checkpoints: Vec<Checkpoint>,
}

/// What a running task shares with its table entry.
#[derive(Default)]
struct Progress {
    words: AtomicU64,
    stop: AtomicBool,
    /// Set when its results were discarded (`failPartition`): it reports no words from then on.
    discarded: AtomicBool,
    state: Mutex<TaskStateSlot>,
}

#[derive(Default)]
struct TaskStateSlot(Option<TaskState>);

impl Progress {
    fn words(&self) -> u64 {
        if self.discarded.load(Ordering::Relaxed) {
            0
        } else {
            self.words.load(Ordering::Relaxed)
        }
    }

    fn state(&self) -> TaskState {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).0.clone().unwrap_or(TaskState::Running)
    }

    fn set_state(&self, state: TaskState) {
        let mut slot = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // The first end wins: a task cancelled after it finished stays finished.
        if slot.0.is_none() {
            slot.0 = Some(state);
        }
    }
}

/// Log lines a TaskManager keeps; older ones are dropped.
const LOG_LINES: usize = 1000;

/// The TaskManager's running tasks and its log, in its local state.
#[derive(Default)]
pub struct Tasks {
    running: BTreeMap<ExecutionAttemptId, Task>,
    log: Vec<String>,
}

/// Why an operation on a task failed.
pub type Refusal = String;

impl Tasks {
    /// Appends a line to the TaskManager's log and prints it.
    pub fn log(&mut self, line: impl Into<String>) {
        let line = line.into();
        println!("{line}");
        if self.log.len() == LOG_LINES {
            self.log.remove(0);
        }
        self.log.push(line);
    }

    /// The log so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.log.clone()
    }

    /// Starts counting the words of the deployment's text, one word per `word_delay_ms`.
    pub fn submit(&mut self, deployment: TaskDeployment) -> Result<(), Refusal> {
        let execution = deployment.execution;
        // A task that ended may be deployed again; one that runs may not.
        if self.running.get(&execution).is_some_and(|task| task.progress.state() == TaskState::Running) {
            return Err(format!("task {execution} is already running"));
        }
        let progress = Arc::new(Progress::default());
        let words: Vec<String> = deployment.text.split_whitespace().map(str::to_owned).collect();
        let (delay, counting) = (Duration::from_millis(deployment.word_delay_ms), Arc::clone(&progress));
        let name = deployment.name.clone();
        let abort = tokio::spawn(async move {
            for _ in &words {
                if counting.stop.load(Ordering::Relaxed) {
                    counting.set_state(TaskState::Stopped);
                    println!(
                        "task {execution} ({name}) stopped after {} words",
                        counting.words.load(Ordering::Relaxed)
                    );
                    return;
                }
                tokio::time::sleep(delay).await;
                counting.words.fetch_add(1, Ordering::Relaxed);
            }
            counting.set_state(TaskState::Finished);
            println!("task {execution} ({name}) finished: {} words", counting.words.load(Ordering::Relaxed));
        })
        .abort_handle();
        self.running
            .insert(execution, Task { deployment, progress, abort, partitions: Vec::new(), checkpoints: Vec::new() });
        Ok(())
    }

    /// Asks a task to stop after the word at hand.
    pub fn stop(&mut self, execution: ExecutionAttemptId) -> bool {
        match self.running.get(&execution) {
            Some(task) => {
                task.progress.stop.store(true, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// Aborts a task at once; its state afterwards (a task that had ended keeps its end),
    /// or `None` if there is no such task.
    pub fn cancel(&mut self, execution: ExecutionAttemptId) -> Option<TaskState> {
        let task = self.running.get(&execution)?;
        task.abort.abort();
        task.progress.set_state(TaskState::Cancelled);
        Some(task.progress.state())
    }

    /// Records new input partitions of a task.
    pub fn update_partitions(
        &mut self,
        execution: ExecutionAttemptId,
        partitions: Vec<PartitionInfo>,
    ) -> Result<(), Refusal> {
        let task = self.running.get_mut(&execution).ok_or_else(|| format!("no task {execution}"))?;
        task.partitions = partitions;
        Ok(())
    }

    /// Discards what a task produced: its word count and its partitions.
    pub fn fail_partition(&mut self, execution: ExecutionAttemptId) -> bool {
        match self.running.get_mut(&execution) {
            Some(task) => {
                task.progress.discarded.store(true, Ordering::Relaxed);
                task.partitions.clear();
                true
            }
            None => false,
        }
    }

    /// Records a checkpoint barrier for a task.
    pub fn trigger_checkpoint(&mut self, execution: ExecutionAttemptId, id: u64, timestamp: u64) -> bool {
        match self.running.get_mut(&execution) {
            Some(task) => {
                task.checkpoints.push(Checkpoint { id, timestamp, completed: false });
                true
            }
            None => false,
        }
    }

    /// Marks a checkpoint of a task complete.
    pub fn complete_checkpoint(&mut self, execution: ExecutionAttemptId, id: u64) -> bool {
        let checkpoint = self
            .running
            .get_mut(&execution)
            .and_then(|task| task.checkpoints.iter_mut().find(|checkpoint| checkpoint.id == id));
        match checkpoint {
            Some(checkpoint) => {
                checkpoint.completed = true;
                true
            }
            None => false,
        }
    }

    /// Every task with its state: the TaskManager's "stack trace".
    pub fn statuses(&self) -> Vec<TaskStatus> {
        self.running
            .values()
            .map(|task| TaskStatus {
                execution: task.deployment.execution,
                name: task.deployment.name.clone(),
                state: task.progress.state(),
                words: task.progress.words(),
                partitions: task.partitions.clone(),
                checkpoints: task.checkpoints.clone(),
            })
            .collect()
    }

    /// Aborts every task (the TaskManager lost its JobManager or is stopping).
    pub fn cancel_all(&mut self) {
        for task in self.running.values() {
            task.abort.abort();
            task.progress.set_state(TaskState::Cancelled);
        }
    }
}
