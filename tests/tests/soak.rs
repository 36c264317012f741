//! A soak on `loci::testing`'s simulated network: many task managers, each with many calls in
//! flight to one job manager, over a lossy link with a WAN's delay, for a while of simulated
//! time; then exact counts: calls sent, answered with their own answer, failed, and served.
//!
//! CI runs a small one. The full one (100 instances × 64 calls in flight for 30 s, see
//! `docs/testing.md` for its results):
//! `LOCI_SOAK_INSTANCES=100 LOCI_SOAK_IN_FLIGHT=64 LOCI_SOAK_SECONDS=30 cargo test --release -p loci-tests --test soak -- --nocapture`

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use loci::testing::{Faults, Network};
use loci_tests::cluster::{echo, JobManager, TaskManager};
use loci_tests::{credentials, issued, ECHOES_SERVED};

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

#[derive(Default)]
struct Counts {
    sent: AtomicU64,
    answered: AtomicU64,
    wrong: AtomicU64,
    failed: AtomicU64,
}

#[tokio::test(start_paused = true)]
async fn many_instances_with_many_calls_in_flight_lose_and_duplicate_nothing() {
    let instances = setting("LOCI_SOAK_INSTANCES", 10);
    let in_flight = setting("LOCI_SOAK_IN_FLIGHT", 8);
    let seconds = setting("LOCI_SOAK_SECONDS", 3);
    let ca = credentials("soak");
    let network = Network::new(setting("LOCI_SOAK_SEED", 9));
    network.set_faults(Faults {
        drop: 0.01,
        duplicate: 0.005,
        reorder: 0.01,
        delay: Duration::from_millis(20),
        ..Faults::default()
    });
    let jm_addr = network.address();
    let jm = loci::Instance::<JobManager>::builder()
        .credentials(issued::<JobManager>(&ca, "jm"))
        .network(&network)
        .listen(jm_addr)
        .start()
        .await
        .unwrap();
    let mut tms = Vec::new();
    for i in 0..instances {
        let tm = loci::Instance::<TaskManager>::builder()
            .credentials(issued::<TaskManager>(&ca, &format!("tm{i}")))
            .network(&network)
            .connect("jobmanager", jm_addr)
            .start()
            .await
            .unwrap();
        tms.push(tm);
    }
    assert_eq!(jm.here().remotes::<TaskManager>().connected().len() as u64, instances);

    let served_before = ECHOES_SERVED.load(Ordering::Relaxed);
    let counts = Arc::new(Counts::default());
    let until = tokio::time::Instant::now() + Duration::from_secs(seconds);
    let mut callers = Vec::new();
    for (i, tm) in tms.iter().enumerate() {
        for slot in 0..in_flight {
            let (here, counts) = (tm.here().clone(), Arc::clone(&counts));
            callers.push(tokio::spawn(async move {
                let mut seq = 0u64;
                while tokio::time::Instant::now() < until {
                    // Unique over the whole run: instance, slot, sequence.
                    let n = (i as u64) << 44 | slot << 32 | seq;
                    seq += 1;
                    counts.sent.fetch_add(1, Ordering::Relaxed);
                    match here.remote(echo).call(n).await {
                        Ok(answer) if answer == n => counts.answered.fetch_add(1, Ordering::Relaxed),
                        Ok(_) => counts.wrong.fetch_add(1, Ordering::Relaxed),
                        Err(_) => counts.failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            }));
        }
    }
    for caller in callers {
        caller.await.unwrap();
    }
    let served = ECHOES_SERVED.load(Ordering::Relaxed) - served_before;
    let (sent, answered, wrong, failed) = (
        counts.sent.load(Ordering::Relaxed),
        counts.answered.load(Ordering::Relaxed),
        counts.wrong.load(Ordering::Relaxed),
        counts.failed.load(Ordering::Relaxed),
    );
    let stats = network.stats();
    println!(
        "soak: {instances} instances × {in_flight} in flight for {seconds} s (simulated): {sent} calls sent, {answered} answered with their own answer, {wrong} with another, {failed} failed, {served} served; network: {} packets sent, {} dropped, {} duplicated, {} reordered",
        stats.sent, stats.dropped, stats.duplicated, stats.reordered
    );
    assert!(sent > instances * in_flight, "the soak made calls");
    assert_eq!((answered, wrong, failed), (sent, 0, 0), "every call answered, with its own answer");
    assert_eq!(served, sent, "every call served exactly once");
    assert!(stats.dropped > 0 && stats.duplicated > 0, "the network did its faults: {stats:?}");
}
