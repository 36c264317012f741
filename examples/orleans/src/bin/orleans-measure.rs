//! Measures asks per second to one grain and to 1 000 grains, and tells per second, with a
//! client and 3 slave silos on this machine; prints the medians of three runs.

use orleans::cluster::{Cluster, Executables};

#[derive(serde::Deserialize)]
struct Measured {
    asks_one_grain_per_s: f64,
    asks_many_grains_per_s: f64,
    tells_per_s: f64,
    all_handled: bool,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() -> std::io::Result<()> {
    let exes = Executables::siblings()?;
    let mut runs = Vec::new();
    for run in 1..=3 {
        let mut cluster = Cluster::start(&exes, 3, 60_000)?;
        cluster.client("client", "measure", &["--grains", "1000"])?;
        let measured: Measured = cluster.result("client", "measure")?;
        if !measured.all_handled {
            return Err(std::io::Error::other("some messages did not reach their grains"));
        }
        println!(
            "run {run}: asks/s to one grain {:.0}, to 1000 grains {:.0}, tells/s {:.0}",
            measured.asks_one_grain_per_s, measured.asks_many_grains_per_s, measured.tells_per_s
        );
        runs.push(measured);
    }
    println!(
        "median: asks/s to one grain {:.0}, to 1000 grains {:.0}, tells/s {:.0}",
        median(runs.iter().map(|m| m.asks_one_grain_per_s).collect()),
        median(runs.iter().map(|m| m.asks_many_grains_per_s).collect()),
        median(runs.iter().map(|m| m.tells_per_s).collect()),
    );
    Ok(())
}
