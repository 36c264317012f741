//! Subscriptions end: when the last local handle of a remote event or signal is dropped (and
//! nothing observes it), the remote stops sending it, and nothing is left behind on either side.

use std::time::{Duration, Instant};

use loci_tests::cluster::{current_job, log_lines, status, JobManager, TaskManager};
use loci_tests::{block_on, credentials, wait_until, Spawned};

/// This process's resident memory, in bytes.
fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn pair(tag: &str) -> (Spawned<JobManager>, Spawned<TaskManager>) {
    let creds = credentials(tag);
    let jm = Spawned::start(loci_tests::listening::<JobManager>(&creds, "jm"));
    let tm = Spawned::start(loci_tests::connecting::<TaskManager>(&creds, "tm", "jobmanager", jm.addr));
    wait_until(|| jm.here.remotes::<TaskManager>().connected().len() == 1);
    (jm, tm)
}

#[test]
fn a_dropped_remote_event_is_unsubscribed_and_a_hundred_thousand_leave_nothing_behind() {
    let (jm, tm) = pair("subs-events");
    let served = || jm.here.local(log_lines).observer_count();
    let baseline = served();

    // An observed copy keeps the subscription without a handle; cancelling ends it.
    let (seen_tx, seen) = std::sync::mpsc::channel();
    let observation = tm.here.remote(log_lines).as_local().observe(move |line| {
        let _ = seen_tx.send(line.clone());
    });
    wait_until(|| served() == baseline + 1);
    jm.here.local(log_lines).fire("hello".to_owned());
    assert_eq!(seen.recv_timeout(Duration::from_secs(5)).unwrap(), "hello");
    observation.cancel();
    wait_until(|| served() == baseline);
    // The last handle may be dropped on the connection's reader thread (it was setting a
    // value): the interest goes a moment later there.
    wait_until(|| tm.here.__interests() == 0);

    // A derived event keeps it too, while it is held.
    let mapped = tm.here.remote(log_lines).as_local().map(|line| line.len());
    wait_until(|| served() == baseline + 1);
    drop(mapped);
    wait_until(|| served() == baseline);

    // Subscribe and drop in a loop: memory stays flat, and the last calls are as fast as the first.
    // Each side is the fastest of five batches, so a burst of load on the machine during one
    // batch does not decide the comparison; anything left behind per subscription would make
    // every late batch slower, which the fastest one still shows.
    let round = |n: usize| {
        let started = Instant::now();
        for _ in 0..n {
            drop(tm.here.remote(log_lines).as_local());
        }
        started.elapsed()
    };
    let fastest_of_five = || (0..5).map(|_| round(1_000)).min().expect("five batches");
    round(2_000);
    let before = resident_bytes();
    let first = fastest_of_five();
    round(90_000);
    let last = fastest_of_five();
    let grown = resident_bytes().saturating_sub(before);
    println!("102 000 subscriptions: fastest first 1 000 in {first:?}, fastest last 1 000 in {last:?}, memory grew {grown} bytes");
    // The last handle may be dropped on the connection's reader thread (it was setting a
    // value): the interest goes a moment later there.
    wait_until(|| tm.here.__interests() == 0);
    assert!(grown < 8 << 20, "memory grew {grown} bytes over 102 000 subscriptions");
    assert!(
        last < first * 3 + Duration::from_millis(5),
        "the fastest last 1 000 took {last:?}, the fastest first {first:?}"
    );
    // The remote sees every unsubscription: it serves nobody afterwards.
    wait_until(|| served() == baseline);
}

#[test]
fn dropped_remote_signals_stop_being_followed_on_both_sides() {
    let (jm, tm) = pair("subs-signals");
    let served = || jm.here.local(current_job).observer_count();
    let baseline = served();
    for _ in 0..2_000 {
        let job = block_on(tm.here.remote(current_job).as_local()).unwrap();
        assert_eq!(job.get(), "idle");
    }
    // The last handle may be dropped on the connection's reader thread (it was setting a
    // value): the interest goes a moment later there.
    wait_until(|| tm.here.__interests() == 0);
    wait_until(|| served() == baseline);

    // `from` and `from_all` (a JobManager reads its TaskManagers' event) end the same way.
    let status_served = || tm.here.local(status).observer_count();
    let status_baseline = status_served();
    let remote = jm.here.remotes::<TaskManager>().connected().remove(0);
    for _ in 0..1_000 {
        drop(jm.here.remote(status).from(&remote));
        drop(jm.here.remote(status).from_all());
        drop(jm.here.remote(status).from_all_seq());
    }
    wait_until(|| jm.here.__interests() == 0);
    wait_until(|| status_served() == status_baseline);
}
