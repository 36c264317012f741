//! The master: builds a scenario's DAG of silos on its workers, sends it, and prints the results.

use std::path::PathBuf;

use clap::Parser;
use function_passing::scenarios::{Scenario, Which};

/// The master of function passing.
#[derive(Parser)]
#[command(name = "fp-master")]
struct Args {
    /// What to run
    #[arg(long, value_enum, default_value = "slides")]
    scenario: Which,
    /// How many workers to wait for before starting
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Wait for a line on standard input between the two runs of the DAG
    #[arg(long)]
    pause: bool,
    /// The text file the word count reads (`--scenario spark`)
    #[arg(long)]
    text: Option<PathBuf>,
    #[command(flatten)]
    loci: loci::InstanceArgs,
}

fn main() -> loci::Result<()> {
    let args = Args::parse();
    let scenario = Scenario { which: args.scenario, workers: args.workers, pause: args.pause, text: args.text };
    loci::run_configured::<function_passing::fp::Master>(args.loci, |builder| {
        builder.supply(function_passing::fp::scenario, scenario)
    })
}
