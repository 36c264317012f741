//! What the client executable runs. Each scenario prints its results as lines
//! `result NAME JSON`, which the demo and the process tests read.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use loci::Here;
use serde::Serialize;
use tokio::io::AsyncBufReadExt;

use crate::grain::{GrainError, GrainRef};
use crate::grains::{Counter, CounterMessage, Greet, Greeter, Sleeper};
use crate::program::orleans::{self, Client};
use crate::routing::create;

/// What the client runs.
#[derive(Debug, Clone, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    /// Create a greeter and a counter; tell and ask them; a grain asks another.
    Basic,
    /// One message at a time per grain, many grains at once on a silo.
    Serial,
    /// Named counters: add to each, pause (a silo may be killed), add again.
    Counters,
    /// Create grains, pause (a silo may join), create more: where each went.
    Placement,
    /// Create many counters and print how they spread over the silos.
    Balance,
    /// Asks per second to one grain and to many, tells per second.
    Measure,
}

/// The client's scenario, supplied by its executable.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// What to run.
    pub which: Which,
    /// How many grains (counters, balance, placement, measure).
    pub grains: usize,
    /// How many messages per grain (counters).
    pub rounds: u64,
    /// Wait for a line on standard input in the middle.
    pub pause: bool,
}

/// Why a scenario failed.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// A grain failed.
    #[error(transparent)]
    Grain(#[from] GrainError),
    /// A call to the master failed.
    #[error("{0}")]
    Remote(String),
    /// Standard input ended while paused.
    #[error("standard input ended while paused")]
    NoInput,
}

/// The start of the line the client prints when it pauses.
pub const PAUSED: &str = "paused: press enter to go on";

fn print_result<T: Serialize>(name: &str, value: &T) {
    match serde_json::to_string(value) {
        Ok(json) => println!("result {name} {json}"),
        Err(error) => eprintln!("result {name} could not be printed: {error}"),
    }
}

async fn pause(pause: bool) -> Result<(), ScenarioError> {
    if pause {
        println!("{PAUSED}");
        let mut line = String::new();
        match tokio::io::BufReader::new(tokio::io::stdin()).read_line(&mut line).await {
            Ok(n) if n > 0 => {}
            _ => return Err(ScenarioError::NoInput),
        }
    }
    Ok(())
}

/// Runs the client's scenario.
pub async fn run(ctx: &Here<Client>) -> Result<(), ScenarioError> {
    let scenario = ctx.local(orleans::scenario).clone();
    match scenario.which {
        Which::Basic => basic(ctx).await,
        Which::Serial => serial(ctx).await,
        Which::Counters => counters(ctx, &scenario).await,
        Which::Placement => placement(ctx, &scenario).await,
        Which::Balance => balance(ctx, scenario.grains).await,
        Which::Measure => measure(ctx, scenario.grains).await,
    }
}

async fn basic(ctx: &Here<Client>) -> Result<(), ScenarioError> {
    let greeter: GrainRef<Greeter> = create(ctx).await?;
    print_result("hello", &greeter.ask(ctx, Greet::Hello { visits: None }).await?);
    let counter: GrainRef<Counter> = create(ctx).await?;
    for _ in 0..10 {
        counter.tell(ctx, CounterMessage::Add(1)).await?;
    }
    // Tells and asks from one client to one grain arrive in order: the ask sees all ten.
    print_result("count", &counter.ask(ctx, CounterMessage::Get).await?);
    // The counter's reference travels to the greeter, which asks it.
    let visit = greeter.ask(ctx, Greet::Hello { visits: Some(counter.clone()) }).await?;
    print_result("visit", &visit);
    print_result("after-visit", &counter.ask(ctx, CounterMessage::Get).await?);
    Ok(())
}

#[derive(Serialize)]
struct Serial {
    one_grain_ms: u128,
    one_grain_overlaps: usize,
    many_grains_ms: u128,
    many_grains_overlaps: usize,
}

/// Pairs of the intervals that overlap.
fn overlaps(intervals: &[(u128, u128)]) -> usize {
    let mut count = 0;
    for (i, a) in intervals.iter().enumerate() {
        for b in &intervals[i + 1..] {
            if a.0 < b.1 && b.0 < a.1 {
                count += 1;
            }
        }
    }
    count
}

async fn serial(ctx: &Here<Client>) -> Result<(), ScenarioError> {
    const SLEEP_MS: u64 = 100;
    const MESSAGES: usize = 8;
    let one: GrainRef<Sleeper> = create(ctx).await?;
    let started = Instant::now();
    let asks = (0..MESSAGES).map(|_| one.ask(ctx, SLEEP_MS));
    let one_grain: Vec<(u128, u128)> = futures_join(asks).await?;
    let one_grain_ms = started.elapsed().as_millis();
    let mut many = Vec::new();
    for _ in 0..MESSAGES {
        many.push(create::<Sleeper>(ctx).await?);
    }
    let started = Instant::now();
    let many_grains: Vec<(u128, u128)> = futures_join(many.iter().map(|grain| grain.ask(ctx, SLEEP_MS))).await?;
    let many_grains_ms = started.elapsed().as_millis();
    print_result(
        "serial",
        &Serial {
            one_grain_ms,
            one_grain_overlaps: overlaps(&one_grain),
            many_grains_ms,
            many_grains_overlaps: overlaps(&many_grains),
        },
    );
    Ok(())
}

