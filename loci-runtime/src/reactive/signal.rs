//! `Signal<T>` and `Var<T>`: values that change, propagated glitch-free in turns.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, RwLock, Weak};

use arc_swap::ArcSwap;

use super::event::{Event, Observation};

/// The dependencies read by one computation being created; the frame is removed also when
/// the computation panics.
struct Tracking {
    finished: bool,
}

impl Tracking {
    fn start() -> Tracking {
        TRACKING.with(|tracking| tracking.borrow_mut().push(Vec::new()));
        Tracking { finished: false }
    }

    fn finish(mut self) -> Vec<Arc<dyn Node>> {
        self.finished = true;
        TRACKING.with(|tracking| tracking.borrow_mut().pop()).unwrap_or_default()
    }
}

impl Drop for Tracking {
    fn drop(&mut self) {
        if !self.finished {
            TRACKING.with(|tracking| tracking.borrow_mut().pop());
        }
    }
}

/// One node of the dependency graph, without its value type, as the propagation sees it.
trait Node: Send + Sync {
    /// 0 for a `Var`; one more than the deepest dependency otherwise.
    fn level(&self) -> usize;
    /// Recomputes from the dependencies; `true` if the value changed.
    fn recompute(&self) -> bool;
    /// The nodes computed from this one that are still alive.
    fn dependents(&self) -> Vec<Arc<dyn Node>>;
    /// Registers a node computed from this one. Held weakly: a computed signal lives as long
    /// as its handles (or its observers), not as long as its sources.
    fn add_dependent(&self, dependent: Weak<dyn Node>);
    /// Forgets the node at address `dependent`, which no longer reads this one.
    fn remove_dependent(&self, dependent: usize);
    /// Places this node at `level` at least, and the nodes computed from it below it.
    fn raise_level(&self, level: usize);
    /// Runs observers and fires `changed`, after the turn.
    fn notify(&self);
}

/// Turns are serialised process-wide: a turn reads and writes many signals at once.
static TURN: Mutex<()> = Mutex::new(());

thread_local! {
    /// Whether this thread is inside a turn (recomputing), so nested writes are deferred.
    static IN_TURN: Cell<bool> = const { Cell::new(false) };
    /// Writes made during a turn, applied when it ends.
    static DEFERRED: RefCell<Vec<Box<dyn FnOnce()>>> = const { RefCell::new(Vec::new()) };
    /// Dependencies read by the computations being created, innermost last.
    static TRACKING: RefCell<Vec<Vec<Arc<dyn Node>>>> = const { RefCell::new(Vec::new()) };
}

fn node_id(node: &Arc<dyn Node>) -> usize {
    Arc::as_ptr(node) as *const () as usize
}

fn lock_turn() -> MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Marks this thread as inside a turn until dropped, also when a computation panics, so a
/// panic never leaves later writes deferred forever.
struct InTurn;

impl InTurn {
    fn enter() -> InTurn {
        IN_TURN.with(|t| t.set(true));
        InTurn
    }
}

impl Drop for InTurn {
    fn drop(&mut self) {
        IN_TURN.with(|t| t.set(false));
    }
}

/// Runs the writes deferred during a turn.
fn run_deferred() {
    for write in DEFERRED.with(|deferred| std::mem::take(&mut *deferred.borrow_mut())) {
        write();
    }
}

