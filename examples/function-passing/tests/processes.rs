//! Function passing as separate processes over QUIC: the slides' example, BabySpark, the bytes a
//! send moves, recovery from lineage after SIGKILL, and lineage-driven fault injection. Results
//! are checked against the same computations done locally, written independently here.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};

use function_passing::cluster::{self, Cluster, Executables};
use function_passing::ldfi::{self, Probe};
use function_passing::people::{self, Person, SlidesResult, Vehicle};

/// One cluster at a time: the kill tests count on losses being noticed within the idle timeout
/// and on nothing else looking lost, which several clusters of debug builds sharing two cores
/// could upset.
fn one_cluster_at_a_time() -> MutexGuard<'static, ()> {
    static CLUSTERS: Mutex<()> = Mutex::new(());
    CLUSTERS.lock().unwrap_or_else(PoisonError::into_inner)
}

fn executables() -> Executables {
    Executables {
        master: PathBuf::from(env!("CARGO_BIN_EXE_fp-master")),
        worker: PathBuf::from(env!("CARGO_BIN_EXE_fp-worker")),
    }
}

/// The slides' example by hand: adults, their vehicles, greetings youngest first.
fn slides_expected() -> SlidesResult {
    let persons = people::persons(24);
    let vehicles = people::vehicles(&persons);
    let mut adults: Vec<Person> = persons.into_iter().filter(|p| p.age >= 18).collect();
    let mut owners = Vec::new();
    for p in &adults {
        for v in &vehicles {
            if v.owner == p.name {
                owners.push((p.clone(), v.clone()));
            }
        }
    }
    adults.sort_by_key(|p| p.age);
    SlidesResult { owners, labels: adults.iter().map(|p| format!("Hi, {}", p.name)).collect() }
}

fn text_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fp-test-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_slides_example_runs_as_written_and_equals_a_local_computation() {
    let _turn = one_cluster_at_a_time();
    let mut cluster = Cluster::start(&executables(), "slides", 3, true, None).unwrap();
    let expected = slides_expected();
    assert!(expected.owners.len() >= 5 && expected.labels.len() >= 10, "too little data to mean much");
    let first: SlidesResult = cluster.result("first").unwrap();
    assert_eq!(first, expected);
    // Without faults: labels ran where persons are, owners reached the vehicles' worker.
    assert_eq!(cluster.depends_on("labels").unwrap(), ["w1"]);
    assert_eq!(cluster.depends_on("owners").unwrap(), ["w1", "w2"]);
    cluster.wait_paused().unwrap();
    cluster.resume().unwrap();
    let second: SlidesResult = cluster.result("second").unwrap();
    assert_eq!(second, expected);
    // `labels.persist()` kept the silo: the second send found it in w1's memory.
    let held = cluster.master_lines("labels [");
    assert!(held.iter().any(|line| line.contains("held in memory on w1")), "{held:?}");
    cluster.master_line("unpersisted labels").unwrap();
    assert_eq!(cluster.master_lines("unpersisted labels"), ["unpersisted labels: held, then computed"]);
}

#[test]
fn killing_the_worker_with_persons_and_persisted_labels_rebuilds_them_from_lineage() {
    let _turn = one_cluster_at_a_time();
    let mut cluster = Cluster::start(&executables(), "slides", 3, true, None).unwrap();
    assert_eq!(cluster.result::<SlidesResult>("first").unwrap(), slides_expected());
    cluster.wait_paused().unwrap();
    cluster.launch.kill("w1").unwrap();
    cluster.resume().unwrap();
    assert_eq!(cluster.result::<SlidesResult>("second").unwrap(), slides_expected());
    let rebuilt = cluster.master_lines("w1 was lost: its silos are rebuilt on");
    assert!(!rebuilt.is_empty(), "{:?}", cluster.launch.output("master"));
    // The persisted labels were computed again, not found on w1.
    let labels: Vec<String> = cluster.master_lines("labels [").into_iter().skip(1).collect();
    assert!(labels.iter().any(|line| line.contains("computed by its spore") && !line.ends_with("w1")), "{labels:?}");
}

#[test]
fn killing_the_vehicles_worker_rebuilds_the_silo_a_nested_spore_needs() {
    let _turn = one_cluster_at_a_time();
    let mut cluster = Cluster::start(&executables(), "slides", 3, true, None).unwrap();
    assert_eq!(cluster.result::<SlidesResult>("first").unwrap(), slides_expected());
    cluster.wait_paused().unwrap();
    cluster.launch.kill("w2").unwrap();
    cluster.resume().unwrap();
    assert_eq!(cluster.result::<SlidesResult>("second").unwrap(), slides_expected());
    assert!(!cluster.master_lines("w2 was lost").is_empty(), "{:?}", cluster.launch.output("master"));
}

