//! The JobManager's bookkeeping for the job system: jobs with their ready and waiting tasks,
//! and slot accounting of the tasks assigned to each TaskManager (the model's
//! `requests-in-flight`).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use crate::jobs::{Input, JobId, ReadyTask, ReadyWork, Task, TaskId, WordCount, Work};

/// The tasks of a job at the JobManager: the model's ready and waiting queues.
#[derive(Debug, Default)]
struct Job {
    ready: VecDeque<ReadyTask>,
    waiting: Vec<Task>,
    /// Tasks assigned and not finished.
    running: usize,
    /// The task no other task reads: its result is the job's.
    last: TaskId,
    answer: Option<tokio::sync::oneshot::Sender<WordCount>>,
}

/// Why a job cannot run.
pub fn check_job(tasks: &[Task]) -> Result<TaskId, String> {
    let ids: HashSet<TaskId> = tasks.iter().map(|task| task.id).collect();
    if ids.len() != tasks.len() {
        return Err("two tasks have the same id".to_owned());
    }
    let mut read_by_others = HashSet::new();
    for task in tasks {
        if let Work::Reduce(left, right) = &task.work {
            for input in [left, right] {
                if let Input::Task(id) = input {
                    if *id == task.id || !ids.contains(id) {
                        return Err(format!("task {} reads task {id}, which is not another task of the job", task.id));
                    }
                    read_by_others.insert(*id);
                }
            }
        }
    }
    let finals: Vec<TaskId> = tasks.iter().map(|task| task.id).filter(|id| !read_by_others.contains(id)).collect();
    let [last] = finals.as_slice() else {
        if tasks.is_empty() {
            return Err("the job has no tasks".to_owned());
        }
        return Err(format!("a job ends in one task, this one in {} (combine them with reduces)", finals.len()));
    };
    // Every task must become ready: peel off the ready ones until none is left.
    let mut known: HashSet<TaskId> = HashSet::new();
    let mut left: Vec<&Task> = tasks.iter().collect();
    while !left.is_empty() {
        let before = left.len();
        left.retain(|task| {
            let ready = match &task.work {
                Work::Map(_) => true,
                Work::Reduce(l, r) => [l, r].iter().all(|input| match input {
                    Input::Task(id) => known.contains(id),
                    Input::Value(_) => true,
                }),
            };
            if ready {
                known.insert(task.id);
            }
            !ready
        });
        if left.len() == before {
            return Err("the job's reduces read each other in a circle".to_owned());
        }
    }
    Ok(*last)
}

/// Every job at the JobManager, and its slot accounting.
#[derive(Debug, Default)]
pub struct Scheduler {
    state: Mutex<SchedulerState>,
    /// Woken when there may be something to assign.
    pub changed: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct SchedulerState {
    next_job: JobId,
    jobs: HashMap<JobId, Job>,
    /// Jobs in the order they arrived, so older jobs' tasks go first.
    order: VecDeque<JobId>,
    /// Per TaskManager instance: tasks assigned to it that it has not answered yet.
    in_flight: HashMap<u64, u32>,
    /// Assignments not answered yet: (TaskManager instance, job, task).
    unanswered: HashSet<(u64, JobId, TaskId)>,
    /// TaskManagers that answered "overloaded", with the slots they advertised then: not
    /// offered a task again until they advertise something else.
    refused: HashMap<u64, u32>,
    /// The slots each TaskManager advertised at the last assignment round.
    advertised: HashMap<u64, u32>,
}

impl Scheduler {
    fn state(&self) -> std::sync::MutexGuard<'_, SchedulerState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a job; its result goes to `answer`. Returns its id, or why it cannot run.
    pub fn add_job(&self, tasks: Vec<Task>, answer: tokio::sync::oneshot::Sender<WordCount>) -> Result<JobId, String> {
        let last = check_job(&tasks)?;
        let mut state = self.state();
        let id = state.next_job;
        state.next_job += 1;
        let mut job = Job { answer: Some(answer), last, ..Job::default() };
        for task in tasks {
            match ready(id, &task) {
                Some(ready) => job.ready.push_back(ready),
                None => job.waiting.push(task),
            }
        }
        state.jobs.insert(id, job);
        state.order.push_back(id);
        drop(state);
        self.changed.notify_one();
        Ok(id)
    }

