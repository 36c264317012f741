//! Flink's `TaskManagerGateway` (ScalaLoci slides, slide 16) as a loci multitier program.
//!
//! In Flink, the JobManager's gateway sends Akka messages that the TaskManager actor
//! pattern-matches. Here each gateway operation is a function of the JobManager whose body is a
//! remote block on the selected TaskManager: the block's code runs there, reaches the
//! TaskManager's local state (its running tasks), and its result comes back typed. Operations
//! the slide sends with `!` are one-way (`.tell()`).
//!
//! [`jobs`] is the other Flink of this crate: the job system of the Syndicate model, with
//! TaskManagers, TaskRunners and clients submitting word-count jobs.

#[cfg(unix)]
pub mod cluster;
pub mod jobs;
pub mod scheduler;
pub mod tasks;

#[loci::multitier]
pub mod gateway {
    use std::collections::HashMap;
    use std::fmt;
    use std::sync::Mutex;

    use loci::{Here, Local, Remote, RemoteError};
    use serde::{Deserialize, Serialize};

    use crate::tasks::Tasks;

    /// Schedules tasks onto TaskManagers through the gateway.
    #[peer(ties(TaskManager = Multiple))]
    pub struct JobManager;

    /// Runs tasks; registers with its one JobManager.
    #[peer(ties(JobManager = Single))]
    pub struct TaskManager;

    /// The id a JobManager gives a TaskManager each time it registers.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    pub struct InstanceId(pub u64);

    /// One attempt to execute a task.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
    pub struct ExecutionAttemptId(pub u64);

    /// A job.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    pub struct JobId(pub u64);

