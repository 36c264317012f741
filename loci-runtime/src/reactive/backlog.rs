//! Backpressure through the reactive graph.
//!
//! Firing an event is synchronous, and an occurrence may be queued for remote subscribers deep
//! inside it (a mapped event, a relayed one). When such a queue is over its limit, the queue
//! reports a wait here; whoever fired the occurrence and can wait ([`Event::send`], a
//! connection's reader relaying remote occurrences) collects those waits and awaits them before
//! going on. That is how a slow reader slows the code that feeds it instead of losing
//! occurrences. Code that fires without collecting ([`Event::fire`]) does not wait: the queue
//! then grows up to its hard limit (see the delivery guarantees in the guide).
//!
//! [`Event::send`]: crate::Event::send
//! [`Event::fire`]: crate::Event::fire

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;

/// Waiting until a queue has room again.
pub(crate) type Wait = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

thread_local! {
    /// The waits reported while collecting, one per queue (by key); `None` when nobody collects.
    static WAITS: RefCell<Option<Vec<(usize, Wait)>>> = const { RefCell::new(None) };
}

/// Runs `fire` and returns, with its result, the waits its occurrences reported.
pub(crate) fn collect<R>(fire: impl FnOnce() -> R) -> (R, Vec<Wait>) {
    let outer = WAITS.with(|waits| waits.borrow_mut().replace(Vec::new()));
    let result = fire();
    let waits = WAITS.with(|waits| std::mem::replace(&mut *waits.borrow_mut(), outer)).unwrap_or_default();
    (result, waits.into_iter().map(|(_, wait)| wait).collect())
}

/// Reports that the queue `key` is over its limit: whoever collects should `wait` for it.
/// Nothing happens when nobody collects.
pub(crate) fn report(key: usize, wait: impl FnOnce() -> Wait) {
    WAITS.with(|waits| {
        if let Some(waits) = waits.borrow_mut().as_mut() {
            if !waits.iter().any(|(known, _)| *known == key) {
                waits.push((key, wait()));
            }
        }
    });
}

/// Awaits every wait in turn.
pub(crate) async fn drain(waits: Vec<Wait>) {
    for wait in waits {
        wait.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_collected_once_per_queue_and_only_while_collecting() {
        report(1, || Box::pin(async {}));
        let ((), waits) = collect(|| {
            report(1, || Box::pin(async {}));
            report(1, || Box::pin(async {}));
            report(2, || Box::pin(async {}));
        });
        assert_eq!(waits.len(), 2);
        let ((), none) = collect(|| {});
        assert!(none.is_empty(), "a report outside collecting is not kept");
    }
}
