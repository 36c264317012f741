//! The gateway as separate processes over QUIC on loopback: a JobManager and two TaskManagers;
//! every operation of slide 16 is run from the JobManager's console and its effect is seen on
//! the TaskManager it addressed.

use std::path::PathBuf;
use std::time::Duration;

use loci::launch::Launch;

const JOBMANAGER: &str = env!("CARGO_BIN_EXE_jobmanager");
const TASKMANAGER: &str = env!("CARGO_BIN_EXE_taskmanager");
const WAIT: Duration = Duration::from_secs(15);

/// A JobManager and two registered TaskManagers, `tm1` and `tm2`.
fn cluster() -> Launch {
    let mut launch = Launch::new().quiet();
    launch.credentials().unwrap();
    launch.start("jobmanager", JOBMANAGER, &["--listen", "127.0.0.1:0"]).unwrap();
    let connect = format!("jobmanager={}", launch.listen_addr("jobmanager").unwrap());
    for name in ["tm1", "tm2"] {
        launch.start(name, TASKMANAGER, &["--connect", &connect]).unwrap();
    }
    for name in ["tm1", "tm2"] {
        launch.wait_for(name, "registered with the JobManager as instance", WAIT).unwrap();
    }
    launch
}

/// Types `command` into the JobManager's console and returns the line that answers it.
fn run(launch: &mut Launch, command: &str, answer: &str) -> String {
    let before = launch.count("jobmanager", answer);
    launch.say("jobmanager", command).unwrap();
    launch.wait_for_count("jobmanager", answer, before + 1, WAIT).unwrap()
}

