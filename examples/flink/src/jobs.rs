//! The Flink-like job system of the Syndicate model (`flink-syndicate-model.rkt`) as one loci
//! multitier module: a JobManager, TaskManagers with slots, TaskRunners, and clients that submit
//! word-count jobs made of map and reduce tasks.
//!
//! The model's three protocols map onto loci like this (see `docs/flink-jobs.md`):
//! - **presence**: the JobManager's presence is the TaskManagers' `Single` tie to it; each
//!   TaskManager advertises its free slots as a signal the JobManager reads with `from_all`;
//!   each TaskRunner its status as a signal its TaskManager reads;
//! - **task delegation**, twice: the JobManager calls `assign` on a TaskManager, which calls
//!   `perform` on one of its TaskRunners; the answer is the task's final state, and the
//!   TaskManager also publishes every state change as an event the JobManager follows;
//! - **job submission**: a client calls `submit`, which answers with the job's result.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Words counted: word → occurrences. Ordered, so results print with sorted keys.
pub type WordCount = BTreeMap<String, u64>;
/// A task's number within its job.
pub type TaskId = u32;
/// A job's number at its JobManager.
pub type JobId = u64;

/// The words of `text`: maximal runs of Unicode alphanumeric characters, lowercased.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric()).filter(|word| !word.is_empty()).map(str::to_lowercase)
}

/// Counts the words of `text`.
pub fn count_words(text: &str) -> WordCount {
    let mut counts = WordCount::new();
    for word in words(text) {
        *counts.entry(word).or_default() += 1;
    }
    counts
}

/// Adds the counts of `right` to `left`.
pub fn combine(mut left: WordCount, right: WordCount) -> WordCount {
    for (word, count) in right {
        *left.entry(word).or_default() += count;
    }
    left
}

/// One input of a reduce: the result of another task of the job, or a value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Input {
    /// Known once task `TaskId` has finished.
    Task(TaskId),
    /// Known now.
    Value(WordCount),
}

/// What a task does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Work {
    /// Count the words of a chunk of text.
    Map(String),
    /// Combine two counts.
    Reduce(Input, Input),
}

/// One task of a job, as a client submits it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Its number within the job.
    pub id: TaskId,
    /// What it does.
    pub work: Work,
}

/// Work whose inputs are all known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ReadyWork {
    /// Count the words of a chunk of text.
    Map(String),
    /// Combine two counts.
    Reduce(WordCount, WordCount),
}

impl ReadyWork {
    /// Does the work.
    pub fn run(self) -> WordCount {
        match self {
            ReadyWork::Map(text) => count_words(&text),
            ReadyWork::Reduce(left, right) => combine(left, right),
        }
    }
}

/// A task ready to run, as it is delegated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadyTask {
    /// The job it belongs to.
    pub job: JobId,
    /// Its number within the job.
    pub id: TaskId,
    /// What it does.
    pub work: ReadyWork,
}

/// A TaskRunner's status, as in the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunnerStatus {
    /// Not executing a task.
    Idle,
    /// Executing the task with this id.
    Executing(TaskId),
    /// Asked to perform a task before it finished its previous one.
    Overloaded,
}

/// Where a delegated task stands, as in the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TaskState {
    /// The performer has room for it.
    Accepted,
    /// Being performed.
    Running,
    /// The performer has no room for it: assign it elsewhere.
    Overloaded,
    /// Done, with its result.
    Finished(WordCount),
}

/// A task state change as a TaskManager publishes it: the result itself travels with the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Progress {
    /// Accepted.
    Accepted,
    /// Running.
    Running,
    /// Overloaded.
    Overloaded,
    /// Finished.
    Finished,
}

pub use crate::scheduler::{check_job, Scheduler};

/// The tasks of a word count over `text`: a map task per `lines` lines, and reduces combining
/// them pairwise, by task id, down to one.
///
/// ```
/// let tasks = flink::jobs::word_count_job("a b\nb c\nc", 1);
/// assert_eq!(tasks.len(), 5, "three maps, two reduces");
/// assert_eq!(flink::jobs::check_job(&tasks), Ok(4), "the last reduce ends the job");
/// ```
pub fn word_count_job(text: &str, lines: usize) -> Vec<Task> {
    let all: Vec<&str> = text.lines().collect();
    let mut tasks: Vec<Task> = all
        .chunks(lines.max(1))
        .enumerate()
        .map(|(id, chunk)| Task { id: id as TaskId, work: Work::Map(chunk.join("\n")) })
        .collect();
    if tasks.is_empty() {
        tasks.push(Task { id: 0, work: Work::Map(String::new()) });
    }
    let mut level: Vec<TaskId> = tasks.iter().map(|task| task.id).collect();
    while level.len() > 1 {
        let mut next = Vec::new();
        for pair in level.chunks(2) {
            match pair {
                [left, right] => {
                    let id = tasks.len() as TaskId;
                    tasks.push(Task { id, work: Work::Reduce(Input::Task(*left), Input::Task(*right)) });
                    next.push(id);
                }
                [single] => next.push(*single),
                _ => {}
            }
        }
        level = next;
    }
    tasks
}

