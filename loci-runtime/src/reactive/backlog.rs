//! Backpressure through the reactive graph.
//!
//! Firing an event is synchronous, and an occurrence may be queued for remote subscribers deep
//! inside it (a mapped event, a relayed one). Every queue it goes to counts itself here, and
//! one over its limit reports a wait; whoever fired the occurrence and can wait
//! ([`Event::send`], a connection's reader relaying remote occurrences) collects those waits
//! and awaits them before going on. That is how readers that are behind slow the code that
//! feeds them instead of losing occurrences.
//!
//! Only while most of the queues an occurrence went to are behind does the sender wait: one
//! subscriber slower than the others then slows only its own stream, and its queue grows.
//! A queue that has grown far (half its hard limit) is waited for whatever the others do, so
//! a subscriber that reads, however slowly, is never cut off for it: past that lead it paces
//! the sender. Code that fires without collecting ([`Event::fire`]) never waits.
//!
//! [`Event::send`]: crate::Event::send
//! [`Event::fire`]: crate::Event::fire

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;

/// Waiting until a queue has room again.
pub(crate) type Wait = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// What one collection has seen so far.
#[derive(Default)]
struct Collected {
    /// Occurrences queued, whether or not their queue was behind.
    queued: usize,
    /// The waits reported, one per queue (by key), and whether each must be waited for.
    waits: Vec<(usize, Wait, bool)>,
}

thread_local! {
    /// `None` when nobody collects.
    static COLLECTED: RefCell<Option<Collected>> = const { RefCell::new(None) };
}

/// What a sender waits for after firing: until most of the queues its occurrences went to
/// have room. Those still behind after that are a minority and are not waited for.
#[derive(Default)]
pub(crate) struct Backlog {
    waits: Vec<Wait>,
    /// Queues so far behind that they are waited for in any case.
    must: Vec<Wait>,
    /// How many of `waits` may still be pending when the sender goes on.
    may_remain: usize,
}

impl Backlog {
    /// Whether the sender would wait: most of the queues are behind, or one far behind.
    pub(crate) fn is_behind(&self) -> bool {
        !self.must.is_empty() || self.waits.len() > self.may_remain
    }

    /// Waits until the queues far behind have room, and at most a minority of the others is
    /// still behind.
    pub(crate) async fn wait(self) {
        futures_util::future::join_all(self.must).await;
        if self.waits.len() <= self.may_remain {
            return;
        }
        let mut pending: futures_util::stream::FuturesUnordered<Wait> = self.waits.into_iter().collect();
        while pending.len() > self.may_remain {
            if futures_util::StreamExt::next(&mut pending).await.is_none() {
                return;
            }
        }
    }
}

/// Runs `fire` and returns, with its result, what to wait for before firing more.
pub(crate) fn collect<R>(fire: impl FnOnce() -> R) -> (R, Backlog) {
    let outer = COLLECTED.with(|collected| collected.borrow_mut().replace(Collected::default()));
    let result = fire();
    let collected =
        COLLECTED.with(|collected| std::mem::replace(&mut *collected.borrow_mut(), outer)).unwrap_or_default();
    let (must, waits): (Vec<_>, Vec<_>) = collected.waits.into_iter().partition(|(_, _, must)| *must);
    let backlog = Backlog {
        waits: waits.into_iter().map(|(_, wait, _)| wait).collect(),
        must: must.into_iter().map(|(_, wait, _)| wait).collect(),
        may_remain: collected.queued / 2,
    };
    (result, backlog)
}

/// Counts one occurrence queued for a subscriber.
pub(crate) fn queued() {
    COLLECTED.with(|collected| {
        if let Some(collected) = collected.borrow_mut().as_mut() {
            collected.queued += 1;
        }
    });
}

/// Reports that the queue `key` is over its limit: whoever collects may `wait` for it, and
/// must when the queue is `far` behind. Nothing happens when nobody collects.
pub(crate) fn report(key: usize, far: bool, wait: impl FnOnce() -> Wait) {
    COLLECTED.with(|collected| {
        if let Some(collected) = collected.borrow_mut().as_mut() {
            if !collected.waits.iter().any(|(known, _, _)| *known == key) {
                collected.waits.push((key, wait(), far));
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn behind(key: usize) {
        queued();
        report(key, false, || Box::pin(async {}));
    }

    #[test]
    fn waits_are_collected_once_per_queue_and_only_while_collecting() {
        behind(1);
        let ((), waits) = collect(|| {
            behind(1);
            behind(1);
            behind(2);
        });
        assert_eq!(waits.waits.len(), 2);
        let ((), none) = collect(|| {});
        assert!(!none.is_behind(), "a report outside collecting is not kept");
    }

    #[test]
    fn a_minority_of_queues_behind_is_not_waited_for() {
        let ((), waits) = collect(|| {
            behind(1);
            queued();
            queued();
        });
        assert!(!waits.is_behind(), "one of three behind: the others go on");
        let ((), waits) = collect(|| {
            behind(1);
            behind(2);
            queued();
        });
        assert!(waits.is_behind(), "two of three behind: wait");
        assert_eq!(waits.may_remain, 1, "until one of them has room again");
        let ((), waits) = collect(|| {
            queued();
            report(1, true, || Box::pin(async {}));
            queued();
            queued();
        });
        assert!(waits.is_behind(), "one far behind is waited for");
    }
}
