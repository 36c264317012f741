//! A Gearpump cluster as processes: a MasterProxy, a Master, 3 Workers and a client submitting
//! a streaming word count of loci's guide. A Worker running Executors is killed mid-run; the
//! AppMaster gets slots elsewhere, relaunches the lost Executors and their tasks, the source
//! replays, and the counts still equal a sequential count.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use gearpump::app::{words, WordCount};
use gearpump::cluster::{self, Cluster, Executables, WAIT};

fn main() -> std::io::Result<()> {
    let exes = Executables::siblings()?;
    let dir = std::env::temp_dir().join(format!("gearpump-demo-{}", std::process::id()));
    let (text, content) = cluster::bundled_text(&dir)?;
    let mut cluster = Cluster::start(&exes, 3, 4)?;
    println!("a MasterProxy, a Master, and Workers w1, w2, w3 with 4 slots each");
    cluster.client("client", &text, &["--split", "2", "--count", "2", "--pace-ms", "60"])?;
    let submitted = cluster.launch.wait_for("master", "its AppMaster goes to", WAIT)?;
    println!("master | {submitted}");
    let host = submitted.rsplit(' ').next().unwrap_or_default().to_owned();
    let asked = cluster.launch.wait_for("master", "asked for", WAIT)?;
    println!("master | {asked}");
    cluster.launch.wait_for("client", "status: Running", WAIT)?;
    // A Worker that runs a counter (its state is lost, so the source replays) and not the
    // AppMaster; else any Worker with Executors but not the AppMaster.
    let counter_on = |worker: &str| {
        let started = cluster.lines(worker, "started app1-e");
        let executors: Vec<&str> = started.iter().filter_map(|line| line.rsplit(' ').next()).collect();
        cluster
            .lines(&host, "(Count ")
            .iter()
            .any(|line| executors.iter().any(|e| line.ends_with(&format!("starts on {e}"))))
    };
    let candidates = ["w1", "w2", "w3"].into_iter().filter(|w| *w != host);
    let victim = candidates
        .clone()
        .find(|w| counter_on(w))
        .or_else(|| candidates.clone().find(|w| asked.contains(&format!("on {w}"))))
        .unwrap_or("w3")
        .to_owned();
    std::thread::sleep(Duration::from_secs(1));
    println!("--- killing {victim} (SIGKILL) and its Executors in the middle of the run ---");
    cluster.launch.kill(&victim)?;
    let killed = Instant::now();
    cluster.launch.wait_for(&host, "relaunching it elsewhere", WAIT)?;
    println!("the AppMaster noticed after {:.1} s:", killed.elapsed().as_secs_f64());
    // A lost counter makes the source replay; wait for that to be said (if a counter was lost).
    let _ = cluster.launch.wait_for(&host, "replays from line 0", Duration::from_secs(20));
    for line in cluster.lines(&host, "lost with task").iter().chain(&cluster.lines(&host, "replays")) {
        println!("    {line}");
    }
    let counts: WordCount = cluster.result("client", "counts")?;
    println!("the run finished {:.1} s after the kill", killed.elapsed().as_secs_f64());
    let mut sequential: BTreeMap<String, u64> = BTreeMap::new();
    for word in content.lines().flat_map(words) {
        *sequential.entry(word).or_default() += 1;
    }
    let mut top: Vec<(&String, &u64)> = counts.iter().collect();
    top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (word, count) in top.into_iter().take(8) {
        println!("  {count:>6}  {word}");
    }
    let same = counts == sequential;
    if !same {
        let total: u64 = counts.values().sum();
        let expected: u64 = sequential.values().sum();
        let differing = sequential.iter().filter(|(word, n)| counts.get(*word) != Some(n)).count();
        println!("{total} words counted, {expected} expected; {differing} words differ");
    }
    println!("same as a sequential count: {}", if same { "yes" } else { "NO" });
    if !same {
        return Err(std::io::Error::other("the counts differ from a sequential count"));
    }
    Ok(())
}
