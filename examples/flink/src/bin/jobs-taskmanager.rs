//! A TaskManager of the job system: `--connect jobmanager=..`, and `--listen` for its TaskRunners.

use clap::Parser;

/// A TaskManager: offers its idle TaskRunners as slots to the JobManager.
#[derive(Parser)]
#[command(name = "jobs-taskmanager")]
struct Args {
    /// Claim this many slots more than it has idle runners (to be overloaded on purpose)
    #[arg(long, env = "JOBS_EXTRA_SLOTS", default_value_t = 0)]
    extra_slots: u32,
    #[command(flatten)]
    loci: loci::InstanceArgs,
}

fn main() -> loci::Result<()> {
    let args = Args::parse();
    loci::run_configured::<flink::jobs::jobs::TaskManager>(args.loci, |builder| {
        builder.supply(flink::jobs::jobs::extra_slots, args.extra_slots)
    })
}
