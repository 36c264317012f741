//! A slave silo: `--connect master=..`, `--listen` for clients and other silos, `--db` for the
//! grain database all silos share.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use orleans::{Silo, Sqlite};

/// A slave silo.
#[derive(Parser)]
#[command(name = "orleans-silo")]
struct Args {
    /// The SQLite database grain state is saved to (shared by the silos)
    #[arg(long, env = "ORLEANS_DB", default_value = "orleans.db")]
    db: PathBuf,
    /// Deactivate a grain after this many milliseconds without a message
    #[arg(long, env = "ORLEANS_IDLE_MS", default_value_t = 30_000)]
    idle_ms: u64,
    #[command(flatten)]
    loci: loci::InstanceArgs,
}

fn main() -> loci::Result<()> {
    let args = Args::parse();
    let storage = Sqlite::open(&args.db).map_err(|error| loci::Error::Main(error.to_string()))?;
    let silo = Silo::new(orleans::demo_kinds(), Arc::new(storage), Duration::from_millis(args.idle_ms));
    loci::run_configured::<orleans::orleans::Slave>(args.loci, |builder| builder.supply(orleans::orleans::silo, silo))
}