    /// What deploys a task: count the words of `text`, one word per `word_delay_ms`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct TaskDeployment {
        pub execution: ExecutionAttemptId,
        pub job: JobId,
        pub name: String,
        pub text: String,
        pub word_delay_ms: u64,
    }

    /// A positive answer of the TaskManager.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Acknowledge;

    /// Why the TaskManager could not do what was asked.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct TaskFailure(pub String);

    /// Where a task's input partition is.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct PartitionInfo {
        pub partition: u32,
        pub location: String,
    }

    /// A checkpoint of a task, as the TaskManager recorded it.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Checkpoint {
        pub id: u64,
        pub timestamp: u64,
        pub completed: bool,
    }

    /// How a checkpoint is taken.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    pub enum CheckpointOptions {
        Checkpoint,
        Savepoint,
    }

    /// The state of a task.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub enum TaskState {
        Running,
        Finished,
        Stopped,
        Cancelled,
    }

    /// One task, as the TaskManager's stack trace lists it.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct TaskStatus {
        pub execution: ExecutionAttemptId,
        pub name: String,
        pub state: TaskState,
        pub words: u64,
        pub partitions: Vec<PartitionInfo>,
        pub checkpoints: Vec<Checkpoint>,
    }

    /// What `requestStackTrace` returns: the TaskManager's tasks.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct StackTrace {
        pub instance: Option<InstanceId>,
        pub tasks: Vec<TaskStatus>,
    }

    /// How the cluster ends.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    pub enum ApplicationStatus {
        Succeeded,
        Failed,
        Canceled,
    }

    /// Which log `requestTaskManagerLog` asks for.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    pub enum LogTypeRequest {
        /// Every line.
        Log,
        /// The last `n` lines.
        Tail(usize),
    }

    impl fmt::Display for InstanceId {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "instance {}", self.0)
        }
    }

    impl fmt::Display for ExecutionAttemptId {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "exec-{}", self.0)
        }
    }

    // ---- The TaskManager's side: local state and what the blocks call ----

    /// The TaskManager's running tasks and log.
    #[on(TaskManager)]
    fn tasks() -> Local<Mutex<Tasks>> {
        Local::default()
    }

    /// The id the JobManager gave this TaskManager; `None` while it is not registered.
    #[on(TaskManager)]
    fn registration() -> Local<Mutex<Option<InstanceId>>> {
        Local::default()
    }

    fn with_tasks<T>(tm: &Here<TaskManager>, work: impl FnOnce(&mut Tasks) -> T) -> T {
        let tasks = tm.local(tasks);
        let mut tasks = tasks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        work(&mut tasks)
    }

    fn log(tm: &Here<TaskManager>, line: String) {
        with_tasks(tm, |tasks| tasks.log(line));
    }

    fn registered_as(tm: &Here<TaskManager>) -> Option<InstanceId> {
        *tm.local(registration).lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn handle_job_manager_disconnect(tm: &Here<TaskManager>, reason: &str) {
        *tm.local(registration).lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
        with_tasks(tm, |tasks| {
            tasks.cancel_all();
            tasks.log(format!("{reason}; tasks cancelled"));
        });
    }

    /// Registers with the JobManager (again), in the background.
    fn trigger_task_manager_registration(tm: &Here<TaskManager>) {
        let tm = tm.clone();
        tokio::spawn(async move { register_with_job_manager(&tm).await });
    }

    async fn register_with_job_manager(tm: &Here<TaskManager>) {
        match tm.remote(register).call(()).await {
            Ok(id) => {
                *tm.local(registration).lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(id);
                log(tm, format!("registered with the JobManager as {id}"));
            }
            Err(error) => log(tm, format!("registration failed: {error}")),
        }
    }

    // ---- The JobManager's side ----

    /// The TaskManagers registered, by connection, with their instance ids.
    #[on(JobManager)]
    fn instances() -> Local<Mutex<(u64, HashMap<u64, InstanceId>)>> {
        Local::default()
    }

    /// A TaskManager registers; it gets a new instance id each time.
    #[on(JobManager)]
    pub fn register(ctx: &Here<JobManager>, tm: &Remote<TaskManager>) -> InstanceId {
        let instances = ctx.local(instances);
        let mut instances = instances.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        instances.0 += 1;
        let id = InstanceId(instances.0);
        instances.1.insert(tm.id(), id);
        println!("{} registered as {id}", tm.name());
        id
    }

    /// The instance id a TaskManager registered with last, if it did.
    pub fn instance_of(ctx: &Here<JobManager>, tm: &Remote<TaskManager>) -> Option<InstanceId> {
        ctx.local(instances).lock().unwrap_or_else(|poisoned| poisoned.into_inner()).1.get(&tm.id()).copied()
    }

    // ---- The gateway: slide 16, one remote block per operation ----

    pub async fn disconnect_from_job_manager(
        ctx: &Here<JobManager>,
        instance_id: InstanceId,
        cause: String,
        mgr: &Remote<TaskManager>,
    ) -> Result<(), RemoteError> {
        remote!(ctx, capture(instance_id, cause), |tm: &Here<TaskManager>| {
            if instance_id_matches(tm, instance_id) {
                handle_job_manager_disconnect(tm, &format!("JobManager requested disconnect: {cause}"));
                trigger_task_manager_registration(tm);
            } else {
                log(tm, format!("Received disconnect message for wrong {instance_id}"));
            }
        })
        .from(mgr)
        .tell()
        .await
    }

    fn instance_id_matches(tm: &Here<TaskManager>, instance_id: InstanceId) -> bool {
        registered_as(tm) == Some(instance_id)
    }

    pub async fn stop_cluster(
        ctx: &Here<JobManager>,
        application_status: ApplicationStatus,
        message: String,
        mgr: &Remote<TaskManager>,
    ) -> Result<(), RemoteError> {
        remote!(ctx, capture(application_status, message), |tm: &Here<TaskManager>| {
            log(tm, format!("Stopping TaskManager with final application status {application_status:?} and diagnostics: {message}"));
            with_tasks(tm, Tasks::cancel_all);
            tm.shutdown("the TaskManager stops on request of the JobManager");
        })
        .from(mgr)
        .tell()
        .await
    }

    pub async fn request_stack_trace(
        ctx: &Here<JobManager>,
        mgr: &Remote<TaskManager>,
    ) -> Result<StackTrace, RemoteError> {
        remote!(ctx, |tm: &Here<TaskManager>| -> StackTrace {
            StackTrace { instance: registered_as(tm), tasks: with_tasks(tm, |tasks| tasks.statuses()) }
        })
        .from(mgr)
        .await
    }

    pub async fn submit_task(
        ctx: &Here<JobManager>,
        tdd: TaskDeployment,
        mgr: &Remote<TaskManager>,
    ) -> Result<Result<Acknowledge, TaskFailure>, RemoteError> {
        remote!(ctx, capture(tdd), |tm: &Here<TaskManager>| -> Result<Acknowledge, TaskFailure> {
            let line = format!(
                "task {} ({}) submitted: {} words",
                tdd.execution,
                tdd.name,
                tdd.text.split_whitespace().count()
            );
            with_tasks(tm, |tasks| {
                tasks.submit(tdd).map_err(TaskFailure)?;
                tasks.log(line);
                Ok(Acknowledge)
            })
        })
        .from(mgr)
        .await
    }

    pub async fn stop_task(
        ctx: &Here<JobManager>,
        execution_attempt_id: ExecutionAttemptId,
        mgr: &Remote<TaskManager>,
    ) -> Result<Result<Acknowledge, TaskFailure>, RemoteError> {
        remote!(ctx, capture(execution_attempt_id), |tm: &Here<TaskManager>| -> Result<Acknowledge, TaskFailure> {
            with_tasks(tm, |tasks| {
                if !tasks.stop(execution_attempt_id) {
                    tasks.log(format!("Cannot find task to stop for execution {execution_attempt_id}"));
                }
                Ok(Acknowledge)
            })
        })
        .from(mgr)
        .await
    }

    pub async fn cancel_task(
        ctx: &Here<JobManager>,
        execution_attempt_id: ExecutionAttemptId,
        mgr: &Remote<TaskManager>,
    ) -> Result<Acknowledge, RemoteError> {
        remote!(ctx, capture(execution_attempt_id), |tm: &Here<TaskManager>| -> Acknowledge {
            with_tasks(tm, |tasks| match tasks.cancel(execution_attempt_id) {
                Some(TaskState::Cancelled) => tasks.log(format!("task {execution_attempt_id} cancelled")),
                Some(ended) => tasks.log(format!("task {execution_attempt_id} had already ended ({ended:?})")),
                None => tasks.log(format!("Cannot find task to cancel for execution {execution_attempt_id}")),
            });
            Acknowledge
        })
        .from(mgr)
        .await
    }

    pub async fn update_partitions(
        ctx: &Here<JobManager>,
        execution_attempt_id: ExecutionAttemptId,
        partition_infos: Vec<PartitionInfo>,
        mgr: &Remote<TaskManager>,
    ) -> Result<Result<Acknowledge, TaskFailure>, RemoteError> {
        remote!(
            ctx,
            capture(execution_attempt_id, partition_infos),
            |tm: &Here<TaskManager>| -> Result<Acknowledge, TaskFailure> {
                let count = partition_infos.len();
                with_tasks(tm, |tasks| {
                    tasks.update_partitions(execution_attempt_id, partition_infos).map_err(TaskFailure)?;
                    tasks.log(format!("task {execution_attempt_id}: {count} input partitions updated"));
                    Ok(Acknowledge)
                })
            }
        )
        .from(mgr)
        .await
    }

    pub async fn fail_partition(
        ctx: &Here<JobManager>,
        execution_attempt_id: ExecutionAttemptId,
        mgr: &Remote<TaskManager>,
    ) -> Result<(), RemoteError> {
        remote!(ctx, capture(execution_attempt_id), |tm: &Here<TaskManager>| {
            with_tasks(tm, |tasks| {
                if tasks.fail_partition(execution_attempt_id) {
                    tasks.log(format!("Discarding the results produced by task execution {execution_attempt_id}"));
                } else {
                    tasks.log(format!("No task {execution_attempt_id} to discard the results of"));
                }
            })
        })
        .from(mgr)
        .tell()
        .await
    }

    pub async fn notify_checkpoint_complete(
        ctx: &Here<JobManager>,
        execution_attempt_id: ExecutionAttemptId,
        job_id: JobId,
        checkpoint_id: u64,
        timestamp: u64,
        mgr: &Remote<TaskManager>,
    ) -> Result<(), RemoteError> {
        remote!(ctx, capture(execution_attempt_id, job_id, checkpoint_id, timestamp), |tm: &Here<TaskManager>| {
            with_tasks(tm, |tasks| {
                if tasks.complete_checkpoint(execution_attempt_id, checkpoint_id) {
                    tasks.log(format!(
                        "checkpoint {checkpoint_id}@{timestamp} of job {} complete for {execution_attempt_id}",
                        job_id.0
                    ));
                } else {
                    tasks.log(format!(
                        "TaskManager received a checkpoint confirmation for unknown task {execution_attempt_id}"
                    ));
                }
            })
        })
        .from(mgr)
        .tell()
        .await
    }

    pub async fn trigger_checkpoint(
        ctx: &Here<JobManager>,
        execution_attempt_id: ExecutionAttemptId,
        job_id: JobId,
        checkpoint_id: u64,
        timestamp: u64,
        checkpoint_options: CheckpointOptions,
        mgr: &Remote<TaskManager>,
    ) -> Result<(), RemoteError> {
        remote!(ctx, capture(execution_attempt_id, job_id, checkpoint_id, timestamp, checkpoint_options), |tm: &Here<TaskManager>| {
            with_tasks(tm, |tasks| {
                if tasks.trigger_checkpoint(execution_attempt_id, checkpoint_id, timestamp) {
                    tasks.log(format!("{checkpoint_options:?} {checkpoint_id}@{timestamp} of job {} triggered for {execution_attempt_id}", job_id.0));
                } else {
                    tasks.log(format!("TaskManager received a checkpoint request for unknown task {execution_attempt_id}"));
                }
            })
        })
        .from(mgr)
        .tell()
        .await
    }

    pub async fn request_task_manager_log(
        ctx: &Here<JobManager>,
        log_type_request: LogTypeRequest,
        mgr: &Remote<TaskManager>,
    ) -> Result<Vec<String>, RemoteError> {
        remote!(ctx, capture(log_type_request), |tm: &Here<TaskManager>| -> Vec<String> {
            let lines = with_tasks(tm, |tasks| tasks.log_lines());
            match log_type_request {
                LogTypeRequest::Log => lines,
                LogTypeRequest::Tail(n) => lines[lines.len().saturating_sub(n)..].to_vec(),
            }
        })
        .from(mgr)
        .await
    }

    // ---- The processes ----

    /// The JobManager's console: one gateway operation per line of stdin (see `console`).
    #[on(JobManager)]
    pub async fn main(ctx: Here<JobManager>) -> loci::Result<()> {
        crate::console::run(&ctx).await
    }

    /// A TaskManager registers, then serves the JobManager's blocks until it is stopped.
    #[on(TaskManager)]
    pub async fn main(ctx: Here<TaskManager>) -> loci::Result<()> {
        register_with_job_manager(&ctx).await;
        std::future::pending::<()>().await;
        Ok(())
    }
}

pub mod console;
