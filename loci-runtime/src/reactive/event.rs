//! `Event<T>`: discrete occurrences that can be fired on one peer and observed on others.
//!
//! An event is a cheap handle (`Clone` shares it). Observers run synchronously, in
//! registration order, on the task that fires. An event that something else feeds (a derived
//! event: `map`, `filter`, `merge`; a remote event's local copy) lives while it has handles or
//! observers: an observed pipeline stays connected as long as its source lives, and one that
//! nobody can see any more is let go, up to its source (and, for a remote event, the remote
//! stops sending it).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;

type ObserverFn<T> = Arc<dyn Fn(&T) + Send + Sync>;

/// Observers in registration order. Registering or cancelling replaces the whole list, so
/// firing reads it without a lock and calls observers with nothing held (they may fire events).
type Observers<T> = Vec<(u64, ObserverFn<T>)>;

/// What a derived event holds of its source, to let go of it when detached.
struct Upstream {
    observation: Observation,
    release: Box<dyn FnOnce() + Send + Sync>,
}

struct Shared<T> {
    observers: ArcSwap<Observers<T>>,
    /// The observations this event was derived by (`map`, `filter`, `merge`).
    upstream: Mutex<Vec<Upstream>>,
    /// Placed values are never detached, whoever stops observing them.
    pinned: std::sync::atomic::AtomicBool,
    /// Serialises registrations and cancellations against each other.
    changes: Mutex<()>,
    next_observer: AtomicU64,
    /// Something else fires this event (it is derived, or a remote event's local copy): while
    /// observed, it keeps itself alive, since it may still fire without a handle.
    fed: std::sync::atomic::AtomicBool,
    keep_alive: Mutex<Option<Arc<Shared<T>>>>,
    /// Runs when the event is gone: a remote subscription ends here.
    on_release: Mutex<Option<Box<dyn FnOnce() + Send + Sync>>>,
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        let upstream = std::mem::take(self.upstream.get_mut().unwrap_or_else(PoisonError::into_inner));
        for Upstream { observation, release } in upstream {
            observation.cancel();
            release();
        }
        if let Some(release) = self.on_release.get_mut().unwrap_or_else(PoisonError::into_inner).take() {
            release();
        }
    }
}

/// A handle that does not keep an event alive: what a feeder holds.
pub(crate) struct WeakEvent<T>(std::sync::Weak<Shared<T>>);

impl<T> WeakEvent<T> {
    /// The event, if it still has handles or observers.
    pub(crate) fn upgrade(&self) -> Option<Event<T>> {
        self.0.upgrade().map(|shared| Event { shared })
    }
}

impl<T> Clone for WeakEvent<T> {
    fn clone(&self) -> Self {
        WeakEvent(self.0.clone())
    }
}

/// A stream of discrete occurrences of `T`.
///
/// Placed on a peer, an event is fired there with [`Event::fire`] and reached from tied
/// peers with `ctx.remote(item).as_local()`, `.from(&remote)` or `.from_all_seq()`.
pub struct Event<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Event<T> {
    fn clone(&self) -> Self {
        Event { shared: Arc::clone(&self.shared) }
    }
}

impl<T: 'static> std::fmt::Debug for Event<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event").field("observers", &self.observer_count()).finish()
    }
}

impl<T: 'static> Default for Event<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// A registered observer; [`Observation::cancel`] removes it. Dropping it keeps observing.
#[must_use = "an observation does nothing by itself; keep it to cancel the observer later, or ignore it with `let _ =`"]
pub struct Observation {
    cancel: Box<dyn FnOnce() + Send + Sync>,
}

impl Observation {
    pub(crate) fn new(cancel: impl FnOnce() + Send + Sync + 'static) -> Self {
        Observation { cancel: Box::new(cancel) }
    }

    /// Removes the observer; occurrences fired afterwards no longer reach it.
    pub fn cancel(self) {
        (self.cancel)();
    }
}

impl std::fmt::Debug for Observation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Observation")
    }
}