#[test]
fn every_gateway_operation_has_its_effect_on_the_task_manager() {
    let mut launch = cluster();

    // submitTask: a real word count in a spawned task.
    let ack = run(&mut launch, "submit tm1 1 wordcount 0 the quick brown fox jumps", "submit exec-1 to tm1");
    assert!(ack.ends_with("Ok(Acknowledge)"), "{ack}");
    launch.wait_for("tm1", "task exec-1 (wordcount) finished: 5 words", WAIT).unwrap();

    // A task submitted, then stopped, then cancelled.
    run(&mut launch, "submit tm1 2 slow 100 one two three four five six seven eight nine ten", "submit exec-2 to tm1");
    let stopped = run(&mut launch, "stop tm1 2", "stop exec-2 on tm1");
    assert!(stopped.ends_with("Ok(Acknowledge)"), "{stopped}");
    launch.wait_for("tm1", "task exec-2 (slow) stopped after", WAIT).unwrap();
    run(&mut launch, "cancel tm1 2", "cancel exec-2 on tm1");
    launch.wait_for("tm1", "task exec-2 had already ended (Stopped)", WAIT).unwrap();
    // ... and one cancelled while it runs.
    run(&mut launch, "submit tm1 3 long 1000 a b c d e f g h", "submit exec-3 to tm1");
    run(&mut launch, "cancel tm1 3", "cancel exec-3 on tm1");
    launch.wait_for("tm1", "task exec-3 cancelled", WAIT).unwrap();

    // Checkpoints triggered and completed, recorded on the TaskManager (one-way calls).
    run(&mut launch, "trigger tm1 1 1 7 1000", "trigger checkpoint 7 of exec-1 sent to tm1");
    launch.wait_for("tm1", "Checkpoint 7@1000 of job 1 triggered for exec-1", WAIT).unwrap();
    run(&mut launch, "complete tm1 1 1 7 1000", "complete checkpoint 7 of exec-1 sent to tm1");
    launch.wait_for("tm1", "checkpoint 7@1000 of job 1 complete for exec-1", WAIT).unwrap();

    // Partitions updated, then failed: the task's results are discarded.
    let updated = run(&mut launch, "update tm1 1 0@host-a 1@host-b", "update partitions of exec-1 on tm1");
    assert!(updated.ends_with("Ok(Acknowledge)"), "{updated}");
    launch.wait_for("tm1", "task exec-1: 2 input partitions updated", WAIT).unwrap();

    // The stack trace: the TaskManager's task list, with what was recorded above.
    let trace = run(&mut launch, "trace tm1", "trace of tm1");
    assert!(trace.contains("exec-1 wordcount Finished 5 words, 2 partitions, 1 checkpoints (1 complete)"), "{trace}");
    assert!(trace.contains("exec-2 slow Stopped") && trace.contains("exec-3 long Cancelled"), "{trace}");

    run(&mut launch, "fail tm1 1", "fail partition of exec-1 sent to tm1");
    launch.wait_for("tm1", "Discarding the results produced by task execution exec-1", WAIT).unwrap();
    let trace = run(&mut launch, "trace tm1", "trace of tm1");
    assert!(trace.contains("exec-1 wordcount Finished 0 words, 0 partitions"), "{trace}");

    // The log, as the TaskManager wrote it.
    let log = run(&mut launch, "log tm1", "log of tm1");
    assert!(log.contains("task exec-1 (wordcount) submitted: 5 words"), "{log}");
    let tail = run(&mut launch, "log tm1 1", "log of tm1 (1 lines)");
    assert!(tail.contains("Discarding the results"), "{tail}");

    // Disconnect: a wrong instance id is ignored; the right one makes the TaskManager register again.
    run(&mut launch, "disconnect-instance tm2 999 stale", "disconnect instance 999 sent to tm2");
    launch.wait_for("tm2", "Received disconnect message for wrong instance 999", WAIT).unwrap();
    let before = run(&mut launch, "tms", "task managers:");
    run(&mut launch, "disconnect tm2 maintenance", "sent to tm2");
    launch.wait_for("tm2", "JobManager requested disconnect: maintenance; tasks cancelled", WAIT).unwrap();
    launch.wait_for_count("tm2", "registered with the JobManager as instance", 2, WAIT).unwrap();
    let after = run(&mut launch, "tms", "task managers:");
    assert_ne!(before, after, "tm2 registered again under a new instance id");

    // stopCluster: both TaskManagers exit 0.
    run(&mut launch, "stop-cluster succeeded job done", "stop-cluster sent to tm1, tm2");
    for tm in ["tm1", "tm2"] {
        let status = launch.wait_exit(tm, WAIT).unwrap();
        assert!(status.success(), "a stopped TaskManager exits with 0, got {status}:\n{:?}", launch.output(tm));
        let stopping = "Stopping TaskManager with final application status Succeeded and diagnostics: job done";
        assert_eq!(launch.count(tm, stopping), 1);
    }
}

#[test]
fn block_code_is_only_in_the_task_manager_executable() {
    // A string from the body of `stop_cluster`'s block, which runs on the TaskManager.
    let marker: &[u8] = b"the TaskManager stops on request of the JobManager";
    let contains = |path: &str| std::fs::read(path).unwrap().windows(marker.len()).any(|window| window == marker);
    assert!(contains(TASKMANAGER), "the marker must be in the TaskManager, or this test proves nothing");
    assert!(!contains(JOBMANAGER), "the JobManager executable contains the code of a block that runs on TaskManagers");
}

#[test]
fn block_code_is_only_in_the_task_manager_executable_in_release_builds() {
    // The release executables, built next to the debug ones this test runs with.
    let built = std::process::Command::new(env!("CARGO"))
        .args(["build", "--release", "--quiet", "-p", "flink", "--bins"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo");
    assert!(built.success(), "cargo build --release failed");
    let release = PathBuf::from(JOBMANAGER).parent().unwrap().parent().unwrap().join("release");
    let marker: &[u8] = b"the TaskManager stops on request of the JobManager";
    let contains = |path: PathBuf| std::fs::read(&path).unwrap().windows(marker.len()).any(|window| window == marker);
    assert!(
        contains(release.join("taskmanager")),
        "the marker must be in the TaskManager, or this test proves nothing"
    );
    assert!(!contains(release.join("jobmanager")), "the JobManager executable contains a TaskManager block's code");
}