#[test]
fn baby_spark_counts_groups_and_joins_like_sequential_code_even_after_a_kill() {
    let _turn = one_cluster_at_a_time();
    let (text_path, text) = cluster::bundled_text(&text_dir("spark")).unwrap();
    let mut cluster = Cluster::start(&executables(), "spark", 3, true, Some(&text_path)).unwrap();
    let counts = example_support::sequential_word_count(&text);
    assert!(counts.len() > 1000, "the bundled text is too small to mean much");
    let mut groups: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for line in text.lines() {
        groups.entry(line.chars().count() as u64).or_default().push(line.to_owned());
    }
    let groups: Vec<(u64, Vec<String>)> = groups
        .into_iter()
        .map(|(length, mut lines)| {
            lines.sort();
            (length, lines)
        })
        .collect();
    let persons = people::persons(60);
    let vehicles = people::vehicles(&persons);
    let mut join: Vec<(Person, Vehicle)> = persons
        .iter()
        .flat_map(|p| vehicles.iter().filter(|v| v.owner == p.name).map(move |v| (p.clone(), v.clone())))
        .collect();
    join.sort();
    let sorted_groups = |mut found: Vec<(u64, Vec<String>)>| {
        for (_, lines) in &mut found {
            lines.sort();
        }
        found
    };
    for run in ["first", "second"] {
        assert_eq!(cluster.result::<BTreeMap<String, u64>>(&format!("{run}-counts")).unwrap(), counts, "{run}");
        assert_eq!(sorted_groups(cluster.result(&format!("{run}-groups")).unwrap()), groups, "{run}");
        assert_eq!(cluster.result::<Vec<(Person, Vehicle)>>(&format!("{run}-join")).unwrap(), join, "{run}");
        if run == "first" {
            // Every worker holds a partition of the text.
            assert_eq!(cluster.depends_on("counts").unwrap(), ["w1", "w2", "w3"]);
            cluster.wait_paused().unwrap();
            cluster.launch.kill("w2").unwrap();
            cluster.resume().unwrap();
        }
    }
    assert!(!cluster.master_lines("w2 was lost").is_empty());
}

#[derive(serde::Deserialize)]
struct Bytes {
    silo: u64,
    populate: u64,
    send: u64,
    count: u64,
    expected: u64,
}

#[test]
fn a_send_moves_the_spore_and_the_result_not_the_silo() {
    let _turn = one_cluster_at_a_time();
    let cluster = Cluster::start(&executables(), "bytes", 1, false, None).unwrap();
    let bytes: Bytes = cluster.result("bytes").unwrap();
    println!("silo {} bytes; populate moved {} bytes; send moved {} bytes", bytes.silo, bytes.populate, bytes.send);
    assert_eq!(bytes.count, bytes.expected);
    assert!(bytes.silo > 2_000_000, "the silo is {} bytes", bytes.silo);
    // Populating moved the data once; the counter sees it.
    assert!(bytes.populate >= bytes.silo, "populate moved {} bytes of a {}-byte silo", bytes.populate, bytes.silo);
    // The send moved the lineage, the spore and a number: a few hundred bytes plus QUIC's own.
    assert!(bytes.send < 8 * 1024, "send moved {} bytes", bytes.send);
}

#[test]
fn lineage_driven_fault_injection_kills_each_worker_the_result_depends_on() {
    let _turn = one_cluster_at_a_time();
    let probe = Probe {
        scenario: "slides".into(),
        workers: 3,
        text: None,
        results: vec![String::new()],
        traces: vec!["labels".into(), "owners".into()],
    };
    let report = ldfi::explore(&executables(), &probe).unwrap();
    assert_eq!(report.depends_on, ["w1", "w2"]);
    assert_eq!(report.independent, ["w3"]);
    assert_eq!(report.injections.len(), 2);
    assert!(report.all_same(), "{report}");
    for injection in &report.injections {
        assert!(injection.exercised, "killing {} was not noticed: {report}", injection.killed);
        assert!(!injection.recovery.is_empty(), "killing {} rebuilt nothing: {report}", injection.killed);
    }
}
