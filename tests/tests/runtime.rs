//! Remote access, aggregation, events, topology and failures, over real QUIC on loopback.
//! Every instance runs on its own thread with its own runtime.

use std::time::{Duration, Instant};

use loci::RemoteError;
use loci_tests::cluster::{
    alerts, blob, crash, free_slots, job_count, slow_echo, status, submit_task, Deployment, JobManager, Monitor,
    TaskManager,
};
use loci_tests::{block_on, connecting, credentials, listening, wait_until, Spawned};

/// A job manager and `n` task managers named tm0, tm1, ...
fn cluster(tag: &str, n: usize) -> (std::path::PathBuf, Spawned<JobManager>, Vec<Spawned<TaskManager>>) {
    let creds = credentials(tag);
    let jm = Spawned::start(listening::<JobManager>(&creds, "jm"));
    let tms = (0..n)
        .map(|i| Spawned::start(connecting::<TaskManager>(&creds, &format!("tm{i}"), "jobmanager", jm.addr)))
        .collect();
    wait_until(|| jm.here.remotes::<TaskManager>().connected().len() == n);
    (creds, jm, tms)
}

#[test]
fn as_local_over_single_reads_the_one_remote() {
    let (_creds, _jm, tms) = cluster("single", 1);
    assert_eq!(block_on(tms[0].here.remote(job_count).as_local()), Ok(42));
}

#[test]
fn as_local_over_optional_yields_an_option() {
    let creds = credentials("optional");
    let jm = Spawned::start(listening::<JobManager>(&creds, "jm"));
    assert_eq!(block_on(jm.here.remote(alerts).as_local()), Ok(None), "no monitor connected yet");
    let monitor = Spawned::start(connecting::<Monitor>(&creds, "monitor", "jobmanager", jm.addr));
    assert_eq!(block_on(monitor.here.remote(job_count).as_local()), Ok(Some(42)));
    wait_until(|| jm.here.remotes::<Monitor>().connected().len() == 1);
    assert_eq!(block_on(jm.here.remote(alerts).as_local()), Ok(Some(vec!["disk full".to_owned()])));
}

#[test]
fn from_all_calls_every_remote_concurrently_and_pairs_results_with_remotes() {
    let (_creds, jm, _tms) = cluster("from-all", 3);
    let deployment = Deployment { task: "word-count".into(), slots: 2 };
    let mut answers: Vec<(String, String)> = block_on(jm.here.remote(submit_task).from_all().call(deployment))
        .into_iter()
        .map(|(remote, answer)| (remote.name().to_owned(), answer.unwrap()))
        .collect();
    answers.sort();
    assert_eq!(
        answers,
        vec![
            ("tm0".to_owned(), "tm0 runs word-count on 2 slots".to_owned()),
            ("tm1".to_owned(), "tm1 runs word-count on 2 slots".to_owned()),
            ("tm2".to_owned(), "tm2 runs word-count on 2 slots".to_owned()),
        ]
    );

    let started = Instant::now();
    let echoes = block_on(jm.here.remote(slow_echo).from_all().call((400, "hi".to_owned())));
    let elapsed = started.elapsed();
    assert_eq!(echoes.len(), 3);
    assert!(echoes.iter().all(|(_, echo)| echo.as_deref() == Ok("hi")));
    assert!(
        elapsed >= Duration::from_millis(400) && elapsed < Duration::from_millis(1100),
        "3 calls of 400 ms took {elapsed:?}: not concurrent"
    );
}

#[test]
fn from_selects_one_remote() {
    let (_creds, jm, _tms) = cluster("select", 2);
    let tm1 = jm.here.remotes::<TaskManager>().connected().into_iter().find(|r| r.name() == "tm1").unwrap();
    let answer = block_on(jm.here.remote(submit_task).from(&tm1).call(Deployment { task: "map".into(), slots: 1 }));
    assert_eq!(answer.unwrap(), "tm1 runs map on 1 slots");
}

#[test]
fn a_panic_comes_back_as_a_typed_error_and_the_remote_keeps_serving() {
    let (_creds, jm, _tms) = cluster("panic", 1);
    let tm = jm.here.remotes::<TaskManager>().connected().remove(0);
    match block_on(jm.here.remote(crash).from(&tm).call("out of memory".into())) {
        Err(RemoteError::Panicked { message, item, .. }) => {
            assert_eq!(item, "crash");
            assert_eq!(message, "task manager crashed: out of memory");
        }
        other => panic!("expected a panic error, got {other:?}"),
    }
    let answer = block_on(jm.here.remote(slow_echo).from(&tm).call((0, "still here".into())));
    assert_eq!(answer.as_deref(), Ok("still here"));
}

