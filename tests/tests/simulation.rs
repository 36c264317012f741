//! loci itself under faults, on `loci::testing`'s simulated network: every instance in this
//! process, over real QUIC, on one current-thread runtime with paused time, so a second of
//! partition costs no second of the test.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use loci::testing::{Faults, Network, NetworkStats};
use loci_tests::cluster::{job_count, log_lines, JobManager, TaskManager};
use loci_tests::{credentials, issued};

fn job_manager(ca: &Path, network: &Network, addr: SocketAddr) -> loci::Builder<JobManager> {
    loci::Instance::<JobManager>::builder().credentials(issued::<JobManager>(ca, "jm")).network(network).listen(addr)
}

fn task_manager(ca: &Path, network: &Network, name: &str, job_manager: SocketAddr) -> loci::Builder<TaskManager> {
    loci::Instance::<TaskManager>::builder()
        .credentials(issued::<TaskManager>(ca, name))
        .network(network)
        .connect("jobmanager", job_manager)
}

/// Waits (in simulated time) until `condition` holds; fails after `limit`.
async fn until(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Every line a task manager observes of the job manager's `log_lines`.
fn observe_lines(tm: &loci::Running<TaskManager>) -> Arc<Mutex<Vec<String>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let into = Arc::clone(&seen);
    let _ =
        tm.here().remote(log_lines).as_local().observe(move |line: &String| into.lock().unwrap().push(line.clone()));
    seen
}

/// A job manager sends 500 lines to three task managers over a network that loses 5 %,
/// duplicates 1 % and reorders 2 % of the packets; what each task manager saw, and what the
/// network did.
async fn lossy_chat(tag: &str, seed: u64) -> (Vec<String>, Vec<Vec<String>>, NetworkStats) {
    let ca = credentials(tag);
    let network = Network::new(seed);
    network.set_faults(Faults {
        drop: 0.05,
        duplicate: 0.01,
        reorder: 0.02,
        delay: Duration::from_millis(2),
        ..Faults::default()
    });
    let jm_addr = network.address();
    let jm = job_manager(&ca, &network, jm_addr).start().await.unwrap();
    let mut tms = Vec::new();
    for name in ["tm1", "tm2", "tm3"] {
        tms.push(task_manager(&ca, &network, name, jm_addr).start().await.unwrap());
    }
    let seen: Vec<_> = tms.iter().map(observe_lines).collect();
    let lines = jm.here().local(log_lines);
    until(Duration::from_secs(10), "three subscribers", || lines.observer_count() == 3).await;

    let sent: Vec<String> = (0..500).map(|n| format!("line {n}")).collect();
    for line in &sent {
        lines.send(line.clone()).await;
    }
    until(Duration::from_secs(60), "every line at every task manager", || {
        seen.iter().all(|seen| seen.lock().unwrap().len() >= sent.len())
    })
    .await;
    let stats = network.stats();
    for tm in tms {
        tm.shutdown().await;
    }
    jm.shutdown().await;
    (sent, seen.iter().map(|seen| seen.lock().unwrap().clone()).collect(), stats)
}

#[tokio::test(start_paused = true)]
async fn a_chat_over_five_percent_packet_loss_delivers_every_line_in_order() {
    let (sent, seen, stats) = lossy_chat("sim-loss", 1).await;
    for seen in &seen {
        assert_eq!(*seen, sent, "every line, once, in order");
    }
    assert!(stats.dropped > 0 && stats.duplicated > 0 && stats.reordered > 0, "the network did its faults: {stats:?}");
}

#[tokio::test(start_paused = true)]
async fn the_same_seed_makes_the_same_faults() {
    let (_, _, first) = lossy_chat("sim-seed-a", 5).await;
    let (_, _, again) = lossy_chat("sim-seed-b", 5).await;
    let (_, _, other) = lossy_chat("sim-seed-c", 6).await;
    assert_eq!(first, again, "the same seed, the same packets and the same faults");
    assert_ne!(first, other, "another seed, other faults");
}

#[tokio::test(start_paused = true)]
async fn a_partition_that_heals_lets_calls_resume() {
    let ca = credentials("sim-partition");
    let network = Network::new(2);
    let jm_addr = network.address();
    let jm = job_manager(&ca, &network, jm_addr).start().await.unwrap();
    let tm = task_manager(&ca, &network, "tm", jm_addr).start().await.unwrap();
    assert_eq!(tm.here().remote(job_count).as_local().await, Ok(42));

    // Longer than the idle timeout (4 s): the task manager loses its Single tie, and dials
    // again without success while the partition lasts.
    network.partition(&[jm_addr], &[tm.local_addr()]);
    assert!(tm.here().remote(job_count).as_local().await.is_err(), "a call across the partition fails");
    until(Duration::from_secs(10), "the tie noticed lost", || tm.here().remotes::<JobManager>().connected().is_empty())
        .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(jm.here().remotes::<TaskManager>().connected().is_empty());

    network.heal();
    until(Duration::from_secs(5), "the task manager back", || tm.here().remotes::<JobManager>().connected().len() == 1)
        .await;
    assert_eq!(tm.here().remote(job_count).as_local().await, Ok(42), "calls resume after the heal");
}

#[tokio::test(start_paused = true)]
async fn a_killed_and_restarted_job_manager_gets_its_task_managers_and_their_subscriptions_back() {
    let ca = credentials("sim-restart");
    let network = Network::new(3);
    let jm_addr = network.address();
    let jm = job_manager(&ca, &network, jm_addr).start().await.unwrap();
    let tms = [
        task_manager(&ca, &network, "tm1", jm_addr).start().await.unwrap(),
        task_manager(&ca, &network, "tm2", jm_addr).start().await.unwrap(),
    ];
    let seen: Vec<_> = tms.iter().map(observe_lines).collect();
    until(Duration::from_secs(5), "two subscribers", || jm.here().local(log_lines).observer_count() == 2).await;

    // Killed: its address goes silent, then the process is gone (its goodbyes vanish).
    network.kill(jm_addr);
    jm.shutdown().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(tms.iter().all(|tm| tm.here().remotes::<JobManager>().connected().len() == 1), "nobody noticed yet");

    // Restarted on its address with its credentials: its first packets reset the old
    // connections, and the task managers dial again at once.
    network.revive(jm_addr);
    let restarted = tokio::time::Instant::now();
    let jm = job_manager(&ca, &network, jm_addr).start().await.unwrap();
    until(Duration::from_secs(10), "both task managers back", || {
        jm.here().remotes::<TaskManager>().connected().len() == 2
    })
    .await;
    let back = restarted.elapsed();
    assert!(back < Duration::from_secs(2), "back {back:?} after the restart");
    for tm in &tms {
        assert_eq!(tm.here().remote(job_count).as_local().await, Ok(42));
    }
    // Their subscriptions came back without their code doing anything.
    until(Duration::from_secs(5), "two subscribers again", || jm.here().local(log_lines).observer_count() == 2).await;
    jm.here().local(log_lines).send("after the restart".to_owned()).await;
    until(Duration::from_secs(5), "the line at both", || {
        seen.iter().all(|seen| seen.lock().unwrap().last().map(String::as_str) == Some("after the restart"))
    })
    .await;
}
