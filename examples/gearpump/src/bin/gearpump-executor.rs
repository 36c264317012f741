//! An Executor, started by a Worker: `--connect appmaster=..`, `--executor-id N`.

use clap::Parser;

/// An Executor.
#[derive(Parser)]
#[command(name = "gearpump-executor")]
struct Args {
    /// Its number within its application
    #[arg(long)]
    executor_id: u32,
    #[command(flatten)]
    loci: loci::InstanceArgs,
}

fn main() -> loci::Result<()> {
    let args = Args::parse();
    loci::run_configured::<gearpump::gearpump::Executor>(args.loci, |builder| {
        builder.supply(gearpump::gearpump::executor_id, args.executor_id)
    })
}
