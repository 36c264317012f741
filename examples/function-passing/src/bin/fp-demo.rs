//! Function passing as processes: a master and 3 workers run the slides' example. The master
//! sends the DAG once, then the worker that holds `persons` (and the persisted `labels`) is
//! killed before the next `send`; its silos are rebuilt from their lineage on a live worker, and
//! the result is the same.

use function_passing::cluster::{Cluster, Executables};
use function_passing::people::{self, SlidesResult};

fn show(cluster: &Cluster, from: usize, needle: &str) -> usize {
    let lines = cluster.launch.output("master");
    for line in lines.iter().skip(from).filter(|line| line.contains(needle) || line.starts_with("  ")) {
        println!("    {line}");
    }
    lines.len()
}

fn main() -> std::io::Result<()> {
    let exes = Executables::siblings()?;
    println!("a master and 3 workers; persons live on w1, vehicles on w2");
    let mut cluster = Cluster::start(&exes, "slides", 3, true, None)?;
    let first: SlidesResult = cluster.result("first")?;
    cluster.wait_paused()?;
    let lines = cluster.launch.output("master");
    let lineage_at = lines.iter().position(|line| line.starts_with("lineage of labels")).unwrap_or(0);
    println!("the DAG the master built (nothing ran until send):");
    for line in lines.iter().skip(lineage_at).take_while(|line| !line.starts_with("trace of")) {
        println!("    {line}");
    }
    println!("first send: {} labels, {} owners", first.labels.len(), first.owners.len());
    println!("labels depend on: {}", cluster.depends_on("labels")?.join(", "));
    println!("owners depend on: {}", cluster.depends_on("owners")?.join(", "));

    println!("--- killing w1 (SIGKILL): it holds persons and the persisted labels ---");
    cluster.launch.kill("w1")?;
    let from = cluster.launch.output("master").len();
    let killed = std::time::Instant::now();
    cluster.resume()?;
    let second: SlidesResult = cluster.result("second")?;
    println!("the second send rebuilt them from their lineage ({:.2} s):", killed.elapsed().as_secs_f64());
    show(&cluster, from, "rebuilt on");

    let all = people::persons(24);
    let local = people::slides_locally(&all, &people::vehicles(&all));
    println!("labels: {}", second.labels.join("; "));
    for (person, vehicle) in &second.owners {
        println!("owner: {} ({}) with a {}", person.name, person.age, vehicle.model);
    }
    let same = second == first && second == local;
    println!("same as before the kill and as the same computation done locally: {}", if same { "yes" } else { "NO" });
    if !same {
        return Err(std::io::Error::other("the recovered result differs"));
    }
    Ok(())
}