impl<T: 'static> Event<T> {
    /// A new event with no observers.
    pub fn new() -> Self {
        Event {
            shared: Arc::new(Shared {
                observers: ArcSwap::new(Arc::new(Vec::new())),
                upstream: Mutex::new(Vec::new()),
                pinned: std::sync::atomic::AtomicBool::new(false),
                changes: Mutex::new(()),
                next_observer: AtomicU64::new(0),
                fed: std::sync::atomic::AtomicBool::new(false),
                keep_alive: Mutex::new(None),
                on_release: Mutex::new(None),
            }),
        }
    }

    /// A new event fed from elsewhere through a [`WeakEvent`]: it lives while it has handles
    /// or observers, and `release` runs when it is gone.
    pub(crate) fn fed(release: impl FnOnce() + Send + Sync + 'static) -> Self {
        let event = Event::new();
        event.shared.fed.store(true, Ordering::Release);
        *event.shared.on_release.lock().unwrap_or_else(PoisonError::into_inner) = Some(Box::new(release));
        event
    }

    /// A handle that does not keep this event alive.
    pub(crate) fn downgrade(&self) -> WeakEvent<T> {
        WeakEvent(Arc::downgrade(&self.shared))
    }

    /// Delivers `value` to every observer, in the order they were registered.
    pub fn fire(&self, value: T) {
        let observers = self.shared.observers.load();
        for (_, observer) in observers.iter() {
            observer(&value);
        }
    }

    /// Fires `value` like [`Event::fire`] (at once, before this returns), and gives a future
    /// that, when most of the remote subscribers it was queued for are behind, waits until they
    /// have room again: awaiting it is backpressure. One subscriber slower than the others is
    /// not waited for: its queue grows, up to a hard limit where it is disconnected as too
    /// slow. Nothing is lost silently; see the delivery guarantees in the guide.
    ///
    /// ```
    /// # async fn feed(lines: loci::Event<String>) {
    /// for n in 0..1_000 {
    ///     lines.send(format!("line {n}")).await;
    /// }
    /// # }
    /// ```
    ///
    /// # Cancel safety
    /// The occurrence is fired when `send` is called, before the future is first polled, so
    /// dropping the future loses nothing: it only stops waiting for room.
    pub fn send(&self, value: T) -> impl std::future::Future<Output = ()> + Send + 'static {
        let ((), backlog) = super::backlog::collect(|| self.fire(value));
        backlog.wait()
    }

    /// Fires `value` like [`Event::fire`], never waiting, and says whether the remote
    /// subscribers keep up: `false` when most of those it was queued for are behind, where
    /// [`Event::send`] would wait. For a sender that must not wait but can slow down or shed
    /// load by itself.
    pub fn fire_checked(&self, value: T) -> bool {
        let ((), backlog) = super::backlog::collect(|| self.fire(value));
        !backlog.is_behind()
    }

    /// Calls `observer` for every occurrence fired from now on.
    pub fn observe(&self, observer: impl Fn(&T) + Send + Sync + 'static) -> Observation {
        let id = self.shared.next_observer.fetch_add(1, Ordering::Relaxed);
        let observer: ObserverFn<T> = Arc::new(observer);
        let _changing = self.shared.changes.lock().unwrap_or_else(PoisonError::into_inner);
        let observers: Observers<T> = self.shared.observers.load().iter().cloned().chain([(id, observer)]).collect();
        let first = observers.len() == 1;
        self.shared.observers.store(Arc::new(observers));
        if first && self.shared.fed.load(Ordering::Acquire) {
            *self.shared.keep_alive.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&self.shared));
        }
        let weak = Arc::downgrade(&self.shared);
        Observation {
            cancel: Box::new(move || {
                if let Some(shared) = weak.upgrade() {
                    let changing = shared.changes.lock().unwrap_or_else(PoisonError::into_inner);
                    let observers: Observers<T> =
                        shared.observers.load().iter().filter(|(observer, _)| *observer != id).cloned().collect();
                    let last = observers.is_empty();
                    let old = shared.observers.swap(Arc::new(observers));
                    // Let go of the old list (the cancelled observer and what it holds) and of
                    // itself outside the lock: either may run drops that cancel observers here.
                    let held = if last {
                        shared.keep_alive.lock().unwrap_or_else(PoisonError::into_inner).take()
                    } else {
                        None
                    };
                    drop(changing);
                    drop(old);
                    drop(held);
                }
            }),
        }
    }

    /// An event that fires `f(value)` whenever this one fires `value`.
    pub fn map<U: 'static>(&self, f: impl Fn(&T) -> U + Send + Sync + 'static) -> Event<U> {
        let mapped = Event::new();
        let target = mapped.downgrade();
        let observation = self.observe(move |value| {
            if let Some(target) = target.upgrade() {
                target.fire(f(value));
            }
        });
        mapped.derived_from(self, observation);
        mapped
    }

    /// Records that this event is fed by `observation` on `source`: it holds its source, and
    /// the source only reaches it weakly.
    fn derived_from<S: 'static>(&self, source: &Event<S>, observation: Observation) {
        self.shared.fed.store(true, Ordering::Release);
        let source = source.clone();
        let release = Box::new(move || {
            if !source.shared.pinned.load(Ordering::Acquire) && source.observer_count() == 0 {
                source.detach();
            }
        });
        self.shared.upstream.lock().unwrap_or_else(PoisonError::into_inner).push(Upstream { observation, release });
    }

    /// Stops this event from being fed by the events it was derived from, and lets go of those
    /// that nobody else observes, so a per-remote pipeline leaves nothing behind.
    pub(crate) fn detach(&self) {
        let upstream = std::mem::take(&mut *self.shared.upstream.lock().unwrap_or_else(PoisonError::into_inner));
        for Upstream { observation, release } in upstream {
            observation.cancel();
            release();
        }
    }

    /// Marks this event as a placed value: never detached.
    pub(crate) fn pin(&self) {
        self.shared.pinned.store(true, Ordering::Release);
    }

    /// An event that fires the occurrences of this one for which `keep` holds.
    pub fn filter(&self, keep: impl Fn(&T) -> bool + Send + Sync + 'static) -> Event<T>
    where
        T: Clone,
    {
        let filtered = Event::new();
        let target = filtered.downgrade();
        let observation = self.observe(move |value| {
            if let Some(target) = target.upgrade().filter(|_| keep(value)) {
                target.fire(value.clone());
            }
        });
        filtered.derived_from(self, observation);
        filtered
    }

    /// The occurrences of this event and of `other`, merged.
    pub fn merge(&self, other: &Event<T>) -> Event<T>
    where
        T: Clone,
    {
        let merged = Event::new();
        for source in [self, other] {
            let target = merged.downgrade();
            let observation = source.observe(move |value: &T| {
                if let Some(target) = target.upgrade() {
                    target.fire(value.clone());
                }
            });
            merged.derived_from(source, observation);
        }
        merged
    }

    /// How many observers are registered (derived events count as one each).
    pub fn observer_count(&self) -> usize {
        self.shared.observers.load().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn observers_see_fired_values_in_order_and_cancel_stops_them() {
        let event = Event::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let observation = event.observe(move |v: &u32| sink.lock().unwrap().push(*v));
        event.fire(1);
        event.fire(2);
        observation.cancel();
        event.fire(3);
        assert_eq!(*seen.lock().unwrap(), vec![1, 2]);
    }

    #[test]
    fn map_and_filter_stay_connected_after_the_handles_drop() {
        let source = Event::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let _ = source
            .filter(|v: &i32| v % 2 == 0)
            .map(|v| format!("<{v}>"))
            .observe(move |s| sink.lock().unwrap().push(s.clone()));
        for v in 0..5 {
            source.fire(v);
        }
        assert_eq!(*seen.lock().unwrap(), vec!["<0>", "<2>", "<4>"]);
    }

    #[test]
    fn detaching_a_pipeline_releases_it_up_to_a_pinned_source() {
        let placed = Event::new();
        placed.pin();
        let shared = placed.map(|v: &i32| v + 1);
        let _keep = shared.observe(|_| {});
        let per_remote = shared.filter(|v| v % 2 == 0).map(|v| v * 10);
        assert_eq!(shared.observer_count(), 2);
        per_remote.detach();
        assert_eq!(shared.observer_count(), 1, "the per-remote filter was removed from its source");
        assert_eq!(placed.observer_count(), 1, "the shared map is still observed, so it stays");
        let lonely = placed.map(|v| *v);
        lonely.detach();
        assert_eq!(placed.observer_count(), 1);
    }

    #[test]
    fn a_derived_event_nobody_can_see_is_let_go_and_leaves_its_source() {
        let source = Event::new();
        let mapped = source.map(|v: &i32| v + 1);
        assert_eq!(source.observer_count(), 1);
        drop(mapped);
        assert_eq!(source.observer_count(), 0, "the unobserved map is gone, and so is its observer");
        let released = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&released);
        let fed: Event<i32> = Event::fed(move || flag.store(true, Ordering::SeqCst));
        let observation = fed.map(|v| v * 2).observe(|_| {});
        let feeder = fed.downgrade();
        drop(fed);
        assert!(feeder.upgrade().is_some(), "observed through its map: still alive");
        assert!(!released.load(Ordering::SeqCst));
        observation.cancel();
        assert!(feeder.upgrade().is_none(), "nobody observes it any more");
        assert!(released.load(Ordering::SeqCst), "and its release ran");
    }
}
