//! A client: `--connect master=..`; runs a scenario and prints its results.

use clap::Parser;
use orleans::scenarios::{Scenario, Which};

/// A client of the grains.
#[derive(Parser)]
#[command(name = "orleans-client")]
struct Args {
    /// What to run
    #[arg(long, value_enum, default_value = "basic")]
    scenario: Which,
    /// How many grains
    #[arg(long, default_value_t = 10)]
    grains: usize,
    /// How many messages per grain (counters)
    #[arg(long, default_value_t = 10)]
    rounds: u64,
    /// Wait for a line on standard input in the middle
    #[arg(long)]
    pause: bool,
    #[command(flatten)]
    loci: loci::InstanceArgs,
}

fn main() -> loci::Result<()> {
    let args = Args::parse();
    let scenario = Scenario { which: args.scenario, grains: args.grains, rounds: args.rounds, pause: args.pause };
    loci::run_configured::<orleans::orleans::Client>(args.loci, |builder| {
        builder.supply(orleans::orleans::scenario, scenario)
    })
}
