//! Runs the job system as processes: a JobManager, three TaskManagers with two TaskRunners each,
//! and a client counting the words of loci's guide. One TaskManager is killed in the middle of
//! the job; its tasks go elsewhere, and the job still ends with the right counts.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use flink::cluster::{self, Executables, TaskManagerPlan};
use loci::launch::Launch;

/// The job system's executables, next to this one and up to date.
fn executables() -> std::io::Result<Executables> {
    Ok(Executables::in_dir(&loci::launch::sibling_executables("flink", "jobs-client")?))
}

fn show(launch: &Launch, name: &str, needle: &str) {
    for line in launch.output(name).iter().filter(|line| line.contains(needle)) {
        println!("    {name} | {line}");
    }
}

fn main() -> std::io::Result<()> {
    let exes = executables()?;
    let mut launch = Launch::new().quiet();
    let dir = launch.credentials()?;
    let text = cluster::bundled_text()?;
    let path: PathBuf = dir.join("guide.txt");
    std::fs::write(&path, &text)?;
    println!("counting the words of loci's guide ({} lines) as a job of map and reduce tasks", text.lines().count());

    let jm = cluster::start_job_manager(&mut launch, &exes)?;
    println!("job manager up");
    for name in ["tm1", "tm2", "tm3"] {
        let plan = TaskManagerPlan { name: name.to_owned(), runners: 2, extra_slots: 0, pace_ms: 300 };
        cluster::start_task_manager(&mut launch, &exes, &jm, &plan)?;
        println!("{name} up with 2 task runners");
    }
    let started = Instant::now();
    cluster::start_client(&mut launch, &exes, &jm, "client", &path, 20)?;
    launch.wait_for("jobmanager", "job 0 from client", Duration::from_secs(20))?;
    show(&launch, "jobmanager", "job 0 from client");

    launch.wait_for_count("tm2", "goes to runner", 3, Duration::from_secs(30))?;
    println!("--- killing tm2 (SIGKILL) in the middle of the job ---");
    launch.kill("tm2")?;
    let killed = Instant::now();
    launch.wait_for("jobmanager", "reassigning it", Duration::from_secs(20))?;
    println!("tm2's tasks were reassigned {:.1} s after the kill:", killed.elapsed().as_secs_f64());
    show(&launch, "jobmanager", "reassigning it");

    launch.wait_for("client", "{", Duration::from_secs(120))?;
    println!("job finished in {:.1} s", started.elapsed().as_secs_f64());
    show(&launch, "jobmanager", "finished");
    let json = launch.output("client").into_iter().find(|line| line.starts_with('{')).unwrap_or_default();
    let counts: BTreeMap<String, u64> = serde_json::from_str(&json).map_err(std::io::Error::other)?;
    let mut top: Vec<(&String, &u64)> = counts.iter().collect();
    top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    println!("top words:");
    for (word, count) in top.into_iter().take(10) {
        println!("  {count:>6}  {word}");
    }
    let sequential = flink::jobs::count_words(&text);
    println!("same as a sequential count: {}", if sequential == counts { "yes" } else { "NO" });
    drop(launch);
    Ok(())
}
