//! Signals across peers, over QUIC on loopback.

use std::time::Duration;

use loci_tests::cluster::{current_job, free_slots, load_samples, log_lines, JobManager, TaskManager};
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

/// A task manager that reads `log_lines` slowly: it stalls on the first occurrences, so flow
/// control stops the job manager and its buffer fills. Counts what arrives, checking the order.
fn slow_reader(tm: &Spawned<TaskManager>) -> std::sync::Arc<std::sync::atomic::AtomicU64> {
    let received = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = std::sync::Arc::clone(&received);
    let _ = tm.here.remote(log_lines).as_local().observe(move |line| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        assert!(line.starts_with(&format!("{n}:")), "occurrence {n} arrived as {}", &line[..12.min(line.len())]);
        if n < 100 {
            std::thread::sleep(Duration::from_millis(3));
        }
    });
    received
}

#[test]
fn a_burst_fired_without_waiting_arrives_whole_and_in_order() {
    let creds = credentials("event-burst");
    let jm = Spawned::start(listening::<JobManager>(&creds, "jm"));
    let tm = Spawned::start(connecting::<TaskManager>(&creds, "tm", "jobmanager", jm.addr));
    let received = slow_reader(&tm);
    let lines = jm.here.local(log_lines);
    wait_until(|| lines.observer_count() == 1);
    // 10 MB in one burst from a thread the writer does not run on: ten times the buffer's
    // limit, within its hard limit. Nothing is dropped.
    const FIRED: u64 = 10_000;
    let padding = "x".repeat(1000);
    for n in 0..FIRED {
        lines.fire(format!("{n}:{padding}"));
    }
    wait_until(|| received.load(std::sync::atomic::Ordering::Relaxed) == FIRED);
}

#[test]
fn a_sender_that_awaits_send_feels_backpressure_and_loses_nothing() {
    let creds = credentials("event-backpressure");
    let jm = Spawned::start(listening::<JobManager>(&creds, "jm"));
    let tm = Spawned::start(connecting::<TaskManager>(&creds, "tm", "jobmanager", jm.addr));
    let received = slow_reader(&tm);
    let lines = jm.here.local(log_lines);
    wait_until(|| lines.observer_count() == 1);
    // 50 MB, three times the hard limit: only waiting for room keeps the subscriber connected.
    const SENT: u64 = 50_000;
    let padding = "x".repeat(1000);
    let started = std::time::Instant::now();
    let mut waited = Duration::ZERO;
    block_on(async {
        for n in 0..SENT {
            let before = std::time::Instant::now();
            lines.send(format!("{n}:{padding}")).await;
            waited += before.elapsed();
        }
    });
    println!("sent {SENT} occurrences of 1 kB in {:?}, {waited:?} of it waiting for room", started.elapsed());
    assert!(waited > Duration::ZERO, "the sender never waited");
    wait_until(|| received.load(std::sync::atomic::Ordering::Relaxed) == SENT);
    assert_eq!(jm.here.remotes::<TaskManager>().connected().len(), 1, "nobody was disconnected");
}

