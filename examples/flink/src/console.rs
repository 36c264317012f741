//! The JobManager's console: each line of stdin is one gateway operation on a TaskManager
//! named in it, and each result is printed on one line of stdout.

use loci::{Here, Remote};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::gateway::{
    self, ApplicationStatus, CheckpointOptions, ExecutionAttemptId, JobId, JobManager, LogTypeRequest, PartitionInfo,
    TaskDeployment, TaskManager,
};

/// The commands, as `help` prints them.
pub const HELP: &str = "\
commands (TM is a TaskManager's name):
  tms                                         the TaskManagers and their instance ids
  submit TM EXEC NAME DELAY_MS TEXT..         submitTask: count the words of TEXT, DELAY_MS per word
  stop TM EXEC | cancel TM EXEC               stopTask | cancelTask
  trace TM                                    requestStackTrace: the TaskManager's tasks
  trigger TM EXEC JOB CHECKPOINT TIMESTAMP    triggerCheckpoint (one way)
  complete TM EXEC JOB CHECKPOINT TIMESTAMP   notifyCheckpointComplete (one way)
  update TM EXEC PARTITION@LOCATION..         updatePartitions
  fail TM EXEC                                failPartition (one way)
  log TM [LINES]                              requestTaskManagerLog
  disconnect TM CAUSE..                       disconnectFromJobManager with its current instance id (one way)
  disconnect-instance TM ID CAUSE..           the same with another instance id
  stop-cluster STATUS MESSAGE..               stopCluster on every TaskManager (one way)";

/// Reads commands until stdin ends.
pub async fn run(ctx: &Here<JobManager>) -> loci::Result<()> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    println!("JobManager ready; `help` lists the commands");
    while let Some(line) = lines.next_line().await? {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.is_empty() {
            continue;
        }
        match execute(ctx, &words).await {
            Ok(reply) => println!("{reply}"),
            Err(problem) => println!("error: {problem}"),
        }
    }
    Ok(())
}

fn task_manager(ctx: &Here<JobManager>, name: &str) -> Result<Remote<TaskManager>, String> {
    ctx.remotes::<TaskManager>()
        .connected()
        .into_iter()
        .find(|tm| tm.name() == name)
        .ok_or_else(|| format!("no TaskManager named {name} is connected"))
}

fn number(word: Option<&&str>, what: &str) -> Result<u64, String> {
    let word = word.ok_or_else(|| format!("missing {what}"))?;
    word.parse().map_err(|_| format!("{what} must be a number, got `{word}`"))
}

fn rest(words: &[&str], from: usize) -> String {
    words.get(from..).unwrap_or_default().join(" ")
}