#[loci::multitier]
pub mod jobs {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use loci::{Event, Here, Local, Remote, Signal, Var};

    use super::{Progress, ReadyTask, RunnerStatus, Scheduler, Task, TaskState, WordCount};

    /// Runs jobs: assigns their ready tasks to TaskManagers with free slots, and answers each
    /// client with its job's result.
    #[peer(ties(TaskManager = Multiple, Client = Multiple))]
    pub struct JobManager;

    /// Offers its idle TaskRunners as slots and hands the tasks it is given to them. It works
    /// only while a JobManager is present.
    #[peer(ties(JobManager = Single, TaskRunner = Multiple))]
    pub struct TaskManager;

    /// Performs one task at a time for the TaskManager it belongs to.
    #[peer(ties(TaskManager = Single))]
    pub struct TaskRunner;

    /// Submits word-count jobs.
    #[peer(ties(JobManager = Single))]
    pub struct Client;

    // --- TaskRunner ------------------------------------------------------------------------

    /// This runner's status, which its TaskManager follows.
    #[on(TaskRunner)]
    pub fn status() -> Var<RunnerStatus> {
        Var::new(RunnerStatus::Idle)
    }

    /// How long the runner takes at least per task (to watch a demo; zero by default).
    #[on(TaskRunner)]
    pub fn pace() -> Local<Duration>;

    /// Performs a task for its TaskManager: its result, or `Overloaded` if it is busy.
    #[on(TaskRunner)]
    pub async fn perform(ctx: &Here<TaskRunner>, task: ReadyTask) -> TaskState {
        let status = ctx.local(status);
        if status.get() != RunnerStatus::Idle {
            status.set(RunnerStatus::Overloaded);
            return TaskState::Overloaded;
        }
        status.set(RunnerStatus::Executing(task.id));
        tokio::time::sleep(*ctx.local(pace)).await;
        let result = tokio::task::spawn_blocking(move || task.work.run()).await;
        status.set(RunnerStatus::Idle);
        match result {
            Ok(counts) => TaskState::Finished(counts),
            Err(_) => TaskState::Overloaded,
        }
    }

    // --- TaskManager -----------------------------------------------------------------------

    /// Slots this TaskManager claims beyond its idle runners: nonzero only to make it
    /// overloaded on purpose (a test does).
    #[on(TaskManager)]
    pub fn extra_slots() -> Local<u32>;

    /// Runners handed a task that has not come back yet, by instance: not offered again, so one
    /// runner is never given two tasks (the model's `busy-runners`).
    #[on(TaskManager)]
    pub fn reserved() -> Var<BTreeSet<u64>> {
        Var::new(BTreeSet::new())
    }

    /// Every runner of this TaskManager with its status.
    #[on(TaskManager)]
    pub fn runners(ctx: &Here<TaskManager>) -> Signal<Vec<(Remote<TaskRunner>, RunnerStatus)>> {
        ctx.remote(status).from_all()
    }

    /// How many tasks this TaskManager can take now: its idle runners not handed a task.
    #[on(TaskManager)]
    pub fn free_slots(ctx: &Here<TaskManager>) -> Signal<u32> {
        let (runners, reserved, extra) = (ctx.local(runners), ctx.local(reserved).signal(), *ctx.local(extra_slots));
        Signal::computed(move || {
            let reserved = reserved.get();
            let idle = runners
                .get()
                .iter()
                .filter(|(runner, status)| *status == RunnerStatus::Idle && !reserved.contains(&runner.instance()))
                .count() as u32;
            idle + extra
        })
    }

    /// Every state change of a task delegated to this TaskManager: (job, task, progress).
    #[on(TaskManager)]
    pub fn progress() -> Event<(u64, u32, Progress)> {
        Event::new()
    }

    /// Takes a task from the JobManager: hands it to an idle runner and answers with how it
    /// ended, or `Overloaded` when no runner is free.
    #[on(TaskManager)]
    pub async fn assign(ctx: &Here<TaskManager>, task: ReadyTask) -> TaskState {
        let (job, id) = (task.job, task.id);
        let progress = ctx.local(progress);
        let reserved = ctx.local(reserved);
        let picked = ctx
            .local(runners)
            .get()
            .into_iter()
            .find(|(runner, status)| *status == RunnerStatus::Idle && !reserved.get().contains(&runner.instance()));
        let Some((runner, _)) = picked else {
            println!("task {job}/{id}: no runner free, overloaded");
            progress.fire((job, id, Progress::Overloaded));
            return TaskState::Overloaded;
        };
        let held = runner.instance();
        reserved.update(move |set| set.iter().copied().chain([held]).collect());
        progress.fire((job, id, Progress::Accepted));
        println!("task {job}/{id} goes to runner {}", runner.name());
        progress.fire((job, id, Progress::Running));
        let answer = ctx.remote(perform).from(&runner).no_timeout().call(task).await;
        reserved.update(move |set| set.iter().copied().filter(|other| *other != held).collect());
        let state = answer.unwrap_or(TaskState::Overloaded);
        let done = if matches!(state, TaskState::Finished(_)) { Progress::Finished } else { Progress::Overloaded };
        progress.fire((job, id, done));
        state
    }

