//! A chat node that floods: it sends `--lines` numbered lines as fast as the registry takes
//! them, and checks that it receives every line of the other `--senders` nodes, in order per
//! sender. For load tests of lossless delivery; see `docs/performance.md`.
//!
//! It prints `ready` once it is subscribed, starts sending when a line `go` arrives on stdin,
//! and prints a summary when everything arrived.

use std::collections::HashMap;
use std::io::BufRead;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;

/// A chat node that sends numbered lines as fast as it can and checks what it receives.
#[derive(Parser)]
#[command(name = "chat-flood")]
struct Args {
    /// How many lines this node sends
    #[arg(long, default_value_t = 50_000)]
    lines: u64,
    /// How many other nodes send as many lines
    #[arg(long)]
    senders: u64,
    #[command(flatten)]
    loci: loci::InstanceArgs,
}

/// What arrived from each sender, checked for order.
#[derive(Default)]
struct Tally {
    next: HashMap<String, u64>,
    finished: HashMap<String, Duration>,
    total: u64,
    out_of_order: u64,
}

fn main() -> loci::Result<()> {
    let args = Args::parse();
    args.loci.init_logging();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(flood(args))
}

async fn flood(args: Args) -> loci::Result<()> {
    let running = args.loci.builder::<chat::Node>().start().await?;
    let here = running.here().clone();
    let expected = args.lines * args.senders;
    let tally = Arc::new(Mutex::new(Tally::default()));
    let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel();
    let started = Arc::new(Mutex::new(None::<Instant>));
    let (seen, since) = (Arc::clone(&tally), Arc::clone(&started));
    let lines = args.lines;
    let _ = here.remote(chat::chat::public_message).as_local().observe(move |line| {
        let Some((name, number)) = line.split_once(": L") else { return };
        let Ok(number) = number.parse::<u64>() else { return };
        let mut tally = seen.lock().unwrap();
        let next = tally.next.insert(name.to_owned(), number + 1).unwrap_or(0);
        if number != next {
            tally.out_of_order += 1;
        }
        if number + 1 == lines {
            let elapsed = since.lock().unwrap().map_or(Duration::ZERO, |started: Instant| started.elapsed());
            tally.finished.insert(name.to_owned(), elapsed);
        }
        tally.total += 1;
        if tally.total == expected {
            let _ = done_tx.send(());
        }
    });
    // A round trip after subscribing: the registry has the subscription before anyone sends.
    let online = here.remote(chat::chat::online).as_local().await?;
    println!("ready ({} online)", online.len());
    let go = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        while std::io::stdin().lock().read_line(&mut line).is_ok_and(|read| read > 0) {
            if line.trim() == "go" {
                return true;
            }
            line.clear();
        }
        false
    });
    if !go.await.unwrap_or(false) {
        return Ok(());
    }
    let began = Instant::now();
    *started.lock().unwrap() = Some(began);
    let message = here.local(chat::chat::message);
    for n in 0..args.lines {
        message.send(format!("L{n}")).await;
    }
    println!("sent {} lines in {:.2} s", args.lines, began.elapsed().as_secs_f64());
    if expected > 0 {
        done.recv().await;
    }
    let elapsed = began.elapsed();
    let summary = {
        let tally = tally.lock().unwrap();
        let (first, last) = (tally.finished.values().min().copied(), tally.finished.values().max().copied());
        format!(
            "received {} lines from {} senders, {} out of order, in {:.2} s ({:.0} lines/s); senders finished between {:.2} s and {:.2} s",
            tally.total,
            tally.next.len(),
            tally.out_of_order,
            elapsed.as_secs_f64(),
            tally.total as f64 / elapsed.as_secs_f64(),
            first.unwrap_or_default().as_secs_f64(),
            last.unwrap_or_default().as_secs_f64(),
        )
    };
    println!("{summary}");
    // Stay until stopped: the others may still be receiving this node's lines.
    running.ended().await
}
