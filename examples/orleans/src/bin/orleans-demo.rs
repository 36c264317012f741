//! Orleans as processes: a master silo, 3 slave silos and clients. A client greets and counts
//! with a greeter and a counter grain; another adds to named counters, one of the silos is
//! killed, and the counters go on from their saved state on the silos left.

use std::collections::BTreeMap;

use orleans::cluster::{Cluster, Executables};

fn main() -> std::io::Result<()> {
    let exes = Executables::siblings()?;
    let mut cluster = Cluster::start(&exes, 3, 30_000)?;
    println!("a master silo and slave silos s1, s2, s3 (grain state in SQLite)");

    cluster.client("alice", "basic", &[])?;
    println!("alice asks a greeter: {}", cluster.result::<String>("alice", "hello")?);
    println!("alice tells a counter +1 ten times, then asks it: {}", cluster.result::<u64>("alice", "count")?);
    println!("the greeter, handed the counter, counts a visit on it: {}", cluster.result::<String>("alice", "visit")?);

    cluster.client("bob", "counters", &["--grains", "6", "--rounds", "5", "--pause"])?;
    let first: BTreeMap<String, u64> = cluster.result("bob", "first")?;
    let silos: BTreeMap<String, String> = cluster.result("bob", "first-silos")?;
    println!("bob added 5 to each of six counters: {first:?}");
    println!("where they are: {silos:?}");
    cluster.wait_paused("bob")?;
    let victim = silos.get("c0").cloned().unwrap_or_else(|| "s1".to_owned());
    let on_victim: Vec<&String> =
        silos.iter().filter(|(_, silo)| **silo == victim).map(|(counter, _)| counter).collect();
    println!("--- killing {victim} (SIGKILL), which holds {on_victim:?} ---");
    cluster.launch.kill(&victim)?;
    let killed = std::time::Instant::now();
    cluster.resume("bob")?;
    let second: BTreeMap<String, u64> = cluster.result("bob", "second")?;
    let moved: BTreeMap<String, String> = cluster.result("bob", "second-silos")?;
    println!("bob added 5 more ({:.1} s after the kill): {second:?}", killed.elapsed().as_secs_f64());
    println!("where they are now: {moved:?}");
    let continued = second.values().all(|total| *total == 10);
    println!("every counter went on from its saved state: {}", if continued { "yes" } else { "NO" });
    if !continued {
        return Err(std::io::Error::other("a counter lost its state"));
    }
    Ok(())
}