    #[on(TaskManager)]
    pub async fn main(ctx: Here<TaskManager>) -> loci::Result<()> {
        println!("task manager {} learns about the job manager", ctx.name());
        let slots = ctx.local(free_slots);
        println!("free slots: {}", slots.get());
        let _ = slots.observe(|slots| println!("free slots: {slots}"));
        std::future::pending::<()>().await;
        Ok(())
    }

    // --- JobManager ------------------------------------------------------------------------

    /// Jobs and slot accounting.
    #[on(JobManager)]
    pub fn scheduler() -> Local<Scheduler> {
        Local::default()
    }

    /// Every TaskManager's free slots, as it advertises them.
    #[on(JobManager)]
    pub fn slots(ctx: &Here<JobManager>) -> Signal<Vec<(Remote<TaskManager>, u32)>> {
        ctx.remote(free_slots).from_all()
    }

    /// Runs a job and answers with its result once every task is done.
    #[on(JobManager)]
    pub async fn submit(
        ctx: &Here<JobManager>,
        caller: &Remote<Client>,
        tasks: Vec<Task>,
    ) -> Result<WordCount, String> {
        let (answer, result) = tokio::sync::oneshot::channel();
        let count = tasks.len();
        let job = ctx.local(scheduler).add_job(tasks, answer)?;
        println!("job {job} from {}: {count} tasks", caller.name());
        let result = result.await.map_err(|_| format!("job {job} was dropped"))?;
        println!("job {job} finished: {} distinct words", result.len());
        Ok(result)
    }

    /// Performs one assignment and records how it ended.
    async fn delegate(ctx: Here<JobManager>, manager: Remote<TaskManager>, task: ReadyTask) {
        let jobs = ctx.local(scheduler);
        let (job, id) = (task.job, task.id);
        let answer = ctx.remote(assign).from(&manager).no_timeout().call(task.clone()).await;
        jobs.answered(manager.instance(), job, id);
        match answer {
            Ok(TaskState::Finished(result)) => {
                jobs.finished(job, id, result);
            }
            Ok(state) => {
                println!("task {job}/{id} at {}: {state:?}; reassigning it", manager.name());
                jobs.refused(manager.instance(), task);
            }
            Err(error) => {
                println!("task {job}/{id} at {}: {error}; reassigning it", manager.name());
                jobs.requeue(task);
            }
        }
    }

    #[on(JobManager)]
    pub async fn main(ctx: Here<JobManager>) -> loci::Result<()> {
        println!("job manager up");
        let jobs = ctx.local(scheduler);
        let slots = ctx.local(slots);
        let wake = ctx.local(scheduler);
        let _ = slots.observe(move |_| wake.changed.notify_one());
        // The first state a TaskManager reports for an assignment frees its slot in the
        // accounting: from then on its advertised slots reflect the task.
        let answered = ctx.local(scheduler);
        let _ = ctx.remote(progress).from_all_seq().observe(move |(manager, (job, task, _))| {
            answered.answered(manager.instance(), *job, *task);
        });
        let _ =
            ctx.remotes::<TaskManager>().joined().observe(|manager| println!("task manager {} joined", manager.name()));
        let _ = ctx.remotes::<TaskManager>().left().observe(|manager| println!("task manager {} left", manager.name()));
        loop {
            let changed = jobs.changed.notified();
            let current = slots.get();
            let offered: Vec<(u64, u32)> = current.iter().map(|(manager, free)| (manager.instance(), *free)).collect();
            while let Some((instance, task)) = jobs.next_assignment(&offered) {
                let Some((manager, _)) = current.iter().find(|(manager, _)| manager.instance() == instance) else {
                    jobs.answered(instance, task.job, task.id);
                    jobs.requeue(task);
                    break;
                };
                tokio::spawn(delegate(ctx.clone(), manager.clone(), task));
            }
            changed.await;
        }
    }

    // --- Client ----------------------------------------------------------------------------

    /// The job this client submits, supplied by its executable.
    #[on(Client)]
    pub fn job() -> Local<Vec<Task>>;

    #[on(Client)]
    pub async fn main(ctx: Here<Client>) -> loci::Result<()> {
        let tasks = Vec::clone(&ctx.local(job));
        let result = ctx.remote(submit).no_timeout().call(tasks).await?.map_err(loci::Error::Main)?;
        match serde_json::to_string(&result) {
            Ok(json) => println!("{json}"),
            Err(error) => eprintln!("could not print the result: {error}"),
        }
        Ok(())
    }
}