/// Propagates a change of `source` (already written) to everything that depends on it: each
/// dependent is recomputed after all of its own dependencies, in level order. Observers run
/// only when every value is updated.
///
/// In a graph whose dependencies do not change, every node is recomputed once. A computation
/// that starts reading a deeper signal rises in level; it is then queued again at its new
/// level, so it reads that signal only once it is up to date.
fn propagate(turn: MutexGuard<'static, ()>, source: Arc<dyn Node>) {
    let in_turn = InTurn::enter();
    let mut changed = vec![Arc::clone(&source)];
    let mut queue: BinaryHeap<(Reverse<usize>, Reverse<u64>, usize)> = BinaryHeap::new();
    let mut nodes: Vec<Arc<dyn Node>> = Vec::new();
    // Nodes waiting in the queue; one leaves this set when it is taken off the queue, so a
    // later change of one of its dependencies can queue it again.
    let mut queued = HashSet::new();
    let enqueue = |node: Arc<dyn Node>,
                   queue: &mut BinaryHeap<_>,
                   nodes: &mut Vec<Arc<dyn Node>>,
                   queued: &mut HashSet<usize>| {
        if queued.insert(node_id(&node)) {
            queue.push((Reverse(node.level()), Reverse(nodes.len() as u64), nodes.len()));
            nodes.push(node);
        }
    };
    for dependent in source.dependents() {
        enqueue(dependent, &mut queue, &mut nodes, &mut queued);
    }
    while let Some((Reverse(level), _, index)) = queue.pop() {
        let node = Arc::clone(&nodes[index]);
        queued.remove(&node_id(&node));
        let value_changed = node.recompute();
        if node.level() > level {
            // It read something deeper than it was placed: compute it again after that.
            enqueue(Arc::clone(&node), &mut queue, &mut nodes, &mut queued);
        }
        if value_changed {
            for dependent in node.dependents() {
                enqueue(dependent, &mut queue, &mut nodes, &mut queued);
            }
            if !changed.iter().any(|known| node_id(known) == node_id(&node)) {
                changed.push(node);
            }
        }
    }
    drop(in_turn);
    drop(turn);
    for node in changed {
        node.notify();
    }
    run_deferred();
}

type SignalObserver<T> = Arc<dyn Fn(&T) + Send + Sync>;

struct Core<T> {
    value: RwLock<T>,
    /// Raised when a recomputation starts reading a deeper signal.
    level: AtomicUsize,
    compute: Option<Box<dyn Fn() -> T + Send + Sync>>,
    /// What the last computation read, held strongly: sources outlive what is computed from them.
    dependencies: Mutex<Vec<Arc<dyn Node>>>,
    dependents: Mutex<Vec<Weak<dyn Node>>>,
    /// This node, to register it with dependencies found by a later computation.
    this: OnceLock<Weak<dyn Node>>,
    /// Keeps an observed computed signal alive after its last handle is dropped, until its
    /// observers are cancelled (or for good once its `changed` event was handed out).
    keep_alive: Mutex<Option<Arc<dyn Node>>>,
    /// Set once `changed` was handed out: held for good from then on.
    pinned: std::sync::atomic::AtomicBool,
    observers: ArcSwap<Vec<(u64, SignalObserver<T>)>>,
    observer_changes: Mutex<()>,
    next_observer: AtomicU64,
    changed: Event<T>,
    /// Runs when the signal is gone: following a remote signal ends here.
    on_release: Mutex<Option<Box<dyn FnOnce() + Send + Sync>>>,
}

impl<T> Drop for Core<T> {
    fn drop(&mut self) {
        if let Some(release) = self.on_release.get_mut().unwrap_or_else(PoisonError::into_inner).take() {
            release();
        }
    }
}

impl<T: Clone + PartialEq + Send + Sync + 'static> Node for Core<T> {
    fn level(&self) -> usize {
        self.level.load(Ordering::Relaxed)
    }

    fn recompute(&self) -> bool {
        let Some(compute) = &self.compute else { return false };
        // Dependencies are tracked anew on every evaluation: a signal read only on a branch
        // taken now becomes one, and one no longer read stops triggering this node.
        let tracking = Tracking::start();
        let next = compute();
        self.depend_on(tracking.finish());
        let mut value = self.value.write().unwrap_or_else(PoisonError::into_inner);
        if *value == next {
            return false;
        }
        *value = next;
        true
    }

    fn dependents(&self) -> Vec<Arc<dyn Node>> {
        let mut dependents = self.dependents.lock().unwrap_or_else(PoisonError::into_inner);
        dependents.retain(|dependent| dependent.strong_count() > 0);
        dependents.iter().filter_map(Weak::upgrade).collect()
    }

    fn add_dependent(&self, dependent: Weak<dyn Node>) {
        let mut dependents = self.dependents.lock().unwrap_or_else(PoisonError::into_inner);
        // Released dependents are dropped here too, so a source that never changes does not
        // collect them.
        dependents.retain(|known| known.strong_count() > 0);
        dependents.push(dependent);
    }

    fn remove_dependent(&self, dependent: usize) {
        let mut dependents = self.dependents.lock().unwrap_or_else(PoisonError::into_inner);
        dependents.retain(|known| known.as_ptr() as *const () as usize != dependent);
    }

    fn raise_level(&self, level: usize) {
        if self.level.fetch_max(level, Ordering::Relaxed) < level {
            // The graph is acyclic, so this ends at its leaves.
            for dependent in self.dependents() {
                dependent.raise_level(level + 1);
            }
        }
    }

    fn notify(&self) {
        let value = self.value.read().unwrap_or_else(PoisonError::into_inner).clone();
        for (_, observer) in self.observers.load().iter() {
            observer(&value);
        }
        self.changed.fire(value);
    }
}

