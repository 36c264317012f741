//! Measures the job system: a 10 MB text counted on 1, 2 and 4 TaskManagers (two TaskRunners
//! each) against a sequential count in the same run, and the time from a TaskManager's SIGKILL
//! to its tasks running elsewhere. Prints a table for `docs/flink-jobs.md`.

use std::path::Path;
use std::time::{Duration, Instant};

use flink::cluster::{self, Executables, TaskManagerPlan};
use loci::launch::Launch;

const TEXT_BYTES: usize = 10 << 20;
const LINES_PER_TASK: usize = 4_000;

/// The job system's executables, next to this one and up to date.
fn executables() -> std::io::Result<Executables> {
    Ok(Executables::in_dir(&loci::launch::sibling_executables("flink", "jobs-client")?))
}

/// Runs one job on `managers` TaskManagers; the time from the client's start to its result.
fn distributed(exes: &Executables, managers: usize, text: &Path, expected: &flink::jobs::WordCount) -> Duration {
    let mut launch = Launch::new().quiet();
    launch.credentials().expect("credentials");
    let jm = cluster::start_job_manager(&mut launch, exes).expect("job manager");
    for n in 1..=managers {
        let plan = TaskManagerPlan { name: format!("tm{n}"), runners: 2, extra_slots: 0, pace_ms: 0 };
        cluster::start_task_manager(&mut launch, exes, &jm, &plan).expect("task manager");
    }
    let started = Instant::now();
    cluster::start_client(&mut launch, exes, &jm, "client", text, LINES_PER_TASK).expect("client");
    let json = launch.wait_for("client", "{", Duration::from_secs(300)).expect("a result");
    let elapsed = started.elapsed();
    let counts: flink::jobs::WordCount = serde_json::from_str(&json).expect("JSON");
    assert_eq!(&counts, expected, "the distributed count differs from the sequential one");
    elapsed
}

/// Kills a TaskManager while its runners work; the time until the JobManager reassigns.
fn crash_to_reassignment(exes: &Executables, text: &Path) -> Duration {
    let mut launch = Launch::new().quiet();
    launch.credentials().expect("credentials");
    let jm = cluster::start_job_manager(&mut launch, exes).expect("job manager");
    for name in ["doomed", "steady"] {
        let plan = TaskManagerPlan { name: name.to_owned(), runners: 2, extra_slots: 0, pace_ms: 2_000 };
        cluster::start_task_manager(&mut launch, exes, &jm, &plan).expect("task manager");
    }
    cluster::start_client(&mut launch, exes, &jm, "client", text, LINES_PER_TASK).expect("client");
    launch.wait_for_count("doomed", "goes to runner", 2, Duration::from_secs(30)).expect("work at doomed");
    launch.kill("doomed").expect("kill");
    let killed = Instant::now();
    launch.wait_for("jobmanager", "reassigning it", Duration::from_secs(30)).expect("a reassignment");
    killed.elapsed()
}

fn main() {
    let exes = executables().expect("the job system's executables");
    let guide = cluster::bundled_text().expect("the guide");
    let mut text = String::with_capacity(TEXT_BYTES + guide.len());
    while text.len() < TEXT_BYTES {
        text.push_str(&guide);
    }
    let dir = std::env::temp_dir().join(format!("loci-jobs-measure-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let path = dir.join("text.txt");
    std::fs::write(&path, &text).expect("the text");
    let megabytes = text.len() as f64 / (1 << 20) as f64;

    let started = Instant::now();
    let expected = flink::jobs::count_words(&text);
    let sequential = started.elapsed();
    println!("{megabytes:.1} MB, {} lines, {LINES_PER_TASK} lines per map task", text.lines().count());
    println!("{:<22} {:>9} {:>10} {:>18}", "run", "time", "MB/s", "vs sequential");
    let row = |name: &str, time: Duration| {
        println!(
            "{name:<22} {:>7.2} s {:>10.1} {:>17.2}×",
            time.as_secs_f64(),
            megabytes / time.as_secs_f64(),
            sequential.as_secs_f64() / time.as_secs_f64()
        );
    };
    row("sequential", sequential);
    for managers in [1, 2, 4] {
        let time = distributed(&exes, managers, &path, &expected);
        row(&format!("{managers} TaskManager(s) × 2"), time);
    }
    let reassigned = crash_to_reassignment(&exes, &path);
    println!("SIGKILL of a TaskManager to its tasks reassigned: {:.2} s", reassigned.as_secs_f64());
    let _ = std::fs::remove_dir_all(&dir);
}