#[test]
fn a_pending_call_fails_promptly_when_its_remote_crashes() {
    let (_creds, jm, mut tms) = cluster("crash", 1);
    let tm = jm.here.remotes::<TaskManager>().connected().remove(0);
    let here = jm.here.clone();
    let pending = std::thread::spawn(move || {
        let started = Instant::now();
        (block_on(here.remote(slow_echo).from(&tm).call((60_000, "never".into()))), started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(200));
    tms.remove(0).crash();
    let (outcome, waited) = pending.join().unwrap();
    assert!(matches!(outcome, Err(RemoteError::Disconnected { item: "slow_echo", .. })), "{outcome:?}");
    // A dead remote is noticed within the idle timeout (4 s by default).
    assert!(waited < Duration::from_secs(5), "the call hung for {waited:?}");
}

#[test]
fn events_arrive_in_order_from_each_sender() {
    let (_creds, jm, tms) = cluster("events", 2);
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&received);
    let _ = jm
        .here
        .remote(status)
        .from_all_seq()
        .observe(move |(from, n)| sink.lock().unwrap().push((from.name().to_owned(), *n)));
    // The subscription reaches the task managers with the next frames; wait until it did.
    wait_until(|| tms.iter().all(|tm| tm.here.local(status).observer_count() == 1));
    // Fewer than the per-connection send queue holds, so no occurrence may be dropped.
    const N: u64 = 2_000;
    for n in 0..N {
        for tm in &tms {
            tm.here.local(status).fire(n);
        }
    }
    wait_until(|| received.lock().unwrap().len() == 2 * N as usize);
    let received = received.lock().unwrap();
    for name in ["tm0", "tm1"] {
        let from_one: Vec<u64> = received.iter().filter(|(from, _)| from == name).map(|(_, n)| *n).collect();
        assert_eq!(from_one, (0..N).collect::<Vec<_>>(), "occurrences from {name} out of order or lost");
    }
}

#[test]
fn joined_and_left_report_topology_changes() {
    let creds = credentials("topology");
    let jm = Spawned::start(listening::<JobManager>(&creds, "jm"));
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (joined, left) = (std::sync::Arc::clone(&log), std::sync::Arc::clone(&log));
    let remotes = jm.here.remotes::<TaskManager>();
    let _ = remotes.joined().observe(move |tm| joined.lock().unwrap().push(format!("+{}", tm.name())));
    let _ = remotes.left().observe(move |tm| left.lock().unwrap().push(format!("-{}", tm.name())));
    let tm = Spawned::start(connecting::<TaskManager>(&creds, "tm-a", "jobmanager", jm.addr));
    wait_until(|| log.lock().unwrap().len() == 1);
    assert_eq!(jm.here.remotes::<TaskManager>().connected().len(), 1);
    tm.shutdown();
    wait_until(|| log.lock().unwrap().len() == 2);
    assert_eq!(*log.lock().unwrap(), vec!["+tm-a", "-tm-a"]);
    assert!(jm.here.remotes::<TaskManager>().connected().is_empty());
}

#[test]
fn results_and_arguments_over_the_frame_limit_fail_that_call_only() {
    let creds = credentials("limits");
    let jm = Spawned::start(listening::<JobManager>(&creds, "jm").max_frame_bytes(64 * 1024));
    let _tm = Spawned::start(connecting::<TaskManager>(&creds, "tm", "jobmanager", jm.addr).max_frame_bytes(64 * 1024));
    wait_until(|| jm.here.remotes::<TaskManager>().connected().len() == 1);
    let tm = jm.here.remotes::<TaskManager>().connected().remove(0);

    match block_on(jm.here.remote(blob).from(&tm).call(200_000)) {
        Err(RemoteError::Rejected { reason, .. }) => assert!(reason.contains("over the frame limit"), "{reason}"),
        other => panic!("expected a rejection, got {other:?}"),
    }
    match block_on(jm.here.remote(slow_echo).from(&tm).call((0, "x".repeat(100_000)))) {
        Err(RemoteError::TooLarge { item: "slow_echo", limit: 65_536, .. }) => {}
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert_eq!(
        block_on(jm.here.remote(blob).from(&tm).call(1000)).map(|b| b.len()),
        Ok(1000),
        "the connection must survive"
    );
}

#[test]
fn a_second_connection_on_a_single_tie_is_refused() {
    let creds = credentials("second-single");
    let jm1 = Spawned::start(listening::<JobManager>(&creds, "jm1"));
    let jm2 = Spawned::start(listening::<JobManager>(&creds, "jm2"));
    let error = Spawned::try_start(
        connecting::<TaskManager>(&creds, "tm", "jobmanager", jm1.addr).connect("jobmanager", jm2.addr),
    )
    .err()
    .expect("the second job manager must be refused")
    .to_string();
    assert!(error.contains("tie `TaskManager -> JobManager = Single` already has its one remote"), "{error}");
}

#[test]
fn a_multiple_tie_takes_as_many_remotes_as_configured_and_refuses_more() {
    let creds = credentials("per-tie-limit");
    let jm = Spawned::start(listening::<JobManager>(&creds, "jm").max_connections_per_tie(2));
    let _tm1 = Spawned::start(connecting::<TaskManager>(&creds, "tm1", "jobmanager", jm.addr));
    let _tm2 = Spawned::start(connecting::<TaskManager>(&creds, "tm2", "jobmanager", jm.addr));
    wait_until(|| jm.here.remotes::<TaskManager>().connected().len() == 2);
    let error = Spawned::try_start(connecting::<TaskManager>(&creds, "tm3", "jobmanager", jm.addr))
        .err()
        .expect("a third task manager must be refused")
        .to_string();
    assert!(error.contains("tie `JobManager -> TaskManager = Multiple` has 2 remotes already"), "{error}");
    assert!(error.contains("--max-connections-per-tie"), "{error}");
    assert_eq!(jm.here.remotes::<TaskManager>().connected().len(), 2);
    // A place that frees up is taken again.
    drop(_tm1);
    wait_until(|| jm.here.remotes::<TaskManager>().connected().len() == 1);
    let _tm4 = Spawned::start(connecting::<TaskManager>(&creds, "tm4", "jobmanager", jm.addr));
    wait_until(|| jm.here.remotes::<TaskManager>().connected().len() == 2);
}

#[test]
fn zero_connections_per_tie_is_a_configuration_error() {
    let creds = credentials("per-tie-zero");
    let error = Spawned::try_start(listening::<JobManager>(&creds, "jm").max_connections_per_tie(0))
        .err()
        .expect("0 must be refused")
        .to_string();
    assert!(error.contains("--max-connections-per-tie 0"), "{error}");
}

#[test]
fn connecting_to_an_untied_peer_kind_is_a_configuration_error() {
    let creds = credentials("untied");
    let monitor = Spawned::start(listening::<Monitor>(&creds, "monitor"));
    let error =
        Spawned::try_start(connecting::<TaskManager>(&creds, "tm", "monitor", monitor.addr)).err().unwrap().to_string();
    assert!(error.contains("`TaskManager` has no tie to `Monitor`"), "{error}");
}

#[test]
fn events_and_signals_of_selected_remotes_come_one_per_remote_in_the_order_given() {
    let (_creds, jm, tms) = cluster("each-reactive", 3);
    let connected = jm.here.remotes::<TaskManager>().connected();
    let pick = |name: &str| connected.iter().find(|remote| remote.name() == name).expect(name).clone();
    let selected = [pick("tm2"), pick("tm0")];
    tms[0].here.local(free_slots).set(10);
    tms[2].here.local(free_slots).set(12);

    let slots = block_on(jm.here.remote(free_slots).from_each(&selected));
    let read: Vec<(String, u32)> =
        slots.iter().map(|(remote, signal)| (remote.name().to_owned(), signal.as_ref().unwrap().get())).collect();
    assert_eq!(read, [("tm2".to_owned(), 12), ("tm0".to_owned(), 10)]);
    // Each follows its own remote.
    tms[0].here.local(free_slots).set(11);
    wait_until(|| slots[1].1.as_ref().unwrap().get() == 11);

    let events = jm.here.remote(status).from_each(&selected);
    assert_eq!(events.iter().map(|(remote, _)| remote.name()).collect::<Vec<_>>(), ["tm2", "tm0"]);
    let (tx, rx) = std::sync::mpsc::channel();
    let _observations: Vec<_> = events
        .iter()
        .map(|(remote, event)| {
            let (name, tx) = (remote.name().to_owned(), tx.clone());
            event.observe(move |n| {
                let _ = tx.send((name.clone(), *n));
            })
        })
        .collect();
    // Only the selected remotes serve it.
    wait_until(|| tms[0].here.local(status).observer_count() == 1 && tms[2].here.local(status).observer_count() == 1);
    assert_eq!(tms[1].here.local(status).observer_count(), 0);
    for (index, tm) in tms.iter().enumerate() {
        tm.here.local(status).fire(index as u64);
    }
    let mut got =
        vec![rx.recv_timeout(Duration::from_secs(5)).unwrap(), rx.recv_timeout(Duration::from_secs(5)).unwrap()];
    got.sort();
    assert_eq!(got, [("tm0".to_owned(), 0), ("tm2".to_owned(), 2)]);
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err(), "an occurrence from a remote not selected");
}