#[test]
fn one_slow_subscriber_slows_only_its_own_stream() {
    let creds = credentials("event-one-slow");
    let jm = Spawned::start(listening::<JobManager>(&creds, "jm"));
    let counters: Vec<_> = (0..3).map(|_| std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0))).collect();
    let mut managers = Vec::new();
    for (index, counter) in counters.iter().enumerate() {
        let tm = Spawned::start(connecting::<TaskManager>(&creds, &format!("tm{index}"), "jobmanager", jm.addr));
        let counter = std::sync::Arc::clone(counter);
        let slow = index == 2;
        let _ = tm.here.remote(log_lines).as_local().observe(move |line| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            assert!(line.starts_with(&format!("{n}:")), "occurrence {n} arrived out of order");
            if slow {
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        managers.push(tm);
    }
    let lines = jm.here.local(log_lines);
    wait_until(|| lines.observer_count() == 3);
    // 1.5 MB sent with backpressure: the two fast readers set the pace, not the slow one,
    // which needs 1.5 s for them and falls behind by a megabyte (within its 2 MiB lead).
    const SENT: u64 = 1_500;
    let padding = "x".repeat(1000);
    let started = std::time::Instant::now();
    block_on(async {
        for n in 0..SENT {
            lines.send(format!("{n}:{padding}")).await;
        }
    });
    let count = |i: usize| counters[i].load(std::sync::atomic::Ordering::Relaxed);
    wait_until(|| count(0) == SENT && count(1) == SENT);
    let fast = started.elapsed();
    let slow = count(2);
    println!("the fast readers got all {SENT} in {fast:?}; the slow one {slow} by then");
    assert!(fast < Duration::from_millis(750), "the fast readers waited for the slow one: {fast:?}");
    assert!(slow < SENT / 2, "the slow reader was not slow: {slow}");
    // The slow reader is not cut off: it gets everything, in order, later.
    wait_until(|| count(2) == SENT);
    assert_eq!(jm.here.remotes::<TaskManager>().connected().len(), 3);
}

#[test]
fn a_slow_reader_far_behind_paces_the_sender_instead_of_being_cut_off() {
    let creds = credentials("event-far-behind");
    let jm = Spawned::start(listening::<JobManager>(&creds, "jm"));
    let tm = Spawned::start(connecting::<TaskManager>(&creds, "fast", "jobmanager", jm.addr));
    let slow = Spawned::start(connecting::<TaskManager>(&creds, "slow", "jobmanager", jm.addr));
    let (fast_count, slow_count) = (
        std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0)),
        std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0)),
    );
    let counter = std::sync::Arc::clone(&fast_count);
    let _ = tm.here.remote(log_lines).as_local().observe(move |_| {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    });
    let counter = std::sync::Arc::clone(&slow_count);
    let _ = slow.here.remote(log_lines).as_local().observe(move |_| {
        if counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 2_000 {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    let lines = jm.here.local(log_lines);
    wait_until(|| lines.observer_count() == 2);
    // 30 MB: past its 2 MiB lead, the slow reader paces the sender; nobody is cut off.
    const SENT: u64 = 30_000;
    let padding = "x".repeat(1000);
    block_on(async {
        for n in 0..SENT {
            lines.send(format!("{n}:{padding}")).await;
        }
    });
    // Both readers get every line; the fast one's thread may still be finishing when the slow
    // one is done (two cores, five busy threads), so both are waited for.
    wait_until(|| slow_count.load(std::sync::atomic::Ordering::Relaxed) == SENT);
    wait_until(|| fast_count.load(std::sync::atomic::Ordering::Relaxed) == SENT);
    assert_eq!(jm.here.remotes::<TaskManager>().connected().len(), 2);
}

#[test]
fn a_subscriber_flooded_past_the_hard_limit_is_disconnected_not_silently_skipped() {
    let creds = credentials("event-overflow");
    let jm = Spawned::start(listening::<JobManager>(&creds, "jm"));
    let tm = Spawned::start(connecting::<TaskManager>(&creds, "tm", "jobmanager", jm.addr));
    let (left_tx, left) = std::sync::mpsc::channel();
    let _ = jm.here.remotes::<TaskManager>().left().observe(move |remote| {
        let _ = left_tx.send(remote.name().to_owned());
    });
    let (stalled_tx, stalled) = std::sync::mpsc::channel::<()>();
    let stall = std::sync::Mutex::new(Some(stalled_tx));
    let _ = tm.here.remote(log_lines).as_local().observe(move |_| {
        // Stops reading altogether: its runtime is stuck here for a while.
        if let Some(stalled) = stall.lock().unwrap().take() {
            let _ = stalled.send(());
            std::thread::sleep(Duration::from_secs(3));
        }
    });
    let lines = jm.here.local(log_lines);
    wait_until(|| lines.observer_count() == 1);
    lines.fire("0:first".to_owned());
    stalled.recv_timeout(Duration::from_secs(5)).unwrap();
    // 40 MB fired without waiting, while the subscriber reads nothing: past the hard limit.
    let padding = "x".repeat(1000);
    for n in 1..40_000 {
        lines.fire(format!("{n}:{padding}"));
    }
    assert_eq!(left.recv_timeout(Duration::from_secs(10)).unwrap(), "tm", "the subscriber was disconnected");
}

#[test]
fn a_lossy_event_drops_for_a_slow_reader_and_the_reader_sees_each_gap() {
    let creds = credentials("event-lossy");
    let jm = Spawned::start(listening::<JobManager>(&creds, "jm"));
    let tm = Spawned::start(connecting::<TaskManager>(&creds, "tm", "jobmanager", jm.addr));
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let missed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (got, lost) = (std::sync::Arc::clone(&received), std::sync::Arc::clone(&missed));
    let samples = tm.here.remote(load_samples).as_local();
    let _ = samples.observe(move |(n, _)| {
        let mut got = got.lock().unwrap();
        if got.len() < 100 {
            std::thread::sleep(Duration::from_millis(3));
        }
        got.push(*n);
    });
    let _ = tm.here.remote(load_samples).missed().observe(move |(from, count)| {
        assert_eq!(from.name(), "jm");
        lost.fetch_add(*count, std::sync::atomic::Ordering::Relaxed);
    });
    let fire = jm.here.local(load_samples);
    wait_until(|| fire.observer_count() == 1);
    let before = jm.here.dropped_occurrences();
    let process_before = loci::dropped_occurrences();
    // 20 MB fired at once: far more than the buffer holds, so samples are dropped, not queued.
    const FIRED: u64 = 20_000;
    let padding = "x".repeat(1000);
    for n in 0..FIRED {
        fire.fire((n, padding.clone()));
    }
    let dropped = jm.here.dropped_occurrences() - before;
    // The process-wide count includes this instance's (and other tests' running meanwhile).
    assert!(loci::dropped_occurrences() - process_before >= dropped);
    assert!(dropped > 0, "a burst far over the buffer drops samples of a lossy event");
    // One more, once the reader caught up, makes a gap at the end visible too.
    wait_until(|| received.lock().unwrap().len() as u64 == FIRED - dropped);
    fire.fire((FIRED, String::new()));
    wait_until(|| received.lock().unwrap().len() as u64 == FIRED - dropped + 1);
    let got = received.lock().unwrap().clone();
    assert!(got.windows(2).all(|pair| pair[0] < pair[1]), "samples arrive in order");
    wait_until(|| missed.load(std::sync::atomic::Ordering::Relaxed) == dropped);
    assert_eq!(
        got.len() as u64 + missed.load(std::sync::atomic::Ordering::Relaxed),
        FIRED + 1,
        "every sample arrived or was counted as missed"
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
