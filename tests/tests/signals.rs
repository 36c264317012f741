//! Signals across peers, over QUIC on loopback.

use std::time::Duration;

use loci_tests::cluster::{current_job, free_slots, log_lines, JobManager, TaskManager};
use loci_tests::{block_on, connecting, credentials, listening, wait_until, Spawned};

#[test]
fn as_local_starts_with_the_current_value_and_follows_changes() {
    let creds = credentials("signal-as-local");
    let jm = Spawned::start(listening::<JobManager>(&creds, "jm"));
    jm.here.local(current_job).set("word-count".to_owned());
    let tm = Spawned::start(connecting::<TaskManager>(&creds, "tm", "jobmanager", jm.addr));
    let job = block_on(tm.here.remote(current_job).as_local()).unwrap();
    assert_eq!(job.get(), "word-count", "the local signal starts with the remote's current value");
    jm.here.local(current_job).set("page-rank".to_owned());
    wait_until(|| job.get() == "page-rank");
}

#[test]
fn a_fast_writer_ends_with_the_latest_value_at_the_reader() {
    let creds = credentials("signal-conflate");
    let jm = Spawned::start(listening::<JobManager>(&creds, "jm"));
    let tm = Spawned::start(connecting::<TaskManager>(&creds, "tm", "jobmanager", jm.addr));
    let job = block_on(tm.here.remote(current_job).as_local()).unwrap();
    let source = jm.here.local(current_job);
    for n in 0..20_000 {
        source.set(format!("job {n} {}", "x".repeat(100)));
    }
    wait_until(|| job.get().starts_with("job 19999 "));
}

#[test]
fn from_all_gives_every_remote_value_and_follows_joins_and_leaves() {
    let creds = credentials("signal-from-all");
    let jm = Spawned::start(listening::<JobManager>(&creds, "jm"));
    let slots = jm.here.remote(free_slots).from_all();
    let tm1 = Spawned::start(connecting::<TaskManager>(&creds, "tm1", "jobmanager", jm.addr));
    let tm2 = Spawned::start(connecting::<TaskManager>(&creds, "tm2", "jobmanager", jm.addr));
    wait_until(|| slots.get().len() == 2);
    tm2.here.local(free_slots).set(1);
    wait_until(|| slots.get().iter().any(|(remote, n)| remote.name() == "tm2" && *n == 1));
    tm1.shutdown();
    wait_until(|| slots.get().len() == 1);
    assert_eq!(slots.get()[0].0.name(), "tm2");

    let connected = jm.here.remotes::<TaskManager>().connected_signal();
    assert_eq!(connected.get().len(), 1);
    let tm3 = Spawned::start(connecting::<TaskManager>(&creds, "tm3", "jobmanager", jm.addr));
    wait_until(|| connected.get().len() == 2);
    drop(tm3);
    wait_until(|| connected.get().len() == 1);
}

#[test]
fn events_for_a_slow_subscriber_are_dropped_and_counted_not_queued() {
    let creds = credentials("event-drops");
    let jm = Spawned::start(listening::<JobManager>(&creds, "jm"));
    let tm = Spawned::start(connecting::<TaskManager>(&creds, "tm", "jobmanager", jm.addr));
    let received = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = std::sync::Arc::clone(&received);
    let _ = tm.here.remote(log_lines).as_local().observe(move |_| {
        // A slow subscriber: it stalls its runtime on the first occurrences, so flow control
        // stops the sender and the sender's buffer fills.
        if counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 100 {
            std::thread::sleep(Duration::from_millis(3));
        }
    });
    let lines = jm.here.local(log_lines);
    wait_until(|| lines.observer_count() == 1);
    let before = loci::dropped_occurrences();
    // 20 MB in one burst from a thread the writer does not run on: far over the 1 MiB buffer.
    const FIRED: u64 = 20_000;
    let line = "x".repeat(1000);
    for _ in 0..FIRED {
        lines.fire(line.clone());
    }
    let dropped = loci::dropped_occurrences() - before;
    assert!(dropped > 0, "a burst far over the send buffer must drop occurrences");
    wait_until(|| received.load(std::sync::atomic::Ordering::Relaxed) == FIRED - dropped);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        received.load(std::sync::atomic::Ordering::Relaxed),
        FIRED - dropped,
        "every occurrence not dropped arrives"
    );
}

#[test]
fn from_follows_the_signal_of_one_remote() {
    let creds = credentials("signal-from");
    let jm = Spawned::start(listening::<JobManager>(&creds, "jm"));
    let tm = Spawned::start(connecting::<TaskManager>(&creds, "tm", "jobmanager", jm.addr));
    wait_until(|| jm.here.remotes::<TaskManager>().connected().len() == 1);
    let remote = jm.here.remotes::<TaskManager>().connected().remove(0);
    tm.here.local(free_slots).set(3);
    let slots = block_on(jm.here.remote(free_slots).from(&remote)).unwrap();
    assert_eq!(slots.get(), 3);
    tm.here.local(free_slots).set(2);
    wait_until(|| slots.get() == 2);
}
