//! `Local<T>`: state placed on a peer that never leaves its instance.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// State placed on a peer (ScalaLoci's `Local[T] on P`): created once per instance, shared
/// by every placed body on that instance, and never reachable from another one.
///
/// `T` may be anything that can be shared between threads: a `Mutex<HashMap<..>>`, a channel
/// sender, an `Arc<dyn Trait>`. It needs no serde. The handle is cheap to clone and derefs
/// to `T`.
///
/// ```
/// #[loci::multitier]
/// pub mod jobs {
///     use std::sync::Mutex;
///     use loci::{Here, Local};
///
///     #[peer(ties(Worker = Multiple))]
///     pub struct Master;
///     #[peer(ties(Master = Single))]
///     pub struct Worker;
///
///     /// Jobs waiting for a worker, on each master instance.
///     #[on(Master)]
///     fn queue() -> Local<Mutex<Vec<String>>> {
///         Local::default()
///     }
///
///     /// Workers submit through a placed function; it reaches the queue locally.
///     #[on(Master)]
///     pub fn submit(ctx: &Here<Master>, job: String) -> usize {
///         let queue = ctx.local(queue);
///         let mut jobs = queue.lock().unwrap();
///         jobs.push(job);
///         jobs.len()
///     }
/// }
/// ```
pub struct Local<T: ?Sized>(Arc<T>);

impl<T> Local<T> {
    /// Wraps `value` as a placed item's local state.
    pub fn new(value: T) -> Self {
        Local(Arc::new(value))
    }
}

impl<T: ?Sized> Local<T> {
    /// Shares state that is already behind an `Arc` (an `Arc<dyn Trait>`, say).
    pub fn from_arc(value: Arc<T>) -> Self {
        Local(value)
    }

    /// The shared state as an `Arc`, to move into tasks or hand to other code.
    pub fn arc(&self) -> Arc<T> {
        Arc::clone(&self.0)
    }
}

impl<T: ?Sized> Clone for Local<T> {
    fn clone(&self) -> Self {
        Local(Arc::clone(&self.0))
    }
}

impl<T: ?Sized> Deref for Local<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Default> Default for Local<T> {
    fn default() -> Self {
        Local::new(T::default())
    }
}

impl<T> From<T> for Local<T> {
    fn from(value: T) -> Self {
        Local::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Local<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Local").field(&&*self.0).finish()
    }
}
