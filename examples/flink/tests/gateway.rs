//! The gateway as separate processes over QUIC on loopback: a JobManager and two TaskManagers;
//! every operation of slide 16 is run from the JobManager's console and its effect is seen on
//! the TaskManager it addressed.

use std::path::PathBuf;

use loci_tests::credentials;
use loci_tests::process::Proc;

const JOBMANAGER: &str = env!("CARGO_BIN_EXE_jobmanager");
const TASKMANAGER: &str = env!("CARGO_BIN_EXE_taskmanager");

/// A JobManager and two registered TaskManagers, `tm1` and `tm2`.
fn cluster(tag: &str) -> (PathBuf, Proc, Vec<Proc>) {
    let creds = credentials(tag);
    let dir = creds.to_str().unwrap();
    let jm = Proc::spawn(JOBMANAGER, &["--listen", "127.0.0.1:0", "--name", "jobmanager", "--credentials", dir]);
    let line = jm.wait_for("listening");
    let addr = line.rsplit("local_addr=").next().unwrap().trim().to_owned();
    let connect = format!("jobmanager={addr}");
    let tms: Vec<Proc> = ["tm1", "tm2"]
        .iter()
        .map(|name| Proc::spawn(TASKMANAGER, &["--connect", &connect, "--name", name, "--credentials", dir]))
        .collect();
    for tm in &tms {
        tm.wait_for("registered with the JobManager as instance");
    }
    (creds, jm, tms)
}

/// Types `command` into the JobManager's console and returns the line that answers it.
fn run(jm: &mut Proc, command: &str, answer: &str) -> String {
    let before = jm.count(answer);
    jm.say(command);
    jm.wait_for_count(answer, before + 1);
    jm.output().lines().filter(|line| line.contains(answer)).nth(before).unwrap().to_owned()
}

#[test]
fn every_gateway_operation_has_its_effect_on_the_task_manager() {
    let (_creds, mut jm, mut tms) = cluster("ops");

    // submitTask: a real word count in a spawned task.
    let ack = run(&mut jm, "submit tm1 1 wordcount 0 the quick brown fox jumps", "submit exec-1 to tm1");
    assert!(ack.ends_with("Ok(Acknowledge)"), "{ack}");
    tms[0].wait_for("task exec-1 (wordcount) finished: 5 words");

    // A task submitted, then stopped, then cancelled.
    run(&mut jm, "submit tm1 2 slow 100 one two three four five six seven eight nine ten", "submit exec-2 to tm1");
    let stopped = run(&mut jm, "stop tm1 2", "stop exec-2 on tm1");
    assert!(stopped.ends_with("Ok(Acknowledge)"), "{stopped}");
    tms[0].wait_for("task exec-2 (slow) stopped after");
    run(&mut jm, "cancel tm1 2", "cancel exec-2 on tm1");
    tms[0].wait_for("task exec-2 had already ended (Stopped)");
    // ... and one cancelled while it runs.
    run(&mut jm, "submit tm1 3 long 1000 a b c d e f g h", "submit exec-3 to tm1");
    run(&mut jm, "cancel tm1 3", "cancel exec-3 on tm1");
    tms[0].wait_for("task exec-3 cancelled");

    // Checkpoints triggered and completed, recorded on the TaskManager (one-way calls).
    run(&mut jm, "trigger tm1 1 1 7 1000", "trigger checkpoint 7 of exec-1 sent to tm1");
    tms[0].wait_for("Checkpoint 7@1000 of job 1 triggered for exec-1");
    run(&mut jm, "complete tm1 1 1 7 1000", "complete checkpoint 7 of exec-1 sent to tm1");
    tms[0].wait_for("checkpoint 7@1000 of job 1 complete for exec-1");

    // Partitions updated, then failed: the task's results are discarded.
    let updated = run(&mut jm, "update tm1 1 0@host-a 1@host-b", "update partitions of exec-1 on tm1");
    assert!(updated.ends_with("Ok(Acknowledge)"), "{updated}");
    tms[0].wait_for("task exec-1: 2 input partitions updated");

    // The stack trace: the TaskManager's task list, with what was recorded above.
    let trace = run(&mut jm, "trace tm1", "trace of tm1");
    assert!(trace.contains("exec-1 wordcount Finished 5 words, 2 partitions, 1 checkpoints (1 complete)"), "{trace}");
    assert!(trace.contains("exec-2 slow Stopped") && trace.contains("exec-3 long Cancelled"), "{trace}");

    run(&mut jm, "fail tm1 1", "fail partition of exec-1 sent to tm1");
    tms[0].wait_for("Discarding the results produced by task execution exec-1");
    let trace = run(&mut jm, "trace tm1", "trace of tm1");
    assert!(trace.contains("exec-1 wordcount Finished 0 words, 0 partitions"), "{trace}");

    // The log, as the TaskManager wrote it.
    let log = run(&mut jm, "log tm1", "log of tm1");
    assert!(log.contains("task exec-1 (wordcount) submitted: 5 words"), "{log}");
    let tail = run(&mut jm, "log tm1 1", "log of tm1 (1 lines)");
    assert!(tail.contains("Discarding the results"), "{tail}");

    // Disconnect: a wrong instance id is ignored; the right one makes the TaskManager register again.
    run(&mut jm, "disconnect-instance tm2 999 stale", "disconnect instance 999 sent to tm2");
    tms[1].wait_for("Received disconnect message for wrong instance 999");
    let before = run(&mut jm, "tms", "task managers:");
    run(&mut jm, "disconnect tm2 maintenance", "sent to tm2");
    tms[1].wait_for("JobManager requested disconnect: maintenance; tasks cancelled");
    tms[1].wait_for_count("registered with the JobManager as instance", 2);
    let after = run(&mut jm, "tms", "task managers:");
    assert_ne!(before, after, "tm2 registered again under a new instance id");

    // stopCluster: both TaskManagers exit 0.
    run(&mut jm, "stop-cluster succeeded job done", "stop-cluster sent to tm1, tm2");
    for tm in &mut tms {
        let status = tm.wait_exit();
        assert!(status.success(), "a stopped TaskManager exits with 0, got {status}:\n{}", tm.output());
        assert!(tm
            .output()
            .contains("Stopping TaskManager with final application status Succeeded and diagnostics: job done"));
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
