//! The reconnection policy, and waiting for a lost `Single` remote to come back.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::core::{Core, Stop};
use crate::error::Error;

/// How an instance dials lost `--connect` targets again, and how long it waits for a lost
/// `Single` remote before it gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reconnect {
    /// The wait before the first new attempt; it doubles after each failed attempt.
    pub first_delay: Duration,
    /// The longest wait between attempts.
    pub max_delay: Duration,
    /// How long a lost `Single` remote may stay away before the instance ends; `None`: for
    /// ever; zero: at once, and lost targets are not dialled again.
    pub give_up: Option<Duration>,
}

impl Default for Reconnect {
    fn default() -> Self {
        Reconnect {
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            give_up: Some(Duration::from_secs(30)),
        }
    }
}

impl Reconnect {
    /// Never dial again; a lost `Single` remote ends the instance at once.
    pub fn never() -> Self {
        Reconnect { give_up: Some(Duration::ZERO), ..Reconnect::default() }
    }

    /// Whether lost targets are dialled again.
    pub fn enabled(&self) -> bool {
        self.give_up.is_none_or(|give_up| !give_up.is_zero())
    }

    /// The wait before attempt `attempt` (0 for the first), with up to a quarter of jitter so
    /// that instances that lost the same remote do not dial it in lockstep; at least 10 ms.
    pub fn delay(&self, attempt: u32, jitter: u64) -> Duration {
        let base =
            self.first_delay.saturating_mul(1u32 << attempt.min(16)).min(self.max_delay).max(Duration::from_millis(10));
        let quarter = base.as_millis() as u64 / 4;
        base + Duration::from_millis(if quarter == 0 { 0 } else { jitter % quarter })
    }
}

/// Jitter for dial delays: a xorshift sequence seeded by the instance and its tie, so that
/// instances that start together, or lose the same remote, do not dial in lockstep.
pub(crate) struct Jitter(u64);

impl Jitter {
    pub fn new(instance: u64, tie: u16) -> Self {
        // Xorshift never leaves 0.
        Jitter((instance ^ u64::from(tie)) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Waits for a lost `Single` remote's tie `tie` (to peer kind `peer`) to be connected again;
/// ends the instance with `lost` if it is not within `give_up`.
pub(crate) async fn await_single(core: Arc<Core>, peer: u16, tie: u16, give_up: Option<Duration>, lost: Error) {
    let deadline = give_up.and_then(|limit| tokio::time::Instant::now().checked_add(limit));
    let changed = &core.topology[usize::from(peer)].changed;
    loop {
        let next_change = changed.notified();
        tokio::pin!(next_change);
        next_change.as_mut().enable();
        if let Some(back) = core.first_connection_on(peer, Some(tie)) {
            tracing::info!(remote = %back.info, "the {} is back", back.info.peer_name);
            return;
        }
        if core.closed.load(Ordering::Acquire) {
            return;
        }
        match deadline {
            Some(deadline) => tokio::select! {
                () = next_change => {}
                () = tokio::time::sleep_until(deadline) => {
                    let Error::LostSingle { local, peer, remote, reason } = lost else { return };
                    let waited = give_up.unwrap_or_default().as_millis();
                    let reason = format!("{reason}; it did not come back within {waited} ms");
                    core.set_stop(Stop::Failed(Error::LostSingle { local, peer, remote, reason }));
                    return;
                }
            },
            None => next_change.await,
        }
    }
}
