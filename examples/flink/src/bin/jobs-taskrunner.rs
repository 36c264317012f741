//! A TaskRunner of the job system: `--connect taskmanager=..`.

use std::time::Duration;

use clap::Parser;

/// A TaskRunner: performs one task at a time for its TaskManager.
#[derive(Parser)]
#[command(name = "jobs-taskrunner")]
struct Args {
    /// Take at least this long per task, in milliseconds (to watch a demo)
    #[arg(long, env = "JOBS_PACE_MS", default_value_t = 0)]
    pace_ms: u64,
    #[command(flatten)]
    loci: loci::InstanceArgs,
}

fn main() -> loci::Result<()> {
    let args = Args::parse();
    let pace = Duration::from_millis(args.pace_ms);
    loci::run_configured::<flink::jobs::jobs::TaskRunner>(args.loci, |builder| {
        builder.supply(flink::jobs::jobs::pace, pace)
    })
}
