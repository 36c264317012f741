//! What the master executable runs: the slides' example, a BabySpark word count, and a
//! measurement of the bytes a `send` moves. Each runs its DAG, optionally waits for a line on
//! standard input (a test or the demo kills a worker meanwhile), runs it again, and prints each
//! result as a line `result NAME JSON`.

use std::path::PathBuf;
use std::time::Duration;

use loci::{Here, Remote};
use serde::Serialize;
use tokio::io::AsyncBufReadExt;

use crate::error::FpError;
use crate::fp::{self, Master, Worker};
use crate::lineage::SiloRef;
use crate::master::populate;
use crate::people::{self, Person, SlidesResult, Vehicle};
use crate::spark::{Dist, WordCount};
use crate::trace::Trace;

/// What the master runs.
#[derive(Debug, Clone, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    /// The slides' example: persons and vehicles on two workers, adults, owners, sorted, labels.
    Slides,
    /// BabySpark: a word count (map, reduce), lines grouped by length (group_by), and persons
    /// joined with their vehicles (join).
    Spark,
    /// The bytes a `send` moves next to the bytes of the silo it reads.
    Bytes,
}

/// The master's scenario, supplied by its executable.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// What to run.
    pub which: Which,
    /// How many workers to wait for.
    pub workers: usize,
    /// Wait for a line on standard input between the two runs.
    pub pause: bool,
    /// The text file the word count reads.
    pub text: Option<PathBuf>,
}

/// Prints a result line a test or the demo reads.
fn print_result<T: Serialize>(name: &str, value: &T) -> Result<(), FpError> {
    let json = serde_json::to_string(value).map_err(|error| FpError::Codec(error.to_string()))?;
    println!("result {name} {json}");
    Ok(())
}

/// Prints what a send did, and the workers it depended on.
fn print_trace(name: &str, trace: &Trace) {
    println!("trace of {name}:");
    print!("{trace}");
    println!("{name} depends on: {}", trace.workers().join(","));
}

/// Runs the master's scenario.
pub async fn run(ctx: &Here<Master>) -> Result<(), FpError> {
    let scenario = ctx.local(fp::scenario).clone();
    let remotes = ctx.remotes::<Worker>();
    remotes.wait_for(scenario.workers, Duration::from_secs(30)).await.map_err(|e| FpError::Remote(e.to_string()))?;
    let mut workers = remotes.connected();
    workers.sort_by(|a, b| a.name().cmp(b.name()));
    let names: Vec<&str> = workers.iter().map(|w| w.name()).collect();
    println!("workers: {}", names.join(","));
    match scenario.which {
        Which::Slides => slides(ctx, &workers, scenario.pause).await,
        Which::Spark => {
            let text =
                scenario.text.clone().ok_or(FpError::TextFile { path: "-".into(), reason: "no --text".into() })?;
            spark(ctx, &workers, &text, scenario.pause).await
        }
        Which::Bytes => bytes(ctx, &workers).await,
    }
}

/// The start of the line the master prints when it pauses.
pub const PAUSED: &str = "paused: press enter to send again";

/// Waits for a line on standard input, when asked to.
async fn pause(pause: bool) -> Result<(), FpError> {
    if pause {
        println!("{PAUSED}");
        let mut line = String::new();
        let read = tokio::io::BufReader::new(tokio::io::stdin()).read_line(&mut line).await;
        // Going on without the pause would run the second send before a fault was injected.
        if !matches!(read, Ok(n) if n > 0) {
            return Err(FpError::Remote("standard input ended while paused".to_owned()));
        }
    }
    Ok(())
}

