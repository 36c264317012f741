//! A client: `--connect masterproxy=..`, `--text FILE`; submits the word count and prints its
//! counts, or kills it after `--kill-after-ms`.

use std::path::PathBuf;

use clap::Parser;
use gearpump::client::ClientPlan;

/// A client.
#[derive(Parser)]
#[command(name = "gearpump-client")]
struct Args {
    /// The text to count
    #[arg(long)]
    text: PathBuf,
    /// Splitters
    #[arg(long, default_value_t = 2)]
    split: u32,
    /// Counters
    #[arg(long, default_value_t = 2)]
    count: u32,
    /// Milliseconds the source waits between batches of lines
    #[arg(long, default_value_t = 0)]
    pace_ms: u64,
    /// Kill the application this many milliseconds after submitting it
    #[arg(long)]
    kill_after_ms: Option<u64>,
    #[command(flatten)]
    loci: loci::InstanceArgs,
}

fn main() -> loci::Result<()> {
    let args = Args::parse();
    let plan = ClientPlan {
        text: std::path::absolute(&args.text).unwrap_or(args.text),
        split: args.split,
        count: args.count,
        pace_ms: args.pace_ms,
        kill_after_ms: args.kill_after_ms,
    };
    loci::run_configured::<gearpump::gearpump::Client>(args.loci, |builder| {
        builder.supply(gearpump::gearpump::plan_of_client, plan)
    })
}
