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
//! A queue that has grown far (twice its limit) is waited for whatever the others do, so a
//! subscriber that reads, however slowly, is never cut off for it: past that lead it paces
//! the sender. Code that fires without collecting ([`Event::fire`]) never waits.
//!
//! [`Event::send`]: crate::Event::send
//! [`Event::fire`]: crate::Event::fire

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;

/// Waiting until a queue has room again.
pub(crate) type Wait = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// What one collection has seen so far.
#[derive(Default)]
struct Collected {
    /// The waits reported, one per queue (by key), and whether each must be waited for.
    waits: Vec<(usize, Wait, bool)>,
}

thread_local! {
    /// `None` when nobody collects.
    static COLLECTED: RefCell<Option<Collected>> = const { RefCell::new(None) };
    /// Occurrences queued on this thread, whether or not their queue was behind: counted
    /// always (a collection reads the difference), as cheaply as a counter can be.
    static QUEUED: Cell<usize> = const { Cell::new(0) };
}

/// What a sender waits for after firing: until most of the queues its occurrences went to
/// have room. Those still behind after that are a minority and are not waited for.
#[derive(Default)]
pub(crate) struct Backlog {
    /// By queue key.
    waits: Vec<(usize, Wait)>,
    /// Queues so far behind that they are waited for in any case.
    must: Vec<(usize, Wait)>,
    /// How many of `waits` may still be pending when the sender goes on.
    may_remain: usize,
}

impl Backlog {
    /// Whether the sender would wait: most of the queues are behind, or one far behind.
    pub(crate) fn is_behind(&self) -> bool {
        !self.must.is_empty() || self.waits.len() > self.may_remain
    }

    /// Leaves out the queue `key`: a connection's reader must not wait for its own queue, or
    /// two peers relaying each other's occurrences would wait for each other.
    pub(crate) fn without(mut self, key: usize) -> Self {
        let keep = |(known, _): &(usize, Wait)| *known != key;
        self.waits.retain(keep);
        self.must.retain(keep);
        self
    }

    /// Waits until the queues far behind have room, and at most a minority of the others is
    /// still behind. Nothing to wait for is the common case: that future stays small (the
    /// waiting one is boxed), since every `send` and every relayed occurrence awaits one.
    pub(crate) async fn wait(self) {
        if self.is_behind() {
            Box::pin(self.wait_behind()).await;
        }
    }

    async fn wait_behind(self) {
        futures_util::future::join_all(self.must.into_iter().map(|(_, wait)| wait)).await;
        if self.waits.len() <= self.may_remain {
            return;
        }
        let mut pending: futures_util::stream::FuturesUnordered<Wait> =
            self.waits.into_iter().map(|(_, wait)| wait).collect();
        while pending.len() > self.may_remain {
            if futures_util::StreamExt::next(&mut pending).await.is_none() {
                return;
            }
        }
    }
}

/// Runs `fire` and returns, with its result, what to wait for before firing more.
pub(crate) fn collect<R>(fire: impl FnOnce() -> R) -> (R, Backlog) {
    /// Puts back what was collected around this collection, also when `fire` panics (a
    /// connection's reader catches panics of observers and goes on).
    struct Restore(Option<Option<Collected>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some(outer) = self.0.take() {
                let _ = COLLECTED.try_with(|collected| *collected.borrow_mut() = outer);
            }
        }
    }
    let outer = COLLECTED.with(|collected| collected.borrow_mut().replace(Collected::default()));
    let mut restore = Restore(Some(outer));
    let queued_before = QUEUED.with(Cell::get);
    let result = fire();
    let queued = QUEUED.with(Cell::get).wrapping_sub(queued_before);
    let outer = restore.0.take().unwrap_or_default();
    let collected =
        COLLECTED.with(|collected| std::mem::replace(&mut *collected.borrow_mut(), outer)).unwrap_or_default();
    let (must, waits): (Vec<_>, Vec<_>) = collected.waits.into_iter().partition(|(_, _, must)| *must);
    let backlog = Backlog {
        waits: waits.into_iter().map(|(key, wait, _)| (key, wait)).collect(),
        must: must.into_iter().map(|(key, wait, _)| (key, wait)).collect(),
        may_remain: queued / 2,
    };
    (result, backlog)
}

/// Counts one occurrence queued for a subscriber.
pub(crate) fn queued() {
    QUEUED.with(|queued| queued.set(queued.get().wrapping_add(1)));
}

/// Reports that the queue `key` is over its limit: whoever collects may `wait` for it, and
/// must when the queue is `far` behind. Nothing happens when nobody collects.
pub(crate) fn report(key: usize, far: bool, wait: impl FnOnce() -> Wait) {
    COLLECTED.with(|collected| {
        if let Some(collected) = collected.borrow_mut().as_mut() {
            match collected.waits.iter_mut().find(|(known, _, _)| *known == key) {
                // Reported again, now far behind: that one must be waited for.
                Some((_, _, was_far)) => *was_far |= far,
                None => collected.waits.push((key, wait(), far)),
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
        let caught = std::panic::catch_unwind(|| collect(|| panic!("an observer panics")));
        assert!(caught.is_err());
        assert!(
            COLLECTED.with(|collected| collected.borrow().is_none()),
            "a panic inside a collection leaves nothing collecting"
        );
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