    /// The next ready task and the TaskManager (by instance) to give it to, if a TaskManager
    /// has room: one that said it has more free slots than tasks assigned to it and not yet
    /// answered. The slot is taken.
    pub fn next_assignment(&self, slots: &[(u64, u32)]) -> Option<(u64, ReadyTask)> {
        let mut state = self.state();
        state.advertised = slots.iter().copied().collect();
        let SchedulerState { refused, .. } = &mut *state;
        refused.retain(|manager, at| slots.iter().any(|(known, free)| known == manager && free == at));
        // The TaskManager with the most room, among those that did not refuse since they last
        // advertised their slots.
        let manager = slots
            .iter()
            .filter(|(manager, _)| !state.refused.contains_key(manager))
            .map(|(manager, free)| (*manager, free.saturating_sub(state.in_flight.get(manager).copied().unwrap_or(0))))
            .filter(|(_, room)| *room > 0)
            .max_by_key(|(_, room)| *room)
            .map(|(manager, _)| manager)?;
        let SchedulerState { order, jobs, .. } = &mut *state;
        let task = order.iter().find_map(|id| jobs.get_mut(id).and_then(|job| job.ready.pop_front()))?;
        if let Some(job) = state.jobs.get_mut(&task.job) {
            job.running += 1;
        }
        *state.in_flight.entry(manager).or_default() += 1;
        state.unanswered.insert((manager, task.job, task.id));
        Some((manager, task))
    }

    /// Records the first answer about an assignment (a state change, or the call's answer):
    /// the TaskManager's slot count reflects it from now on.
    pub fn answered(&self, manager: u64, job: JobId, task: TaskId) {
        let mut state = self.state();
        if state.unanswered.remove(&(manager, job, task)) {
            if let Some(count) = state.in_flight.get_mut(&manager) {
                *count = count.saturating_sub(1);
            }
        }
        drop(state);
        self.changed.notify_one();
    }

    /// Puts a task that `manager` refused as overloaded back, and offers that TaskManager
    /// nothing more until it advertises other slots.
    pub fn refused(&self, manager: u64, task: ReadyTask) {
        let mut state = self.state();
        let advertised = state.advertised.get(&manager).copied().unwrap_or(0);
        state.refused.insert(manager, advertised);
        drop(state);
        self.requeue(task);
    }

    /// Puts a task that was not performed (overloaded, or its TaskManager is gone) back.
    pub fn requeue(&self, task: ReadyTask) {
        let mut state = self.state();
        if let Some(job) = state.jobs.get_mut(&task.job) {
            job.running = job.running.saturating_sub(1);
            job.ready.push_front(task);
        }
        drop(state);
        self.changed.notify_one();
    }

    /// Records a task's result: reduces waiting for it may become ready; the last one ends the
    /// job. Returns whether the job ended.
    pub fn finished(&self, job_id: JobId, task: TaskId, result: WordCount) -> bool {
        let mut state = self.state();
        let Some(job) = state.jobs.get_mut(&job_id) else { return false };
        job.running = job.running.saturating_sub(1);
        if task == job.last {
            if let Some(answer) = job.answer.take() {
                let _ = answer.send(result);
            }
            state.jobs.remove(&job_id);
            state.order.retain(|id| *id != job_id);
            return true;
        }
        let waiting = std::mem::take(&mut job.waiting);
        for mut pending in waiting {
            if let Work::Reduce(left, right) = &mut pending.work {
                for input in [left, right] {
                    if *input == Input::Task(task) {
                        *input = Input::Value(result.clone());
                    }
                }
            }
            match ready(job_id, &pending) {
                Some(ready) => job.ready.push_back(ready),
                None => job.waiting.push(pending),
            }
        }
        drop(state);
        self.changed.notify_one();
        false
    }

    /// Jobs not finished yet.
    pub fn jobs(&self) -> usize {
        self.state().jobs.len()
    }
}

/// The task as ready work, if its inputs are known.
fn ready(job: JobId, task: &Task) -> Option<ReadyTask> {
    let work = match &task.work {
        Work::Map(text) => ReadyWork::Map(text.clone()),
        Work::Reduce(Input::Value(left), Input::Value(right)) => ReadyWork::Reduce(left.clone(), right.clone()),
        Work::Reduce(..) => return None,
    };
    Some(ReadyTask { job, id: task.id, work })
}
