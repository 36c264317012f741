//! The grains of the demo and the tests: the seed's greeter, a counter, and a sleeper that
//! shows one message at a time per grain.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::grain::{Grain, GrainContext, GrainRef};

/// Answers "Hello World!", as the seed's `GreeterGrain`; counts a visit on a counter grain it is
/// handed, if any (a grain sending a message to another grain, through a reference it was sent).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Greeter {
    /// How many it greeted.
    pub greeted: u64,
}

/// What a greeter is sent.
#[derive(Debug, Serialize, Deserialize)]
pub enum Greet {
    /// "hello", and the counter of the sender's visits, if it keeps one.
    Hello {
        /// Counts the visits.
        visits: Option<GrainRef<Counter>>,
    },
}

impl Grain for Greeter {
    const KIND: &'static str = "greeter";
    type Message = Greet;
    type Reply = String;

    async fn receive(&mut self, message: Greet, ctx: &GrainContext) -> String {
        self.greeted += 1;
        let Greet::Hello { visits } = message;
        match visits {
            None => "Hello World!".to_owned(),
            Some(counter) => match counter.ask(&ctx.silo, CounterMessage::Add(1)).await {
                Ok(visit) => format!("Hello World! (visit {visit} of {})", ctx.sender),
                Err(error) => format!("Hello World! (the visit was not counted: {error})"),
            },
        }
    }
}

/// A number that grows.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Counter {
    /// Its value.
    pub total: u64,
}

/// What a counter is sent.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub enum CounterMessage {
    /// Add this much; answers the new total.
    Add(u64),
    /// Answers the total.
    Get,
}

impl Grain for Counter {
    const KIND: &'static str = "counter";
    type Message = CounterMessage;
    type Reply = u64;

    async fn receive(&mut self, message: CounterMessage, _ctx: &GrainContext) -> u64 {
        if let CounterMessage::Add(n) = message {
            self.total = self.total.saturating_add(n);
        }
        self.total
    }
}

/// Sleeps as long as it is told, and answers when it started and ended (microseconds since
/// the Unix epoch): the intervals of one sleeper never overlap, those of several do.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Sleeper {
    /// Messages handled.
    pub handled: u64,
}

impl Grain for Sleeper {
    const KIND: &'static str = "sleeper";
    type Message = u64;
    type Reply = (u128, u128);

    async fn receive(&mut self, millis: u64, _ctx: &GrainContext) -> (u128, u128) {
        let now = || SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or_default();
        let start = now();
        tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
        self.handled += 1;
        (start, now())
    }
}