/// The slides' example, as written there.
async fn slides(ctx: &Here<Master>, workers: &[Remote<Worker>], paused: bool) -> Result<(), FpError> {
    let [machine1, machine2, ..] = workers else {
        return Err(FpError::NoWorkers("the slides' example needs two workers".into()));
    };
    let all = people::persons(24);
    let persons: SiloRef<Vec<Person>> = populate(ctx, machine1, &all).await?.named("persons");
    let vehicles: SiloRef<Vec<Vehicle>> = populate(ctx, machine2, &people::vehicles(&all)).await?.named("vehicles");

    let adults = persons.apply(fp::adults()).named("adults");
    let owners = adults.apply(fp::owners(vehicles.clone())).named("owners");
    let sorted = adults.apply(fp::sorted()).named("sorted");
    let labels = sorted.apply(fp::labels()).named("labels");
    println!("lineage of labels:\n{}", labels.lineage());
    println!("lineage of owners:\n{}", owners.lineage());

    for run in ["first", "second"] {
        let (labels, labels_trace) = labels.persist().send_traced(ctx).await?;
        let (owners, owners_trace) = owners.send_traced(ctx).await?;
        print_trace("labels", &labels_trace);
        print_trace("owners", &owners_trace);
        print_result(run, &SlidesResult { owners, labels })?;
        if run == "first" {
            pause(paused).await?;
        }
    }

    // Unpersisted, the silo is used one last time, then its host lets it go.
    let how = |trace: &Trace| {
        let step = trace.steps.iter().find(|step| step.silo == labels.id());
        step.map_or_else(|| "not had".to_owned(), |step| format!("{:?}", step.how).to_lowercase())
    };
    let (_, last_time) = labels.unpersist().send_traced(ctx).await?;
    let (_, after) = labels.send_traced(ctx).await?;
    println!("unpersisted labels: {}, then {}", how(&last_time), how(&after));
    Ok(())
}

/// BabySpark: the word count, lines grouped by length, and persons joined with vehicles.
async fn spark(
    ctx: &Here<Master>,
    workers: &[Remote<Worker>],
    text: &std::path::Path,
    paused: bool,
) -> Result<(), FpError> {
    let lines = Dist::from_text_file(ctx, workers, text).await?;
    let counts = lines.map(fp::count_line()).reduce(fp::add_counts());
    let by_length = lines.group_by(fp::line_length());
    let all = people::persons(60);
    let persons = Dist::populate(ctx, workers, &all).await?;
    let vehicles = Dist::populate(ctx, workers, &people::vehicles(&all)).await?;
    let owners = persons.join(&vehicles, fp::person_name(), fp::vehicle_owner());
    println!("lineage of the word count:\n{}", counts.silo().lineage());

    for run in ["first", "second"] {
        let (folded, trace) = counts.silo().send_traced(ctx).await?;
        print_trace("counts", &trace);
        let counts: WordCount = match folded {
            Some(bytes) => postcard::from_bytes(&bytes).map_err(|error| FpError::Codec(error.to_string()))?,
            None => WordCount::new(),
        };
        print_result(&format!("{run}-counts"), &counts)?;
        let mut groups: Vec<(u64, Vec<String>)> = by_length.collect(ctx).await?;
        groups.sort();
        print_result(&format!("{run}-groups"), &groups)?;
        let mut pairs: Vec<(Person, Vehicle)> = owners.collect(ctx).await?;
        pairs.sort();
        print_result(&format!("{run}-join"), &pairs)?;
        if run == "first" {
            pause(paused).await?;
        }
    }
    Ok(())
}

/// The bytes between the master and a worker while populating a large silo, then while sending
/// a small result derived from it.
async fn bytes(ctx: &Here<Master>, workers: &[Remote<Worker>]) -> Result<(), FpError> {
    let Some(worker) = workers.first() else { return Err(FpError::NoWorkers("the measurement".into())) };
    let remotes = ctx.remotes::<Worker>();
    let traffic = || remotes.traffic(worker).map(|t| t.total()).unwrap_or_default();
    let crowd = people::persons(200_000);
    let silo_bytes = postcard::to_allocvec(&crowd).map_err(|error| FpError::Codec(error.to_string()))?.len();
    let before = traffic();
    let persons = populate(ctx, worker, &crowd).await?;
    let populated = traffic().saturating_sub(before);
    let adults = persons.apply(fp::count_adults());
    let before = traffic();
    let (count, trace) = adults.send_traced(ctx).await?;
    let sent = traffic().saturating_sub(before);
    print_trace("count", &trace);
    let expected = crowd.iter().filter(|p| p.age >= 18).count() as u64;
    #[derive(Serialize)]
    struct Bytes {
        silo: usize,
        populate: u64,
        send: u64,
        count: u64,
        expected: u64,
    }
    print_result("bytes", &Bytes { silo: silo_bytes, populate: populated, send: sent, count, expected })
}
