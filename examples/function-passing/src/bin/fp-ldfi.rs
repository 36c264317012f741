//! Lineage-driven fault injection on a scenario of the master: finds the workers its results
//! depend on from their lineage, kills each one in turn (one run per worker) and checks the
//! results every time. `fp-ldfi slides` or `fp-ldfi spark`.

use std::process::ExitCode;

use clap::Parser;
use function_passing::cluster::{self, Executables};
use function_passing::ldfi::{self, Probe};

/// Lineage-driven fault injection.
#[derive(Parser)]
#[command(name = "fp-ldfi")]
struct Args {
    /// The scenario: slides or spark
    #[arg(default_value = "slides")]
    scenario: String,
    /// How many workers to start
    #[arg(long, default_value_t = 3)]
    workers: usize,
}

fn main() -> std::io::Result<ExitCode> {
    let args = Args::parse();
    let exes = Executables::siblings()?;
    let probe = match args.scenario.as_str() {
        "slides" => Probe {
            scenario: "slides".into(),
            workers: args.workers,
            text: None,
            results: vec![String::new()],
            traces: vec!["labels".into(), "owners".into()],
        },
        "spark" => {
            let dir = std::env::temp_dir().join(format!("fp-ldfi-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            let (text, _) = cluster::bundled_text(&dir)?;
            Probe {
                scenario: "spark".into(),
                workers: args.workers,
                text: Some(text),
                results: vec!["counts".into(), "groups".into(), "join".into()],
                traces: vec!["counts".into()],
            }
        }
        other => return Err(std::io::Error::other(format!("no scenario {other}: try slides or spark"))),
    };
    let report = ldfi::explore(&exes, &probe)?;
    print!("{report}");
    Ok(if report.all_same() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