impl<T: Clone + PartialEq + Send + Sync + 'static> Core<T> {
    /// Makes `dependencies` (what the latest computation read) this node's sources: registers
    /// with new ones, leaves old ones, and sits below the deepest of them.
    fn depend_on(&self, dependencies: Vec<Arc<dyn Node>>) {
        let Some(this) = self.this.get() else { return };
        let me = this.as_ptr() as *const () as usize;
        let mut current = self.dependencies.lock().unwrap_or_else(PoisonError::into_inner);
        for old in current.iter().filter(|old| !dependencies.iter().any(|new| node_id(new) == node_id(old))) {
            old.remove_dependent(me);
        }
        for new in dependencies.iter().filter(|new| !current.iter().any(|old| node_id(old) == node_id(new))) {
            new.add_dependent(this.clone());
        }
        let level = dependencies.iter().map(|d| d.level() + 1).max().unwrap_or(0);
        *current = dependencies;
        drop(current);
        self.raise_level(level);
    }

    /// Keeps this node alive while it is observed, even without handles.
    fn hold(&self, held: bool) {
        let Some(this) = self.this.get() else { return };
        if !held && self.pinned.load(Ordering::Relaxed) {
            return;
        }
        *self.keep_alive.lock().unwrap_or_else(PoisonError::into_inner) = if held { this.upgrade() } else { None };
    }
}

/// A value that changes over time: a [`Var`], or computed from other signals.
///
/// Reading with [`Signal::get`] inside [`Signal::computed`] records a dependency, so the
/// computed signal is recomputed exactly when one of the signals it read changes.
pub struct Signal<T> {
    core: Arc<Core<T>>,
}

impl<T> Clone for Signal<T> {
    fn clone(&self) -> Self {
        Signal { core: Arc::clone(&self.core) }
    }
}

impl<T: Clone + PartialEq + Send + Sync + std::fmt::Debug + 'static> std::fmt::Debug for Signal<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Signal").field(&self.get()).finish()
    }
}

// Creating signals needs no comparison, so that a missing `PartialEq` on a placed `Var`'s type
// is reported once, where the type is named, and not again at every constructor.
impl<T: Send + Sync + 'static> Signal<T> {
    fn with_core(value: T, level: usize, compute: Option<Box<dyn Fn() -> T + Send + Sync>>) -> Self {
        Signal {
            core: Arc::new(Core {
                value: RwLock::new(value),
                level: AtomicUsize::new(level),
                compute,
                dependencies: Mutex::new(Vec::new()),
                dependents: Mutex::new(Vec::new()),
                this: OnceLock::new(),
                keep_alive: Mutex::new(None),
                pinned: std::sync::atomic::AtomicBool::new(false),
                observers: ArcSwap::new(Arc::new(Vec::new())),
                observer_changes: Mutex::new(()),
                next_observer: AtomicU64::new(0),
                changed: Event::new(),
                on_release: Mutex::new(None),
            }),
        }
    }

    /// A signal that always holds `value`.
    pub fn constant(value: T) -> Self {
        Self::with_core(value, 0, None)
    }

    /// This signal (so that a placed `Var` and a placed `Signal` read alike).
    pub fn signal(&self) -> Signal<T> {
        self.clone()
    }
}

