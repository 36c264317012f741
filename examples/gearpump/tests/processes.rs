//! A Gearpump cluster as separate processes over QUIC: submission and the final counts, the
//! kill command, the loss of a Worker, and a Master restart. Counts are checked against a
//! sequential count written independently here.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use gearpump::cluster::{self, Cluster, Executables, WAIT};
use gearpump::resources::WorkerView;

/// One cluster at a time: each runs a dozen processes, and the recovery tests count on losses
/// being noticed within the idle timeout.
fn one_cluster_at_a_time() -> MutexGuard<'static, ()> {
    static CLUSTERS: Mutex<()> = Mutex::new(());
    CLUSTERS.lock().unwrap_or_else(PoisonError::into_inner)
}

fn executables() -> Executables {
    let dir = PathBuf::from(env!("CARGO_BIN_EXE_gearpump-client")).parent().map(PathBuf::from).unwrap_or_default();
    Executables { dir }
}

fn text(test: &str) -> (PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("gearpump-{test}-{}", std::process::id()));
    cluster::bundled_text(&dir).unwrap()
}

#[test]
fn a_submitted_word_count_runs_on_executors_and_equals_a_sequential_count() {
    let _turn = one_cluster_at_a_time();
    let (path, text) = text("submit");
    let mut cluster = Cluster::start(&executables(), 2, 4).unwrap();
    cluster.client("client", &path, &["--split", "2", "--count", "3"]).unwrap();
    let counts: BTreeMap<String, u64> = cluster.result("client", "counts").unwrap();
    let expected = example_support::sequential_word_count(&text);
    assert!(expected.len() > 1000, "the bundled text is too small to mean much");
    assert_eq!(counts, expected);
    // The seed's steps: the AppMaster on a Worker, slots by the Master, Executors registered.
    assert_eq!(cluster.lines("master", "its AppMaster goes to").len(), 1);
    assert_eq!(cluster.lines("master", "asked for 6 slots").len(), 1);
    // Children are named under their Worker: `w2/app1-e3`.
    let registered = ["w1", "w2"]
        .iter()
        .flat_map(|worker| cluster.launch.output(worker))
        .filter(|line| line.contains("registered (w") && line.contains("/app1-e"))
        .count();
    assert!(registered >= 6, "one executor per task: {registered}");
}

#[test]
fn killing_an_application_stops_its_executors_and_frees_their_slots() {
    let _turn = one_cluster_at_a_time();
    let (path, _) = text("kill");
    let mut cluster = Cluster::start(&executables(), 2, 4).unwrap();
    cluster.client("client", &path, &["--pace-ms", "100", "--kill-after-ms", "3000"]).unwrap();
    let workers: Vec<WorkerView> = cluster.result("client", "workers").unwrap();
    assert_eq!(workers.len(), 2);
    assert!(workers.iter().all(|worker| worker.used == 0), "{workers:?}");
    assert!(cluster.launch.output("client").iter().any(|line| line == "killed application 1"));
    let stopped = cluster.lines("w1", "stopped w1/app1").len() + cluster.lines("w2", "stopped w2/app1").len();
    assert!(stopped >= 6, "five executors and the AppMaster: {stopped}");
}

#[test]
fn a_lost_worker_s_executors_are_relaunched_and_the_counts_stay_right() {
    let _turn = one_cluster_at_a_time();
    let (path, text) = text("worker-loss");
    let mut cluster = Cluster::start(&executables(), 3, 4).unwrap();
    cluster.client("client", &path, &["--pace-ms", "40"]).unwrap();
    let submitted = cluster.launch.wait_for("master", "its AppMaster goes to", WAIT).unwrap();
    let host = submitted.rsplit(' ').next().unwrap().to_owned();
    cluster.launch.wait_for("client", "status: Running", WAIT).unwrap();
    // A Worker that runs a counter (so that its state is lost and the source replays) and not
    // the AppMaster.
    let counter_on = |worker: &str| {
        let started: Vec<String> = cluster.lines(worker, &format!("started {worker}/app1-e"));
        let executors: Vec<String> =
            started.iter().filter_map(|line| line.rsplit(' ').next()).map(str::to_owned).collect();
        cluster
            .lines(&host, "(Count ")
            .iter()
            .any(|line| executors.iter().any(|e| line.ends_with(&format!("starts on {e}"))))
    };
    let victim = ["w1", "w2", "w3"].into_iter().find(|w| *w != host && counter_on(w)).expect("a Worker runs a counter");
    assert!(cluster.lines("client", "finished").is_empty(), "the kill must come before the end");
    cluster.launch.kill(victim).unwrap();
    cluster.launch.wait_for(&host, "relaunching it elsewhere", WAIT).unwrap();
    cluster.launch.wait_for(&host, "the source replays from line 0", WAIT).unwrap();
    let counts: BTreeMap<String, u64> = cluster.result("client", "counts").unwrap();
    assert_eq!(counts, example_support::sequential_word_count(&text));
    cluster.launch.wait_for("master", &format!("worker {victim} lost"), Duration::from_secs(10)).unwrap();
}

#[test]
fn workers_register_again_after_a_master_restart_and_the_application_keeps_running() {
    let _turn = one_cluster_at_a_time();
    let (path, text) = text("master-restart");
    let mut cluster = Cluster::start(&executables(), 2, 4).unwrap();
    cluster.client("client", &path, &["--pace-ms", "40"]).unwrap();
    cluster.launch.wait_for("client", "status: Running", WAIT).unwrap();
    cluster.launch.restart("master").unwrap();
    // The new Master learns of both Workers and of the running application again.
    for worker in ["w1", "w2"] {
        cluster.launch.wait_for("master", &format!("worker {worker} registered"), WAIT).unwrap();
    }
    cluster.launch.wait_for("master", "application 1: AppMaster registered", WAIT).unwrap();
    let counts: BTreeMap<String, u64> = cluster.result("client", "counts").unwrap();
    assert_eq!(counts, example_support::sequential_word_count(&text));
    for worker in ["w1", "w2"] {
        assert!(cluster.lines(worker, "registered with master").len() >= 2, "{worker} registered again");
    }
}
