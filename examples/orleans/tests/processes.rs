//! Orleans as separate processes over QUIC: create, tell and ask; one message at a time per
//! grain; deactivation and activation from storage; a silo killed; a silo joining; the spread
//! of 1 000 grains.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use orleans::cluster::{Cluster, Executables};

/// One cluster at a time: the tests measure time (one message at a time), and count on losses
/// being noticed within the idle timeout, which several clusters of debug builds sharing two
/// cores could upset.
fn one_cluster_at_a_time() -> MutexGuard<'static, ()> {
    static CLUSTERS: Mutex<()> = Mutex::new(());
    CLUSTERS.lock().unwrap_or_else(PoisonError::into_inner)
}

fn executables() -> Executables {
    Executables {
        master: PathBuf::from(env!("CARGO_BIN_EXE_orleans-master")),
        silo: PathBuf::from(env!("CARGO_BIN_EXE_orleans-silo")),
        client: PathBuf::from(env!("CARGO_BIN_EXE_orleans-client")),
    }
}

#[test]
fn grains_are_created_told_and_asked_and_a_grain_asks_another_it_was_sent() {
    let _turn = one_cluster_at_a_time();
    let mut cluster = Cluster::start(&executables(), 2, 30_000).unwrap();
    cluster.client("client", "basic", &[]).unwrap();
    assert_eq!(cluster.result::<String>("client", "hello").unwrap(), "Hello World!");
    assert_eq!(cluster.result::<u64>("client", "count").unwrap(), 10);
    let visit: String = cluster.result("client", "visit").unwrap();
    assert_eq!(visit, "Hello World! (visit 11 of client)");
    assert_eq!(cluster.result::<u64>("client", "after-visit").unwrap(), 11);
}

#[derive(serde::Deserialize, Debug)]
struct Serial {
    one_grain_ms: u128,
    one_grain_overlaps: usize,
    many_grains_ms: u128,
    many_grains_overlaps: usize,
}

#[test]
fn a_grain_handles_one_message_at_a_time_and_many_grains_run_at_once_on_a_silo() {
    let _turn = one_cluster_at_a_time();
    let mut cluster = Cluster::start(&executables(), 1, 30_000).unwrap();
    cluster.client("client", "serial", &[]).unwrap();
    let serial: Serial = cluster.result("client", "serial").unwrap();
    // Eight 100 ms messages to one grain: one after the other.
    assert_eq!(serial.one_grain_overlaps, 0, "{serial:?}");
    assert!(serial.one_grain_ms >= 800, "{serial:?}");
    // One 100 ms message to each of eight grains on the one silo: at the same time.
    assert!(serial.many_grains_overlaps > 0, "{serial:?}");
    assert!(serial.many_grains_ms < 700, "{serial:?}");
}

#[test]
fn idle_grains_are_deactivated_and_activated_again_from_storage() {
    let _turn = one_cluster_at_a_time();
    let mut cluster = Cluster::start(&executables(), 2, 300).unwrap();
    cluster.client("client", "counters", &["--grains", "4", "--rounds", "3", "--pause"]).unwrap();
    let first: BTreeMap<String, u64> = cluster.result("client", "first").unwrap();
    assert!(first.values().all(|total| *total == 3), "{first:?}");
    let silos: BTreeMap<String, String> = cluster.result("client", "first-silos").unwrap();
    let c0 = &silos["c0"];
    cluster.wait_paused("client").unwrap();
    cluster.launch.wait_for(c0, "deactivated counter/c0", Duration::from_secs(10)).unwrap();
    cluster.resume("client").unwrap();
    let second: BTreeMap<String, u64> = cluster.result("client", "second").unwrap();
    assert!(second.values().all(|total| *total == 6), "{second:?}");
    let from_storage = cluster.count("s1", "activated counter/c0 from storage")
        + cluster.count("s2", "activated counter/c0 from storage");
    assert_eq!(from_storage, 1, "c0 was activated again from storage once");
}

#[test]
fn the_grains_of_a_killed_silo_go_on_from_their_saved_state_elsewhere() {
    let _turn = one_cluster_at_a_time();
    let mut cluster = Cluster::start(&executables(), 3, 30_000).unwrap();
    cluster.client("client", "counters", &["--grains", "6", "--rounds", "5", "--pause"]).unwrap();
    let first: BTreeMap<String, u64> = cluster.result("client", "first").unwrap();
    assert!(first.values().all(|total| *total == 5), "{first:?}");
    let silos: BTreeMap<String, String> = cluster.result("client", "first-silos").unwrap();
    let victim = silos["c0"].clone();
    cluster.wait_paused("client").unwrap();
    cluster.launch.kill(&victim).unwrap();
    cluster.resume("client").unwrap();
    // Every ask was answered after its change was saved: nothing answered is lost.
    let second: BTreeMap<String, u64> = cluster.result("client", "second").unwrap();
    assert!(second.values().all(|total| *total == 10), "{second:?}");
    let moved: BTreeMap<String, String> = cluster.result("client", "second-silos").unwrap();
    assert!(moved.values().all(|silo| *silo != victim), "{moved:?}");
    cluster.launch.wait_for("master", &format!("slave silo {victim} left"), Duration::from_secs(10)).unwrap();
}

#[test]
fn a_silo_that_joins_receives_new_grains() {
    let _turn = one_cluster_at_a_time();
    let mut cluster = Cluster::start(&executables(), 1, 30_000).unwrap();
    cluster.client("client", "placement", &["--grains", "10", "--pause"]).unwrap();
    let first: BTreeMap<String, usize> = cluster.result("client", "first").unwrap();
    assert_eq!(first, BTreeMap::from([("s1".to_owned(), 10)]));
    cluster.wait_paused("client").unwrap();
    cluster.add_silo("s2").unwrap();
    cluster.resume("client").unwrap();
    // s2 has none: the least loaded, it gets the new grains.
    let second: BTreeMap<String, usize> = cluster.result("client", "second").unwrap();
    assert_eq!(second, BTreeMap::from([("s2".to_owned(), 10)]));
}

#[test]
fn a_thousand_grains_spread_over_four_silos_within_ten_percent() {
    let _turn = one_cluster_at_a_time();
    let mut cluster = Cluster::start(&executables(), 4, 30_000).unwrap();
    cluster.client("client", "balance", &["--grains", "1000"]).unwrap();
    let spread: BTreeMap<String, usize> = cluster.result("client", "balance").unwrap();
    println!("1000 grains over 4 silos: {spread:?}");
    assert_eq!(spread.len(), 4, "{spread:?}");
    assert_eq!(spread.values().sum::<usize>(), 1000, "{spread:?}");
    assert!(spread.values().all(|count| (225..=275).contains(count)), "{spread:?}");
}
