//! An AppMaster, started by a Worker: `--connect masterproxy=..`, `--app-id N`, `--app JSON`.

use clap::Parser;
use gearpump::app::{AppId, Application};

/// An AppMaster.
#[derive(Parser)]
#[command(name = "gearpump-appmaster")]
struct Args {
    /// The application's number
    #[arg(long)]
    app_id: AppId,
    /// The application, as JSON
    #[arg(long)]
    app: String,
    #[command(flatten)]
    loci: loci::InstanceArgs,
}

fn main() -> loci::Result<()> {
    let args = Args::parse();
    let app: Application =
        serde_json::from_str(&args.app).map_err(|error| loci::Error::Main(format!("--app: {error}")))?;
    loci::run_configured::<gearpump::gearpump::AppMaster>(args.loci, |builder| {
        builder.supply(gearpump::gearpump::application, (args.app_id, app))
    })
}
