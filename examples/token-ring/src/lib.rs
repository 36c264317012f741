//! A token ring as a loci program, built on named ties.
//!
//! Every node has two ties to its own kind, `prev` and `next`. It takes the token from its
//! `prev` and hands it to its `next`, one hop further each time. A node that is killed and
//! restarted rejoins the ring: its `prev` dials it again and its `next` accepts it again. A
//! token it held when it died is handed to it again by its `prev`, which keeps the last token
//! it handed on until a newer one comes round; hops that were seen already are dropped, so the
//! ring never carries two tokens.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;

/// How one node of the ring behaves, from its command line.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How many nodes the ring has (to count rounds).
    pub members: u64,
    /// Whether this node starts the token.
    pub starts: bool,
    /// How long the node holds the token before handing it on.
    pub hold: Duration,
    /// After how many rounds the starting node keeps the token; 0: never.
    pub rounds: u64,
}

/// What one node knows about the token.
#[derive(Debug, Default)]
pub struct Token {
    state: Mutex<TokenState>,
    arrived: Notify,
}

#[derive(Debug, Default)]
struct TokenState {
    /// The highest hop this node has taken.
    seen: u64,
    /// The hop taken last and not yet handed on.
    holding: Option<u64>,
}

impl Token {
    /// Takes the token at `hop`; `false` for a hop seen already (a token handed again after a
    /// restart, which has gone round meanwhile).
    pub fn take(&self, hop: u64) -> bool {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if hop <= state.seen && state.seen > 0 {
            return false;
        }
        state.seen = hop;
        state.holding = Some(hop);
        drop(state);
        self.arrived.notify_one();
        true
    }

    /// Waits for the next token to hold.
    pub async fn next(&self) -> u64 {
        loop {
            let arrived = self.arrived.notified();
            if let Some(hop) = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).holding.take() {
                return hop;
            }
            arrived.await;
        }
    }
}

#[loci::multitier]
pub mod ring {
    use std::time::Duration;

    use loci::{Here, Local, Remote};

    use crate::{Settings, Token};

    /// A member of the ring: it takes the token from its `prev` and hands it to its `next`.
    /// A connection that is one node's `next` is the other node's `prev`.
    #[peer(ties(prev: Node = Single, next: Node = Single), back(next = prev))]
    pub struct Node;

    /// This node's settings, supplied by its executable.
    #[on(Node)]
    pub fn settings() -> Local<Settings>;

    /// The token as this node knows it.
    #[on(Node)]
    fn token() -> Local<Token> {
        Local::default()
    }

    /// Takes the token at `hop` from this node's `prev`; `false` when the hop was seen already.
    #[on(Node)]
    pub fn take(ctx: &Here<Node>, caller: &Remote<Node>, hop: u64) -> bool {
        if caller.tie() != Some("prev") {
            eprintln!("refused a token from {}, which is not this node's prev", caller.name());
            return false;
        }
        ctx.local(token).take(hop)
    }

    /// Hands the token on to `next` until `next` has it, waiting for `next` while it is away.
    async fn hand_on(ctx: &Here<Node>, hop: u64) {
        loop {
            let handed = ctx.remote(take).over(next).when_connected().timeout(Duration::from_secs(5)).call(hop).await;
            match handed {
                Ok(_) => return,
                Err(error) => {
                    eprintln!("could not hand on hop {hop}: {error}; trying again");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    #[on(Node)]
    pub async fn main(ctx: Here<Node>) -> loci::Result<()> {
        let settings = ctx.local(settings);
        let token = ctx.local(token);
        // A `next` that comes back may have lost the token with its process: hand it the
        // last one again. If the token went on meanwhile, the ring drops the old hop.
        let (rejoined_tx, mut rejoined) = tokio::sync::mpsc::unbounded_channel();
        let _ = ctx.tie(next).joined().observe(move |remote| {
            let _ = rejoined_tx.send(remote.name().to_owned());
        });
        println!("{} is in the ring", ctx.name());
        if settings.starts {
            token.take(1);
        }
        let mut handed = None;
        loop {
            tokio::select! {
                hop = token.next() => {
                    let round = (hop - 1) / settings.members + 1;
                    println!("token hop {hop} round {round}");
                    if settings.starts && settings.rounds > 0 && hop > settings.rounds * settings.members {
                        println!("done: {} rounds", settings.rounds);
                        std::future::pending::<()>().await;
                    }
                    tokio::time::sleep(settings.hold).await;
                    handed = Some(hop + 1);
                    hand_on(&ctx, hop + 1).await;
                }
                Some(name) = rejoined.recv() => {
                    if let Some(hop) = handed {
                        println!("{name} joined as next; handing it hop {hop} again");
                        hand_on(&ctx, hop).await;
                    }
                }
            }
        }
    }
}
