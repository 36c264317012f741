//! A worker: holds silos and runs the spores sent to them. `--connect master=..`, and
//! `--listen` so that other workers reach it for nested spores.

use clap::Parser;
use function_passing::SiloStore;

/// A worker of function passing.
#[derive(Parser)]
#[command(name = "fp-worker")]
struct Args {
    /// The bytes of silos this worker holds at most; a populated silo that does not fit is
    /// refused, a persisted one is had again from its lineage next time
    #[arg(long, env = "FP_MAX_SILO_BYTES", default_value_t = function_passing::DEFAULT_SILO_BYTES)]
    max_silo_bytes: usize,
    #[command(flatten)]
    loci: loci::InstanceArgs,
}

fn main() -> loci::Result<()> {
    let args = Args::parse();
    let store = SiloStore::with_limit(args.max_silo_bytes);
    loci::run_configured::<function_passing::fp::Worker>(args.loci, |builder| {
        builder.supply(function_passing::fp::silos, store)
    })
}