/// Runs the futures at once; their results in order, or the first error.
async fn futures_join<T, F>(futures: impl IntoIterator<Item = F>) -> Result<Vec<T>, GrainError>
where
    F: std::future::Future<Output = Result<T, GrainError>>,
{
    let results = futures_util::future::join_all(futures).await;
    results.into_iter().collect()
}

async fn counters(ctx: &Here<Client>, scenario: &Scenario) -> Result<(), ScenarioError> {
    let counters: Vec<GrainRef<Counter>> = (0..scenario.grains).map(|i| GrainRef::named(format!("c{i}"))).collect();
    for run in ["first", "second"] {
        let mut totals = BTreeMap::new();
        for counter in &counters {
            let mut total = 0;
            for _ in 0..scenario.rounds {
                total = counter.ask(ctx, CounterMessage::Add(1)).await?;
            }
            totals.insert(counter.id().to_owned(), total);
        }
        let mut silos = BTreeMap::new();
        for counter in &counters {
            silos.insert(counter.id().to_owned(), counter.silo(ctx).await?.name().to_owned());
        }
        print_result(&format!("{run}-silos"), &silos);
        print_result(run, &totals);
        if run == "first" {
            pause(scenario.pause).await?;
        }
    }
    Ok(())
}

async fn placement(ctx: &Here<Client>, scenario: &Scenario) -> Result<(), ScenarioError> {
    for run in ["first", "second"] {
        let mut silos: BTreeMap<String, usize> = BTreeMap::new();
        for _ in 0..scenario.grains {
            let counter: GrainRef<Counter> = create(ctx).await?;
            counter.ask(ctx, CounterMessage::Add(1)).await?;
            *silos.entry(counter.silo(ctx).await?.name().to_owned()).or_default() += 1;
        }
        print_result(run, &silos);
        if run == "first" {
            pause(scenario.pause).await?;
        }
    }
    Ok(())
}

async fn balance(ctx: &Here<Client>, grains: usize) -> Result<(), ScenarioError> {
    let mut counters = Vec::new();
    for _ in 0..grains {
        counters.push(create::<Counter>(ctx).await?);
    }
    // One message each activates them where they were placed.
    futures_join(counters.iter().map(|counter| counter.ask(ctx, CounterMessage::Add(1)))).await?;
    // The silos report their active grains with their heartbeats.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let view =
            ctx.remote(orleans::view).call(()).await.map_err(|error| ScenarioError::Remote(error.to_string()))?;
        let active: usize = view.iter().map(|silo| silo.active).sum();
        if active >= grains || Instant::now() > deadline {
            let spread: BTreeMap<String, usize> = view.iter().map(|silo| (silo.name.clone(), silo.active)).collect();
            println!("{grains} grains over {} silos: {spread:?}", view.len());
            print_result("balance", &spread);
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[derive(Serialize)]
struct Measured {
    asks_one_grain_per_s: f64,
    asks_many_grains_per_s: f64,
    tells_per_s: f64,
    /// Every ask and tell reached its grain.
    all_handled: bool,
}

async fn measure(ctx: &Here<Client>, grains: usize) -> Result<(), ScenarioError> {
    const IN_FLIGHT: usize = 64;
    const ASKS: usize = 20_000;
    let one: GrainRef<Counter> = create(ctx).await?;
    let mut many = Vec::new();
    for _ in 0..grains {
        many.push(create::<Counter>(ctx).await?);
    }
    // Warm up: activate every grain and make every connection.
    futures_join(many.iter().chain([&one]).map(|counter| counter.ask(ctx, CounterMessage::Add(0)))).await?;

    let rate = |count: usize, started: Instant| count as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    run_bounded(ASKS, IN_FLIGHT, |_| one.ask(ctx, CounterMessage::Add(1))).await?;
    let asks_one_grain_per_s = rate(ASKS, started);

    let started = Instant::now();
    run_bounded(ASKS, IN_FLIGHT, |i| many[i % many.len()].ask(ctx, CounterMessage::Add(1))).await?;
    let asks_many_grains_per_s = rate(ASKS, started);

    // Tells, until every grain has handled them: the asks after them come after them.
    let started = Instant::now();
    run_bounded(ASKS, IN_FLIGHT, |i| many[i % many.len()].tell(ctx, CounterMessage::Add(1))).await?;
    let totals = futures_join(many.iter().map(|counter| counter.ask(ctx, CounterMessage::Get))).await?;
    let tells_per_s = rate(ASKS, started);
    // Grain i got one ask and one tell for every i-th of the operations.
    let n = many.len();
    let expected = |i: usize| 2 * (ASKS / n + usize::from(i < ASKS % n)) as u64;
    let all_handled = totals.iter().enumerate().all(|(i, total)| *total == expected(i));
    let measured = Measured { asks_one_grain_per_s, asks_many_grains_per_s, tells_per_s, all_handled };
    println!(
        "asks/s to one grain: {:.0}; to {grains} grains: {:.0}; tells/s: {:.0}",
        measured.asks_one_grain_per_s, measured.asks_many_grains_per_s, measured.tells_per_s
    );
    print_result("measure", &measured);
    Ok(())
}

/// Runs `count` operations, at most `in_flight` at once.
async fn run_bounded<F, T>(count: usize, in_flight: usize, operation: impl Fn(usize) -> F) -> Result<(), GrainError>
where
    F: std::future::Future<Output = Result<T, GrainError>>,
{
    use futures_util::stream::{self, StreamExt, TryStreamExt};
    stream::iter(0..count).map(operation).buffer_unordered(in_flight).try_for_each(|_| async { Ok(()) }).await
}
