//! Shared pieces of the cross-crate tests: a multitier module modelled on the Flink
//! TaskManagerGateway, and helpers that run instances on their own threads and runtimes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;

#[loci::multitier]
pub mod cluster {
    use loci::{Event, Here};
    use serde::{Deserialize, Serialize};

    /// Schedules tasks onto task managers.
    #[peer(ties(TaskManager = Multiple, Monitor = Optional))]
    pub struct JobManager;

    /// Runs tasks; belongs to exactly one job manager.
    #[peer(ties(JobManager = Single))]
    pub struct TaskManager;

    /// Watches the job manager, when one is around.
    #[peer(ties(JobManager = Optional))]
    pub struct Monitor;

    /// What a job manager sends to deploy a task.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Deployment {
        pub task: String,
        pub slots: u32,
    }

    /// Accepts a task and says who took it.
    #[on(TaskManager)]
    pub fn submit_task(ctx: &Here<TaskManager>, deployment: Deployment) -> String {
        format!("{} runs {} on {} slots", ctx.name(), deployment.task, deployment.slots)
    }

    /// Answers after a delay, to observe concurrency and disconnection.
    #[on(TaskManager)]
    pub async fn slow_echo(delay_ms: u64, text: String) -> String {
        tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
        text
    }

    /// Always panics.
    #[on(TaskManager)]
    pub fn crash(reason: String) -> u32 {
        panic!("task manager crashed: {reason}")
    }

    /// A result of any size, to exceed frame limits.
    #[on(TaskManager)]
    pub fn blob(size: usize) -> Vec<u8> {
        vec![7; size]
    }

    /// Status numbers a task manager reports.
    #[on(TaskManager)]
    pub fn status() -> Event<u64> {
        Event::new()
    }

    /// Free task slots of a task manager, as a signal.
    #[on(TaskManager)]
    pub fn free_slots() -> loci::Var<u32> {
        loci::Var::new(4)
    }

    /// The job manager's current job name, as a signal.
    #[on(JobManager)]
    pub fn current_job() -> loci::Var<String> {
        loci::Var::new("idle".to_owned())
    }

    /// The job manager's load, sampled: a slow reader may skip samples.
    #[lossy]
    #[on(JobManager)]
    pub fn load_samples() -> Event<(u64, String)> {
        Event::new()
    }

    /// Log lines of the job manager.
    #[on(JobManager)]
    pub fn log_lines() -> Event<String> {
        Event::new()
    }

    /// How many jobs the job manager runs.
    #[on(JobManager)]
    pub fn job_count() -> u32 {
        42
    }

    /// Alerts a monitor raised.
    #[on(Monitor)]
    pub fn alerts() -> Vec<String> {
        vec!["disk full".to_owned()]
    }
}

/// Fresh cluster credentials in a temporary directory.
pub fn credentials(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loci-tests-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    loci::credentials::create_cluster(&dir).expect("credentials");
    dir
}

/// An instance running on its own thread with its own single-threaded runtime.
pub struct Spawned<P: loci::Peer> {
    pub here: loci::Here<P>,
    pub addr: SocketAddr,
    /// The instance's runtime, to run more work next to it.
    pub runtime: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<Stop>>,
    thread: Option<thread::JoinHandle<()>>,
}

enum Stop {
    /// Close connections cleanly.
    Graceful,
    /// Stop the runtime at once: remotes hear nothing more, as if the process were killed.
    Crash,
    /// Like `Crash`, and release the socket, as the end of a killed process does.
    Kill,
}

impl<P: loci::Peer> Spawned<P> {
    /// Starts `builder` on a new thread; panics if it does not start.
    pub fn start(builder: loci::Builder<P>) -> Self {
        Self::try_start(builder).unwrap_or_else(|error| panic!("instance did not start: {error}"))
    }

    /// Starts `builder` on a new thread.
    pub fn try_start(builder: loci::Builder<P>) -> loci::Result<Self> {
        let (started_tx, started_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let thread = thread::Builder::new()
            .name(format!("loci-{}", P::NAME.to_lowercase()))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                let running = match runtime.block_on(builder.start()) {
                    Ok(running) => running,
                    Err(error) => {
                        let _ = started_tx.send(Err(error));
                        return;
                    }
                };
                let _ = started_tx.send(Ok((running.here().clone(), running.local_addr(), runtime.handle().clone())));
                let stop = runtime.block_on(stop_rx).unwrap_or(Stop::Graceful);
                match stop {
                    Stop::Graceful => runtime.block_on(running.shutdown()),
                    Stop::Crash => {
                        // Leak the endpoint so nothing closes the connections politely.
                        std::mem::forget(running);
                        runtime.shutdown_background();
                    }
                    Stop::Kill => {
                        // The drivers go first, so dropping the rest sends nothing.
                        runtime.shutdown_background();
                        drop(running);
                    }
                }
            })
            .expect("spawn an instance thread");
        let (here, addr, runtime) = started_rx.recv().expect("instance thread ended")?;
        Ok(Spawned { here, addr, runtime, stop: Some(stop_tx), thread: Some(thread) })
    }

    /// Stops the instance with a clean close of its connections.
    pub fn shutdown(mut self) {
        self.stop_with(Stop::Graceful);
    }

    /// Stops the instance as abruptly as a killed process: its remotes must time out.
    pub fn crash(mut self) {
        self.stop_with(Stop::Crash);
    }

    /// Stops the instance as abruptly as a killed process and frees its port, so that another
    /// instance can listen there.
    pub fn kill(mut self) {
        self.stop_with(Stop::Kill);
    }

    fn stop_with(&mut self, stop: Stop) {
        if let Some(sender) = self.stop.take() {
            let _ = sender.send(stop);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl<P: loci::Peer> Drop for Spawned<P> {
    fn drop(&mut self) {
        self.stop_with(Stop::Graceful);
    }
}

/// A builder for peer `P` with the given credentials, listening on a free loopback port.
pub fn listening<P: loci::Peer>(creds: &Path, name: &str) -> loci::Builder<P> {
    loci::Instance::<P>::builder().credentials(creds).name(name).listen("127.0.0.1:0".parse().unwrap())
}

/// A builder for peer `P` with the given credentials that connects to `peer` at `addr`.
pub fn connecting<P: loci::Peer>(creds: &Path, name: &str, peer: &str, addr: SocketAddr) -> loci::Builder<P> {
    loci::Instance::<P>::builder().credentials(creds).name(name).connect(peer, addr)
}

/// Runs `future` (or a remote access that is awaited directly) to completion on a fresh
/// single-threaded runtime.
pub fn block_on<F: std::future::IntoFuture>(future: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a test runtime");
    runtime.block_on(future.into_future())
}

/// Polls `condition` until it holds; panics after 10 s.
pub fn wait_until(mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "condition not reached within 10 s");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
