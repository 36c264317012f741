//! A Worker: `--connect masterproxy=..`, `--listen` for AppMasters, `--slots N`. It starts
//! AppMasters and Executors as child processes (`gearpump-appmaster`, `gearpump-executor`,
//! next to it).

use clap::Parser;

/// A Worker.
#[derive(Parser)]
#[command(name = "gearpump-worker")]
struct Args {
    /// How many AppMasters and Executors it runs at most
    #[arg(long, env = "GEARPUMP_SLOTS", default_value_t = 4)]
    slots: u32,
    #[command(flatten)]
    loci: loci::InstanceArgs,
}

fn main() -> loci::Result<()> {
    let args = Args::parse();
    loci::run_configured::<gearpump::gearpump::Worker>(args.loci, |builder| {
        builder.supply(gearpump::gearpump::slots, args.slots)
    })
}
