//! A Pong client: a terminal UI, or a bot with `--bot`.

use clap::Parser;

/// A Pong client: plays (the first two clients) or watches.
#[derive(Parser)]
#[command(name = "client")]
struct Args {
    /// Play by itself, following the ball
    #[arg(long)]
    bot: bool,
    /// With --bot: always stand where the ball is not
    #[arg(long, requires = "bot")]
    miss: bool,
    #[command(flatten)]
    loci: loci::InstanceArgs,
}

fn main() -> loci::Result<()> {
    let args = Args::parse();
    let mode = if args.bot { pong::Mode::Bot { miss: args.miss } } else { pong::Mode::Terminal };
    loci::run_configured::<pong::pong::Client>(args.loci, |builder| builder.supply(pong::pong::mode, mode))
}
