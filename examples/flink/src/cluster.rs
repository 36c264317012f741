//! Starting the job system as processes with the launcher: shared by the demo and the process
//! tests.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use loci::launch::Launch;

/// Where the job system's executables are.
#[derive(Debug, Clone)]
pub struct Executables {
    /// `jobs-jobmanager`.
    pub job_manager: PathBuf,
    /// `jobs-taskmanager`.
    pub task_manager: PathBuf,
    /// `jobs-taskrunner`.
    pub task_runner: PathBuf,
    /// `jobs-client`.
    pub client: PathBuf,
}

impl Executables {
    /// The executables in directory `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Executables {
            job_manager: dir.join("jobs-jobmanager"),
            task_manager: dir.join("jobs-taskmanager"),
            task_runner: dir.join("jobs-taskrunner"),
            client: dir.join("jobs-client"),
        }
    }
}

/// How to start one TaskManager.
#[derive(Debug, Clone)]
pub struct TaskManagerPlan {
    /// Its name; its runners are `NAME-r1`, `NAME-r2`, ...
    pub name: String,
    /// How many TaskRunners it has.
    pub runners: usize,
    /// Slots it claims beyond its idle runners (to be overloaded on purpose).
    pub extra_slots: u32,
    /// How long each runner takes at least per task, in milliseconds.
    pub pace_ms: u64,
}

/// Starts a JobManager called `jobmanager`; returns the `--connect` value that reaches it.
pub fn start_job_manager(launch: &mut Launch, exes: &Executables) -> io::Result<String> {
    launch.start("jobmanager", &exes.job_manager, &["--listen", "127.0.0.1:0"])?;
    Ok(format!("jobmanager={}", launch.listen_addr("jobmanager")?))
}

/// Starts a TaskManager and its runners, and waits until it offers their slots.
pub fn start_task_manager(
    launch: &mut Launch,
    exes: &Executables,
    job_manager: &str,
    plan: &TaskManagerPlan,
) -> io::Result<()> {
    let extra = plan.extra_slots.to_string();
    launch.start(
        &plan.name,
        &exes.task_manager,
        &["--listen", "127.0.0.1:0", "--connect", job_manager, "--extra-slots", &extra],
    )?;
    let connect = format!("taskmanager={}", launch.listen_addr(&plan.name)?);
    let pace = plan.pace_ms.to_string();
    for runner in 1..=plan.runners {
        launch.start(
            &format!("{}-r{runner}", plan.name),
            &exes.task_runner,
            &["--connect", &connect, "--pace-ms", &pace],
        )?;
    }
    let slots = format!("free slots: {}", plan.runners as u32 + plan.extra_slots);
    launch.wait_for(&plan.name, &slots, Duration::from_secs(20))?;
    Ok(())
}

/// Starts a client called `name` that counts the words of `text` in tasks of `lines` lines.
pub fn start_client(
    launch: &mut Launch,
    exes: &Executables,
    job_manager: &str,
    name: &str,
    text: &Path,
    lines: usize,
) -> io::Result<()> {
    let text = text.to_string_lossy().into_owned();
    let lines = lines.to_string();
    launch.start(name, &exes.client, &["--connect", job_manager, "--text", &text, "--lines", &lines])
}

/// The text the demo and tests count: loci's own guide, every page of `docs/` and
/// `docs/reference/` one after another, in name order.
pub fn bundled_text() -> io::Result<String> {
    example_support::guide_text(true)
}