impl<T: Clone + PartialEq + Send + Sync + 'static> Signal<T> {
    /// A signal computed by `compute`, which depends on every signal it reads with `get`.
    ///
    /// ```
    /// use loci::{Signal, Var};
    /// let width = Var::new(3);
    /// let height = Var::new(4);
    /// let (w, h) = (width.signal(), height.signal());
    /// let area = Signal::computed(move || w.get() * h.get());
    /// width.set(5);
    /// assert_eq!(area.get(), 20);
    /// ```
    pub fn computed(compute: impl Fn() -> T + Send + Sync + 'static) -> Self {
        // Creating a computation reads other signals: do it between turns, or inside the
        // current one when created while propagating.
        let outer = !IN_TURN.with(Cell::get);
        let turn = outer.then(lock_turn);
        // Inside the computation, writes are deferred and nested computations do not lock again.
        let in_turn = outer.then(InTurn::enter);
        let tracking = Tracking::start();
        let initial = compute();
        let dependencies = tracking.finish();
        drop(in_turn);
        let signal = Self::with_core(initial, 0, Some(Box::new(compute)));
        let node: Arc<dyn Node> = signal.core.clone();
        let _ = signal.core.this.set(Arc::downgrade(&node));
        signal.core.depend_on(dependencies);
        drop(turn);
        if outer {
            run_deferred();
        }
        signal
    }

    /// The current value (ScalaLoci's `now`). Inside [`Signal::computed`], also a dependency.
    pub fn get(&self) -> T {
        TRACKING.with(|tracking| {
            if let Some(current) = tracking.borrow_mut().last_mut() {
                let node: Arc<dyn Node> = self.core.clone();
                if !current.iter().any(|known| node_id(known) == node_id(&node)) {
                    current.push(node);
                }
            }
        });
        self.core.value.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// A signal of `f` applied to this one's value.
    pub fn map<U: Clone + PartialEq + Send + Sync + 'static>(
        &self,
        f: impl Fn(&T) -> U + Send + Sync + 'static,
    ) -> Signal<U> {
        let source = self.clone();
        Signal::computed(move || f(&source.get()))
    }

    /// Calls `observer` with the new value after every turn that changed it.
    pub fn observe(&self, observer: impl Fn(&T) + Send + Sync + 'static) -> Observation {
        let id = self.core.next_observer.fetch_add(1, Ordering::Relaxed);
        let observer: SignalObserver<T> = Arc::new(observer);
        {
            let _changing = self.core.observer_changes.lock().unwrap_or_else(PoisonError::into_inner);
            let observers: Vec<_> = self.core.observers.load().iter().cloned().chain([(id, observer)]).collect();
            self.core.observers.store(Arc::new(observers));
            self.core.hold(true);
        }
        let weak = Arc::downgrade(&self.core);
        Observation::new(move || {
            if let Some(core) = weak.upgrade() {
                let changing = core.observer_changes.lock().unwrap_or_else(PoisonError::into_inner);
                let observers: Vec<_> = core.observers.load().iter().filter(|(o, _)| *o != id).cloned().collect();
                let observed = !observers.is_empty();
                let old = core.observers.swap(Arc::new(observers));
                core.hold(observed);
                // The cancelled observer goes outside the lock: dropping what it holds may
                // cancel observers here.
                drop(changing);
                drop(old);
            }
        })
    }

    /// How many observers are registered (a remote that follows this signal counts as one).
    pub fn observer_count(&self) -> usize {
        self.core.observers.load().len()
    }

    /// Fires the new value after every turn that changed this signal. A computed signal whose
    /// `changed` event was handed out stays alive for good, since its observers cannot be seen.
    pub fn changed(&self) -> Event<T> {
        let _changing = self.core.observer_changes.lock().unwrap_or_else(PoisonError::into_inner);
        self.core.pinned.store(true, Ordering::Relaxed);
        self.core.hold(true);
        self.core.changed.clone()
    }

    /// Fires when this signal changes to `value`.
    pub fn changed_to(&self, value: T) -> Event<()> {
        self.changed().filter(move |v| *v == value).map(|_| ())
    }
}

/// A signal that is set from outside: the source of propagation.
pub struct Var<T> {
    signal: Signal<T>,
}

/// A `Var` that does not keep its value alive: for those who feed a variable that lives only
/// as long as its readers (a remote signal's local copy).
pub(crate) struct WeakVar<T>(Weak<Core<T>>);

