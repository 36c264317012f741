//! The job system as separate processes: a JobManager, TaskManagers with TaskRunners, and
//! clients. Results are checked against a sequential count written independently here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use flink::cluster::{self, Executables, TaskManagerPlan};
use loci::launch::Launch;

const WAIT: Duration = Duration::from_secs(60);

fn executables() -> Executables {
    Executables {
        job_manager: PathBuf::from(env!("CARGO_BIN_EXE_jobs-jobmanager")),
        task_manager: PathBuf::from(env!("CARGO_BIN_EXE_jobs-taskmanager")),
        task_runner: PathBuf::from(env!("CARGO_BIN_EXE_jobs-taskrunner")),
        client: PathBuf::from(env!("CARGO_BIN_EXE_jobs-client")),
    }
}

fn text_file(dir: &Path) -> (PathBuf, String) {
    let text = cluster::bundled_text().unwrap();
    let path = dir.join("text.txt");
    std::fs::write(&path, &text).unwrap();
    (path, text)
}

/// The JSON object the client printed (a line starting with `{`), parsed.
fn result_of(launch: &Launch, client: &str) -> BTreeMap<String, u64> {
    launch.wait_for(client, "{", WAIT).unwrap();
    let json =
        launch.output(client).into_iter().find(|line| line.starts_with('{')).expect("the client printed no result");
    serde_json::from_str(&json).unwrap()
}

fn plan(name: &str, runners: usize, extra_slots: u32, pace_ms: u64) -> TaskManagerPlan {
    TaskManagerPlan { name: name.to_owned(), runners, extra_slots, pace_ms }
}

#[test]
fn two_clients_jobs_run_at_once_and_equal_a_sequential_count() {
    let mut launch = Launch::new().quiet();
    let dir = launch.credentials().unwrap();
    let (path, text) = text_file(&dir);
    let exes = executables();
    let jm = cluster::start_job_manager(&mut launch, &exes).unwrap();
    for name in ["tm1", "tm2"] {
        cluster::start_task_manager(&mut launch, &exes, &jm, &plan(name, 2, 0, 0)).unwrap();
    }
    cluster::start_client(&mut launch, &exes, &jm, "client1", &path, 40).unwrap();
    cluster::start_client(&mut launch, &exes, &jm, "client2", &path, 25).unwrap();
    let expected = example_support::sequential_word_count(&text);
    assert!(expected.len() > 1000, "the bundled text is too small to mean much");
    assert_eq!(result_of(&launch, "client1"), expected);
    assert_eq!(result_of(&launch, "client2"), expected);
    // Both TaskManagers took part, and the JobManager saw two jobs at once.
    for tm in ["tm1", "tm2"] {
        assert!(launch.count(tm, "goes to runner") > 0, "{tm} ran nothing");
    }
    assert!(launch.count("jobmanager", "finished") >= 2);
}

#[test]
fn an_overloaded_task_manager_answers_so_and_its_tasks_are_reassigned() {
    let mut launch = Launch::new().quiet();
    let dir = launch.credentials().unwrap();
    let (path, text) = text_file(&dir);
    let exes = executables();
    let jm = cluster::start_job_manager(&mut launch, &exes).unwrap();
    // `liar` has one runner but claims four slots, so the JobManager gives it more than it can
    // take: it answers "overloaded", and those tasks go elsewhere.
    cluster::start_task_manager(&mut launch, &exes, &jm, &plan("liar", 1, 3, 20)).unwrap();
    cluster::start_task_manager(&mut launch, &exes, &jm, &plan("honest", 2, 0, 0)).unwrap();
    cluster::start_client(&mut launch, &exes, &jm, "client", &path, 30).unwrap();
    assert_eq!(result_of(&launch, "client"), example_support::sequential_word_count(&text));
    assert!(launch.count("liar", "overloaded") > 0, "the liar was never overloaded");
    assert!(launch.count("jobmanager", "Overloaded; reassigning it") > 0);
}

#[test]
fn a_killed_task_manager_has_its_tasks_reassigned_and_is_used_again_when_back() {
    let mut launch = Launch::new().quiet();
    let dir = launch.credentials().unwrap();
    let (path, text) = text_file(&dir);
    let exes = executables();
    let jm = cluster::start_job_manager(&mut launch, &exes).unwrap();
    cluster::start_task_manager(&mut launch, &exes, &jm, &plan("doomed", 2, 0, 150)).unwrap();
    cluster::start_task_manager(&mut launch, &exes, &jm, &plan("steady", 2, 0, 150)).unwrap();
    cluster::start_client(&mut launch, &exes, &jm, "client", &path, 40).unwrap();
    launch.wait_for_count("doomed", "goes to runner", 2, WAIT).unwrap();
    launch.kill("doomed").unwrap();
    let expected = example_support::sequential_word_count(&text);
    assert_eq!(result_of(&launch, "client"), expected, "the job survives the crash");
    assert!(launch.count("jobmanager", "reassigning it") > 0, "nothing was reassigned");
    assert!(launch.count("jobmanager", "task manager doomed left") > 0);

    // Back on its port: its runners find it again, and the next job uses it.
    launch.restart("doomed").unwrap();
    launch.wait_for("doomed", "free slots: 2", WAIT).unwrap();
    cluster::start_client(&mut launch, &exes, &jm, "again", &path, 40).unwrap();
    assert_eq!(result_of(&launch, "again"), expected);
    assert!(launch.count("doomed", "goes to runner") > 0, "the restarted TaskManager was not used");
}