/// Runs one command; the text to print, or what was wrong with it.
pub async fn execute(ctx: &Here<JobManager>, words: &[&str]) -> Result<String, String> {
    let command = words[0];
    if command == "help" {
        return Ok(HELP.to_owned());
    }
    if command == "tms" {
        let mut tms: Vec<String> = ctx
            .remotes::<TaskManager>()
            .connected()
            .iter()
            .map(|tm| match gateway::instance_of(ctx, tm) {
                Some(id) => format!("{} ({id})", tm.name()),
                None => format!("{} (not registered)", tm.name()),
            })
            .collect();
        tms.sort();
        return Ok(format!("task managers: {}", tms.join(", ")));
    }
    if command == "stop-cluster" {
        let status = match words.get(1).copied() {
            Some("succeeded") => ApplicationStatus::Succeeded,
            Some("failed") => ApplicationStatus::Failed,
            Some("canceled") => ApplicationStatus::Canceled,
            other => return Err(format!("status must be succeeded, failed or canceled, got {other:?}")),
        };
        let message = rest(words, 2);
        let mut stopped = Vec::new();
        for tm in ctx.remotes::<TaskManager>().connected() {
            gateway::stop_cluster(ctx, status, message.clone(), &tm).await.map_err(|e| e.to_string())?;
            stopped.push(tm.name().to_owned());
        }
        stopped.sort();
        return Ok(format!("stop-cluster sent to {}", stopped.join(", ")));
    }
    let name = words.get(1).ok_or("missing the TaskManager's name")?;
    let tm = task_manager(ctx, name)?;
    let execution = || number(words.get(2), "EXEC").map(ExecutionAttemptId);
    let failed = |error: loci::RemoteError| error.to_string();
    Ok(match command {
        "submit" => {
            let deployment = TaskDeployment {
                execution: execution()?,
                job: JobId(1),
                name: words.get(3).ok_or("missing NAME")?.to_string(),
                word_delay_ms: number(words.get(4), "DELAY_MS")?,
                text: rest(words, 5),
            };
            let execution = deployment.execution;
            let ack = gateway::submit_task(ctx, deployment, &tm).await.map_err(failed)?;
            format!("submit {execution} to {name}: {ack:?}")
        }
        "stop" => {
            let execution = execution()?;
            let ack = gateway::stop_task(ctx, execution, &tm).await.map_err(failed)?;
            format!("stop {execution} on {name}: {ack:?}")
        }
        "cancel" => {
            let execution = execution()?;
            let ack = gateway::cancel_task(ctx, execution, &tm).await.map_err(failed)?;
            format!("cancel {execution} on {name}: {ack:?}")
        }
        "trace" => {
            let trace = gateway::request_stack_trace(ctx, &tm).await.map_err(failed)?;
            let tasks: Vec<String> = trace
                .tasks
                .iter()
                .map(|task| {
                    let completed = task.checkpoints.iter().filter(|c| c.completed).count();
                    format!(
                        "{} {} {:?} {} words, {} partitions, {} checkpoints ({completed} complete)",
                        task.execution,
                        task.name,
                        task.state,
                        task.words,
                        task.partitions.len(),
                        task.checkpoints.len()
                    )
                })
                .collect();
            let instance = trace.instance.map_or_else(|| "not registered".to_owned(), |id| id.to_string());
            format!("trace of {name} ({instance}): [{}]", tasks.join("; "))
        }
        "trigger" | "complete" => {
            let execution = execution()?;
            let job = JobId(number(words.get(3), "JOB")?);
            let checkpoint = number(words.get(4), "CHECKPOINT")?;
            let timestamp = number(words.get(5), "TIMESTAMP")?;
            if command == "trigger" {
                let options = CheckpointOptions::Checkpoint;
                gateway::trigger_checkpoint(ctx, execution, job, checkpoint, timestamp, options, &tm)
                    .await
                    .map_err(failed)?;
            } else {
                gateway::notify_checkpoint_complete(ctx, execution, job, checkpoint, timestamp, &tm)
                    .await
                    .map_err(failed)?;
            }
            format!("{command} checkpoint {checkpoint} of {execution} sent to {name}")
        }
        "update" => {
            let execution = execution()?;
            let partitions = words[3..]
                .iter()
                .map(|word| {
                    let (partition, location) = word
                        .split_once('@')
                        .ok_or_else(|| format!("a partition is PARTITION@LOCATION, got `{word}`"))?;
                    let partition = partition.parse().map_err(|_| format!("bad partition number in `{word}`"))?;
                    Ok(PartitionInfo { partition, location: location.to_owned() })
                })
                .collect::<Result<Vec<_>, String>>()?;
            let ack = gateway::update_partitions(ctx, execution, partitions, &tm).await.map_err(failed)?;
            format!("update partitions of {execution} on {name}: {ack:?}")
        }
        "fail" => {
            let execution = execution()?;
            gateway::fail_partition(ctx, execution, &tm).await.map_err(failed)?;
            format!("fail partition of {execution} sent to {name}")
        }
        "log" => {
            let request = match words.get(2) {
                Some(_) => LogTypeRequest::Tail(number(words.get(2), "LINES")? as usize),
                None => LogTypeRequest::Log,
            };
            let lines = gateway::request_task_manager_log(ctx, request, &tm).await.map_err(failed)?;
            format!("log of {name} ({} lines): {}", lines.len(), lines.join(" | "))
        }
        "disconnect" | "disconnect-instance" => {
            let (instance, cause) = if command == "disconnect" {
                let instance = gateway::instance_of(ctx, &tm).ok_or_else(|| format!("{name} is not registered"))?;
                (instance, rest(words, 2))
            } else {
                (gateway::InstanceId(number(words.get(2), "ID")?), rest(words, 3))
            };
            gateway::disconnect_from_job_manager(ctx, instance, cause, &tm).await.map_err(failed)?;
            format!("disconnect {instance} sent to {name}")
        }
        other => return Err(format!("unknown command `{other}`; `help` lists the commands")),
    })
}