impl<T> WeakVar<T> {
    /// The variable, if a handle to it (or to a signal computed from it) still lives.
    pub(crate) fn upgrade(&self) -> Option<Var<T>> {
        self.0.upgrade().map(|core| Var { signal: Signal { core } })
    }
}

impl<T: Clone + PartialEq + Send + Sync + 'static> Var<T> {
    /// A variable that, like a computed signal, lives while it is observed (or its `changed`
    /// event was handed out) even without handles: for a local copy that is fed weakly.
    pub(crate) fn held(value: T) -> Self {
        let var = Var::new(value);
        let node: Arc<dyn Node> = var.signal.core.clone();
        let _ = var.signal.core.this.set(Arc::downgrade(&node));
        var
    }

    /// [`Var::held`], running `release` once the variable is gone.
    pub(crate) fn held_with_release(value: T, release: impl FnOnce() + Send + Sync + 'static) -> Self {
        let var = Var::held(value);
        *var.signal.core.on_release.lock().unwrap_or_else(PoisonError::into_inner) = Some(Box::new(release));
        var
    }
}

impl<T> Var<T> {
    /// A handle that does not keep the variable alive.
    pub(crate) fn downgrade(&self) -> WeakVar<T> {
        WeakVar(Arc::downgrade(&self.signal.core))
    }
}

impl<T> Clone for Var<T> {
    fn clone(&self) -> Self {
        Var { signal: self.signal.clone() }
    }
}

impl<T: Clone + PartialEq + Send + Sync + std::fmt::Debug + 'static> std::fmt::Debug for Var<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Var").field(&self.signal.get()).finish()
    }
}

impl<T: Send + Sync + 'static> Var<T> {
    /// A variable holding `value`.
    pub fn new(value: T) -> Self {
        Var { signal: Signal::constant(value) }
    }

    /// The variable as a read-only signal.
    pub fn signal(&self) -> Signal<T> {
        self.signal.clone()
    }
}

impl<T: Clone + PartialEq + Send + Sync + 'static> Var<T> {
    /// Sets the value and propagates the change in one turn. Setting an equal value does nothing.
    /// Inside a turn (from a computation), the write is applied when the turn ends.
    pub fn set(&self, value: T) {
        self.update(move |_| value);
    }

    /// Sets the value to `f(current)` (ScalaLoci's `transform`), atomically with respect to
    /// other writers of this process.
    pub fn update(&self, f: impl FnOnce(&T) -> T + 'static) {
        if IN_TURN.with(Cell::get) {
            let var = self.clone();
            DEFERRED.with(|deferred| deferred.borrow_mut().push(Box::new(move || var.update(f))));
            return;
        }
        let turn = lock_turn();
        {
            let mut current = self.signal.core.value.write().unwrap_or_else(PoisonError::into_inner);
            let next = f(&current);
            if *current == next {
                return;
            }
            *current = next;
        }
        propagate(turn, self.signal.core.clone());
    }
}

impl<T> std::ops::Deref for Var<T> {
    type Target = Signal<T>;
    fn deref(&self) -> &Signal<T> {
        &self.signal
    }
}

impl<T: Clone + PartialEq + Send + Sync + 'static> Event<T> {
    /// A signal folding every occurrence into an accumulator, starting from `initial`.
    pub fn fold<A: Clone + PartialEq + Send + Sync + 'static>(
        &self,
        initial: A,
        f: impl Fn(&A, &T) -> A + Send + Sync + 'static,
    ) -> Signal<A> {
        let accumulator = Var::new(initial);
        let target = accumulator.clone();
        let f = Arc::new(f);
        let _ = self.observe(move |occurrence| {
            let (f, occurrence) = (Arc::clone(&f), occurrence.clone());
            target.update(move |current| f(current, &occurrence));
        });
        accumulator.signal()
    }

    /// A signal that applies `f` to its value on every occurrence, starting from `initial`.
    pub fn iterate<A: Clone + PartialEq + Send + Sync + 'static>(
        &self,
        initial: A,
        f: impl Fn(&A) -> A + Send + Sync + 'static,
    ) -> Signal<A> {
        self.fold(initial, move |accumulator, _| f(accumulator))
    }

    /// A signal that is `first`, then switches between `second` and `first` on every occurrence.
    pub fn toggle<A: Clone + PartialEq + Send + Sync + 'static>(&self, first: A, second: A) -> Signal<A> {
        self.iterate(false, |on| !on).map(move |on| if *on { second.clone() } else { first.clone() })
    }

    /// A signal holding the latest occurrence, `initial` before the first.
    pub fn latest(&self, initial: T) -> Signal<T> {
        self.fold(initial, |_, occurrence| occurrence.clone())
    }
}

