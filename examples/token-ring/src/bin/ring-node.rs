//! One node of the token ring.

use std::time::Duration;

use clap::Parser;

/// A node of the token ring: takes the token from `--connect prev=..`'s counterpart and hands
/// it to `--connect next=HOST:PORT`.
#[derive(Parser)]
#[command(name = "ring-node")]
struct Args {
    /// How many nodes the ring has
    #[arg(long, default_value_t = 4)]
    members: u64,
    /// Start the token here (exactly one node of the ring does)
    #[arg(long)]
    starts: bool,
    /// How long each node holds the token, in milliseconds
    #[arg(long, default_value_t = 200)]
    hold_ms: u64,
    /// With --starts: keep the token after this many rounds (0: go on for ever)
    #[arg(long, default_value_t = 0)]
    rounds: u64,
    #[command(flatten)]
    loci: loci::InstanceArgs,
}

fn main() -> loci::Result<()> {
    let args = Args::parse();
    let settings = token_ring::Settings {
        members: args.members.max(1),
        starts: args.starts,
        hold: Duration::from_millis(args.hold_ms),
        rounds: args.rounds,
    };
    loci::run_configured::<token_ring::ring::Node>(args.loci, |builder| {
        builder.supply(token_ring::ring::settings, settings)
    })
}
