//! A client of the job system: counts the words of a text file as a job of map and reduce
//! tasks, and prints the result as one JSON object (word → count, keys sorted).

use std::path::PathBuf;

use clap::Parser;

/// Submits a word count of `--text` to the JobManager (`--connect jobmanager=..`).
#[derive(Parser)]
#[command(name = "jobs-client")]
struct Args {
    /// The text file to count
    #[arg(long)]
    text: PathBuf,
    /// Lines of text per map task
    #[arg(long, default_value_t = 100)]
    lines: usize,
    #[command(flatten)]
    loci: loci::InstanceArgs,
}

fn main() -> loci::Result<()> {
    let args = Args::parse();
    let text = std::fs::read_to_string(&args.text)
        .map_err(|error| loci::Error::Config(format!("cannot read {}: {error}", args.text.display())))?;
    let tasks = flink::jobs::word_count_job(&text, args.lines);
    eprintln!("submitting {} tasks ({} lines each)", tasks.len(), args.lines);
    loci::run_configured::<flink::jobs::jobs::Client>(args.loci, |builder| {
        builder.supply(flink::jobs::jobs::job, tasks)
    })
}