/// `a || b`: the occurrences of both events, merged.
impl<T: Clone + Send + Sync + 'static> std::ops::BitOr for Event<T> {
    type Output = Event<T>;
    fn bitor(self, other: Event<T>) -> Event<T> {
        self.merge(&other)
    }
}

/// `event && predicate`: the occurrences for which `predicate` holds.
impl<T: Clone + Send + Sync + 'static, F: Fn(&T) -> bool + Send + Sync + 'static> std::ops::BitAnd<F> for Event<T> {
    type Output = Event<T>;
    fn bitand(self, predicate: F) -> Event<T> {
        self.filter(predicate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn a_diamond_is_glitch_free_and_recomputes_once_per_change() {
        let a = Var::new(1);
        let (left, right) = (a.map(|x| x * 2), a.map(|x| x + 10));
        let recomputed = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&recomputed);
        let (l, r) = (left.clone(), right.clone());
        let bottom = Signal::computed(move || {
            counter.fetch_add(1, Ordering::Relaxed);
            l.get() + r.get()
        });
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (sink, source) = (Arc::clone(&seen), a.signal());
        let _ = bottom.observe(move |sum| sink.lock().unwrap().push((source.get(), *sum)));
        recomputed.store(0, Ordering::Relaxed);
        for value in 2..=5 {
            a.set(value);
        }
        let seen = seen.lock().unwrap();
        assert_eq!(recomputed.load(Ordering::Relaxed), 4, "one recomputation per change");
        for (source, sum) in seen.iter() {
            assert_eq!(*sum, 3 * source + 10, "an observer saw a mix of old and new values");
        }
        assert_eq!(seen.iter().map(|(_, sum)| *sum).collect::<Vec<_>>(), vec![16, 19, 22, 25]);
    }

    #[test]
    fn unchanged_values_stop_propagation() {
        let a = Var::new(1);
        let parity = a.map(|x| x % 2);
        let fired = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&fired);
        let _ = parity.changed().observe(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        });
        a.set(3);
        a.set(5);
        a.set(6);
        assert_eq!(fired.load(Ordering::Relaxed), 1);
        assert_eq!(parity.get(), 0);
    }

    #[test]
    fn events_drive_signals_as_in_pong() {
        let tick = Event::new();
        let position = tick.fold(0, |x, step: &i32| x + step);
        let wall = position.changed() & |x: &i32| *x > 2;
        let bounces = wall.iterate(0, |n| n + 1);
        let direction = wall.toggle(1, -1);
        let hits_zero = position.changed_to(0).iterate(0, |n| n + 1);
        for step in [1, 1, 1, 1, -4] {
            tick.fire(step);
        }
        assert_eq!(position.get(), 0);
        assert_eq!(bounces.get(), 2, "positions 3 and 4 are past the wall");
        assert_eq!(direction.get(), 1, "toggled twice");
        assert_eq!(hits_zero.get(), 1);
    }

    #[test]
    fn or_merges_events() {
        let (a, b) = (Event::new(), Event::new());
        let count = (a.clone() | b.clone()).iterate(0, |n| n + 1);
        a.fire(());
        b.fire(());
        a.fire(());
        assert_eq!(count.get(), 3);
    }

    #[test]
    fn a_panicking_computation_leaves_later_writes_working() {
        let a = Var::new(1);
        let fragile = a.map(|x| if *x == 2 { panic!("two") } else { *x });
        let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| a.set(2)));
        assert!(attempt.is_err());
        a.set(3);
        assert_eq!(fragile.get(), 3, "writes after the panic still propagate");
        let again = Signal::computed(move || a.get() * 2);
        assert_eq!(again.get(), 6);
    }

    #[test]
    fn computations_may_create_signals_and_write_vars() {
        let source = Var::new(1);
        let log = Var::new(0);
        let (s, l) = (source.clone(), log.clone());
        let derived = Signal::computed(move || {
            let inner = s.map(|x| x + 1);
            l.set(inner.get());
            inner.get()
        });
        assert_eq!(derived.get(), 2);
        assert_eq!(log.get(), 2, "the write made while computing is applied afterwards");
    }

    #[test]
    fn writes_from_observers_start_new_turns() {
        let a = Var::new(0);
        let b = Var::new(0);
        let follower = b.clone();
        let _ = a.observe(move |x| follower.set(x * 10));
        let doubled = b.map(|x| x * 2);
        a.set(4);
        assert_eq!(doubled.get(), 80);
    }

    #[test]
    fn dependencies_are_tracked_anew_on_every_evaluation() {
        let use_b = Var::new(false);
        let (a, b) = (Var::new(1), Var::new(10));
        let evaluations = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&evaluations);
        let (flag, sa, sb) = (use_b.signal(), a.signal(), b.signal());
        let chosen = Signal::computed(move || {
            counter.fetch_add(1, Ordering::Relaxed);
            if flag.get() {
                sb.get()
            } else {
                sa.get()
            }
        });
        assert_eq!(chosen.get(), 1);
        b.set(11);
        assert_eq!(evaluations.load(Ordering::Relaxed), 1, "`b` was not read yet, so it is no dependency");
        use_b.set(true);
        assert_eq!(chosen.get(), 11);
        b.set(12);
        assert_eq!(chosen.get(), 12, "`b`, read on the branch taken later, became a dependency");
        let before = evaluations.load(Ordering::Relaxed);
        a.set(2);
        assert_eq!(evaluations.load(Ordering::Relaxed), before, "`a` is no longer read, so no longer a dependency");
    }

    #[test]
    fn dropped_computed_signals_are_released_and_observed_ones_kept() {
        let source = Var::new(0);
        let dropped = source.map(|x| x + 1);
        let weak = Arc::downgrade(&dropped.core);
        drop(dropped);
        assert!(weak.upgrade().is_none(), "a computed signal without handles is released");
        source.set(1);
        assert!(source.core.dependents.lock().unwrap().is_empty(), "its source forgot it");

        let seen = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&seen);
        let observed = source.map(|x| x * 10);
        let observation = observed.observe(move |value| {
            counter.store(*value as usize, Ordering::Relaxed);
        });
        let weak = Arc::downgrade(&observed.core);
        drop(observed);
        source.set(2);
        assert_eq!(seen.load(Ordering::Relaxed), 20, "an observed signal keeps working without handles");
        observation.cancel();
        assert!(weak.upgrade().is_none(), "and is released when its observer is cancelled");
    }

    #[test]
    fn a_computation_that_starts_reading_a_deeper_signal_reads_it_up_to_date() {
        let a = Var::new(1);
        let sa = a.signal();
        let d1 = sa.map(|x| x + 1);
        let d2 = d1.map(|x| x + 1);
        let (gate, deep) = (a.signal(), d2.clone());
        let n = Signal::computed(move || if gate.get() > 5 { deep.get() } else { 0 });
        assert_eq!(n.get(), 0);
        a.set(10);
        assert_eq!(n.get(), 12, "read `d2` after it was recomputed in the same turn");
        a.set(20);
        assert_eq!(n.get(), 22);
    }

    #[test]
    fn nodes_below_a_risen_node_rise_with_it() {
        let a = Var::new(1);
        let switch = Var::new(false);
        let d1 = a.signal().map(|x| x + 1);
        let d2 = d1.map(|x| x + 1);
        let (s, sa, deep) = (switch.signal(), a.signal(), d2.clone());
        // `n` equals `a` either way at the switch, so `m` is not recomputed then.
        let n = Signal::computed(move || if s.get() { deep.get() - 2 } else { sa.get() });
        let (sn, sa) = (n.clone(), a.signal());
        let m = Signal::computed(move || sn.get() * 100 + sa.get());
        assert_eq!(m.get(), 101);
        switch.set(true);
        assert_eq!(m.get(), 101);
        a.set(10);
        assert_eq!(n.get(), 10);
        assert_eq!(m.get(), 1010);
    }
}
