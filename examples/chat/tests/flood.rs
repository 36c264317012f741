//! Lossless delivery under a flood, between separate processes: a registry and 20 chat nodes,
//! each sending 50 000 lines as fast as the registry takes them. Every node must receive every
//! other node's lines, in order per sender, nobody may be disconnected, and the registry's
//! memory stays bounded.
//!
//! `LOCI_FLOOD_NODES` and `LOCI_FLOOD_LINES` change the size (the 50-node run in
//! docs/performance.md uses them). The executables are built in release mode by the test.

use std::process::Command;
use std::time::{Duration, Instant};

use loci::launch::Launch;

/// The registry's memory may not exceed this much (its peak resident set, from /proc), plus
/// [`PER_NODE`] for each node. Per connection it holds at most its send buffer's limit (1 MiB),
/// the batch its writer hands to QUIC, and what QUIC keeps until acknowledged or read (about
/// a stream window, 1.25 MB, each way).
const REGISTRY_MEMORY_BASE: u64 = 32 << 20;
const PER_NODE: u64 = 5 << 20;

fn release_binaries() -> std::path::PathBuf {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "-p", "chat", "--bin", "registry", "--bin", "chat-flood"])
        .current_dir(manifest)
        .status()
        .expect("run cargo");
    assert!(status.success(), "building the release executables failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| manifest.join("../../target"));
    target.join("release")
}

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

/// The peak resident memory of process `pid`, in bytes.
fn peak_memory(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[test]
fn twenty_flooding_nodes_each_receive_every_other_nodes_lines_in_order() {
    let nodes = setting("LOCI_FLOOD_NODES", 20);
    let lines = setting("LOCI_FLOOD_LINES", 50_000);
    let bin = release_binaries();
    let mut launch = Launch::new().quiet();
    launch.credentials().unwrap();
    launch.start("registry", bin.join("registry"), &["--listen", "127.0.0.1:0"]).unwrap();
    let connect = format!("registry={}", launch.listen_addr("registry").unwrap());
    let (lines_arg, senders) = (lines.to_string(), (nodes - 1).to_string());
    let names: Vec<String> = (0..nodes).map(|n| format!("n{n:02}")).collect();
    for name in &names {
        let args = ["--connect", &connect, "--lines", &lines_arg, "--senders", &senders];
        launch.start(name, bin.join("chat-flood"), &args).unwrap();
    }
    for name in &names {
        launch.wait_for(name, "ready", Duration::from_secs(30)).unwrap();
    }
    let started = Instant::now();
    for name in &names {
        launch.say(name, "go").unwrap();
    }
    let limit = Duration::from_secs(setting("LOCI_FLOOD_SECONDS", 600));
    for name in &names {
        let summary = launch.wait_for(name, "received", limit).unwrap_or_else(|error| {
            let registry = launch.output("registry");
            panic!("{error}\nthe registry's last lines:\n{}", registry[registry.len().saturating_sub(30)..].join("\n"))
        });
        let expected = format!("received {} lines from {} senders, 0 out of order", lines * (nodes - 1), nodes - 1);
        assert!(summary.contains(&expected), "{name}: {summary}");
    }
    let elapsed = started.elapsed();
    let deliveries = lines * nodes * (nodes - 1);
    let registry_memory = peak_memory(launch.pid("registry").unwrap());
    println!(
        "{nodes} nodes × {lines} lines: {deliveries} deliveries in {:.1} s, {:.0} lines delivered per second; registry peak memory {} MiB",
        elapsed.as_secs_f64(),
        deliveries as f64 / elapsed.as_secs_f64(),
        registry_memory >> 20
    );
    // Fairness: at every node, the first sender to finish took at least half as long as the
    // last, so no sender's stream was served far ahead of the others.
    for name in &names {
        let summary = launch.wait_for(name, "received", limit).unwrap();
        println!("{name}: {summary}");
        let spread = summary.split("senders finished between ").nth(1).unwrap();
        let times: Vec<f64> =
            spread.split(" s").filter_map(|part| part.trim_start_matches(" and ").trim().parse().ok()).collect();
        assert_eq!(times.len(), 2, "{summary}");
        assert!(times[0] >= times[1] / 2.0, "{name}: one sender was served far ahead of another: {summary}");
    }
    for name in names.iter().chain(std::iter::once(&"registry".to_owned())) {
        assert_eq!(launch.count(name, "left"), 0, "{name} saw a remote leave: {:?}", launch.output(name));
        assert_eq!(launch.count(name, "too slow"), 0, "{name}: {:?}", launch.output(name));
    }
    let bound = REGISTRY_MEMORY_BASE + PER_NODE * nodes;
    assert!(registry_memory < bound, "the registry peaked at {} MiB, over {} MiB", registry_memory >> 20, bound >> 20);
}
