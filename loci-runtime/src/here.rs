//! `Here<P>`: the context placed code runs in, and the remote-access API built on it.

use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::join_all;

use crate::core::{Core, EventRoute};
use crate::error::RemoteError;
use crate::placement::{
    Aggregate, AsLocal, BoxFuture, CallLocal, EventKind, FunctionKind, LocalAccess, NamedTie, OneTie, Peer, Placed,
    PlacedEvent, PlacedFunction, PlacedSignal, Reach, SignalKind, Tie, TieMultiplicity, Transmit,
};
use crate::reactive::{Event, Observation, Signal, Var};
use crate::remote::{Remote, RemoteInfo};
use crate::remotes::Remotes;

/// The running instance of peer `P`, as seen by code placed on `P`.
///
/// Placed functions receive it as their first parameter (`ctx: &Here<P>`), `main` receives it
/// by value. It is cheap to clone.
pub struct Here<P> {
    pub(crate) core: Arc<Core>,
    _peer: PhantomData<fn() -> P>,
}

impl<P> Clone for Here<P> {
    fn clone(&self) -> Self {
        Here { core: Arc::clone(&self.core), _peer: PhantomData }
    }
}

impl<P: Peer> std::fmt::Debug for Here<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Here").field("peer", &P::NAME).field("name", &self.core.name).finish()
    }
}

impl<P: Peer> Here<P> {
    pub(crate) fn new(core: Arc<Core>) -> Self {
        Here { core, _peer: PhantomData }
    }

    /// This instance's name (`--name`).
    pub fn name(&self) -> &str {
        &self.core.name
    }

    /// This instance's id: what `Remote::instance()` says of it on other peers.
    pub fn instance(&self) -> u64 {
        self.core.instance
    }

    /// How many occurrences of this instance's `#[lossy]` events it has dropped for slow
    /// subscribers (whose send buffer was full). Other events are never dropped.
    pub fn dropped_occurrences(&self) -> u64 {
        self.core.dropped_occurrences.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The item `item` placed on this peer, without the network: the instance's value of a
    /// placed value (`Event`, `Signal`, `Var`, `Local<T>`, or an `Arc<T>` of a `#[once]` value),
    /// or a [`LocalCall`] of a placed function.
    ///
    /// Items that take the requesting remote have no local form.
    pub fn local<V>(&self, item: impl FnOnce() -> V) -> V::Local
    where
        V: LocalAccess<P>,
    {
        let _ = item;
        V::__local(self)
    }

    /// The value of item `id` on this instance, created on first use (generated code).
    #[doc(hidden)]
    pub fn __instance_value<T: Clone + 'static>(&self, id: crate::wire::ItemId, name: &'static str) -> T {
        let slot = &self.core.values[usize::from(id)];
        let value = slot.get_or_init(|| match P::__init_value(self, id) {
            Some(value) => value,
            // Supplied values are in place before any code runs; see `Builder::start`.
            None => panic!("loci: `{name}` has no value on `{}` (generated code is out of sync)", P::NAME),
        });
        match value.downcast_ref::<T>() {
            Some(value) => value.clone(),
            None => panic!("loci: placed value `{name}` has an unexpected type (generated code is out of sync)"),
        }
    }

    /// Asks this instance to stop: `main` (or the wait for Ctrl-C) ends, every connection is
    /// closed as a deliberate shutdown, and the instance's run ends without error, logging
    /// `reason`. Remotes tied to it as `Single` end cleanly too.
    pub fn shutdown(&self, reason: impl Into<String>) {
        self.core.set_stop(crate::core::Stop::Ended(reason.into()));
    }

    /// Standing interests (subscriptions that follow reconnections), for tests that check none
    /// leaks.
    #[doc(hidden)]
    pub fn __interests(&self) -> usize {
        self.core.interest_count()
    }

    /// Calls waiting for their reply on every connection, for tests that check none leaks.
    #[doc(hidden)]
    pub fn __pending_calls(&self) -> usize {
        self.core.all_connections().iter().map(|connection| connection.pending_calls()).sum()
    }

    /// Remote access to `item`, placed on a peer tied to `P`.
    ///
    /// What follows depends on the tie: `.as_local()` over `Single` / `Optional`,
    /// `.from_all()` / `.from_all_seq()` over `Multiple`, `.from(&remote)` over any.
    pub fn remote<V>(&self, item: impl FnOnce() -> V) -> Access<'_, P, V, V::Kind, <V as Reach<P>>::Multiplicity>
    where
        V: Reach<P>,
    {
        Access {
            here: self,
            item: item(),
            timeout: self.core.call_timeout,
            tie: None,
            wait: false,
            _marker: PhantomData,
        }
    }

    /// The connected remotes of peer `Q` and their comings and goings.
    pub fn remotes<Q: Peer>(&self) -> Remotes<'_, P, Q>
    where
        P: Tie<Q>,
    {
        Remotes::new(self)
    }

    /// The remotes of one named tie and their comings and goings, e.g. `ctx.tie(next)`.
    pub fn tie<T: NamedTie<P>>(&self, tie: impl FnOnce() -> T) -> Remotes<'_, P, T::To> {
        let _ = tie;
        Remotes::on_tie(self, T::INDEX)
    }

    /// The connected remotes of `Q`, on local tie `tie` if given.
    pub(crate) fn connected<Q: Peer>(&self, tie: Option<u16>) -> Vec<Remote<Q>> {
        self.core.connections_on(Q::INDEX, tie).into_iter().map(|c| Remote::new(Arc::clone(&c.info))).collect()
    }
}

/// The answer of a remote access, to `.await`: the value, or why there is none.
pub type Answer<'a, T> = BoxFuture<'a, Result<T, RemoteError>>;

/// Remote access to placed item `V` from peer `P`, over a tie of multiplicity `M`.
///
/// Created by [`Here::remote`]. `K` is the item's kind (event or function).
#[must_use = "remote access does nothing until you choose `.as_local()`, `.from(..)`, `.from_all()` or `.call(..)`"]
pub struct Access<'a, P, V, K, M> {
    here: &'a Here<P>,
    item: V,
    timeout: Option<Duration>,
    /// Only remotes on this local tie (chosen with `.over(tie)`); `None`: on any tie.
    tie: Option<u16>,
    /// Wait for a remote to connect instead of failing with `NotConnected`.
    wait: bool,
    _marker: PhantomData<fn() -> (K, M)>,
}

impl<'a, P: Peer, V: Placed, K, M> Access<'a, P, V, K, M> {
    /// Reaches the item over one named tie only, e.g. `ctx.remote(take).over(next)`: the
    /// access then has that tie's multiplicity, so `.as_local()` reads the one remote of a
    /// `Single` tie even where `P` has other ties to the same peer kind.
    pub fn over<T>(self, tie: impl FnOnce() -> T) -> Access<'a, P, V, K, T::Multiplicity>
    where
        T: NamedTie<P, To = V::Peer>,
    {
        let _ = tie;
        Access {
            here: self.here,
            item: self.item,
            timeout: self.timeout,
            tie: Some(T::INDEX),
            wait: self.wait,
            _marker: PhantomData,
        }
    }

    /// When no remote is connected on the tie (a `Single` remote that is being reconnected, an
    /// `Optional` one not there yet), `.as_local()`, `.call(..)` and `.tell(..)` wait for one
    /// to connect, within the access's timeout, instead of failing at once with
    /// [`RemoteError::NotConnected`]. The timeout covers the wait and the access together.
    pub fn when_connected(mut self) -> Self {
        self.wait = true;
        self
    }

    /// The connection to the one remote of the tie, and what is left of the timeout. With
    /// `when_connected`, waits for a remote to join while time is left.
    async fn the_connection(&self) -> (Option<Arc<crate::core::Connection>>, Option<Duration>) {
        let core = &self.here.core;
        let peer = <V::Peer as Peer>::INDEX;
        // The usual case, on every call: the remote is there. No clock read, no registration
        // for changes.
        if let Some(connection) = core.first_connection_on(peer, self.tie) {
            return (Some(connection), self.timeout);
        }
        let started = tokio::time::Instant::now();
        let changed = &core.topology[usize::from(peer)].changed;
        loop {
            // Register for the next change before looking, so none slips in between.
            let next_change = changed.notified();
            tokio::pin!(next_change);
            next_change.as_mut().enable();
            let left = self.timeout.map(|limit| limit.saturating_sub(started.elapsed()));
            if let Some(connection) = core.first_connection_on(peer, self.tie) {
                return (Some(connection), left);
            }
            let closed = core.closed.load(std::sync::atomic::Ordering::Acquire);
            if !self.wait || closed || left.is_some_and(|left| left.is_zero()) {
                return (None, left);
            }
            match left {
                Some(left) => {
                    if tokio::time::timeout(left, next_change).await.is_err() {
                        return (None, Some(Duration::ZERO));
                    }
                }
                None => next_change.await,
            }
        }
    }
}

impl<P, V, K, M> Access<'_, P, V, K, M> {
    /// Waits at most `timeout` for the answer (of a call, or for a signal's first value);
    /// then the access fails with [`RemoteError::TimedOut`]. Overrides the instance's default
    /// (`Builder::call_timeout`, `--call-timeout-ms`).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Waits for the answer as long as it takes (until the remote answers or is lost).
    pub fn no_timeout(mut self) -> Self {
        self.timeout = None;
        self
    }
}

/// Awaits `future` for at most `timeout`, as a remote access on `remote` of `item`.
async fn within<T>(
    timeout: Option<Duration>,
    remote: impl FnOnce() -> String,
    item: &'static str,
    future: impl Future<Output = Result<T, RemoteError>>,
) -> Result<T, RemoteError> {
    match timeout {
        None => future.await,
        Some(limit) => tokio::time::timeout(limit, future)
            .await
            .unwrap_or_else(|_| Err(RemoteError::TimedOut { remote: remote(), item, after_ms: limit.as_millis() })),
    }
}

fn decode_into<T: Transmit>(payload: &[u8]) -> Result<T, postcard::Error> {
    T::__decode(payload)
}

impl<'a, P: Peer, V: PlacedEvent, M> Access<'a, P, V, EventKind, M> {
    /// The remote event as a local one, over a `Single` or `Optional` tie.
    ///
    /// Occurrences fired on the remote arrive in the order they were fired.
    pub fn as_local(self) -> Event<V::Item>
    where
        M: AsLocal<P, V::Peer> + OneTie<P, V::Peer>,
    {
        let id = self.here.core.next_route_id();
        let local = interest_event(&self.here.core, id);
        let target = local.downgrade();
        let route: EventRoute = Arc::new(move |_, payload| {
            if let Some(target) = target.upgrade() {
                target.fire(decode_into(payload)?);
            }
            Ok(())
        });
        self.here.core.add_interest_with_id(id, <V::Peer as Peer>::INDEX, self.tie, V::ID, route);
        local
    }

    /// Occurrences from every connected remote, now and later, merged and tagged with their sender.
    pub fn from_all_seq(self) -> Event<(Remote<V::Peer>, V::Item)>
    where
        M: Aggregate<P, V::Peer>,
    {
        let id = self.here.core.next_route_id();
        let merged = interest_event(&self.here.core, id);
        let target = merged.downgrade();
        let route: EventRoute = Arc::new(move |info: &Arc<RemoteInfo>, payload| {
            if let Some(target) = target.upgrade() {
                target.fire((Remote::new(Arc::clone(info)), decode_into(payload)?));
            }
            Ok(())
        });
        self.here.core.add_interest_with_id(id, <V::Peer as Peer>::INDEX, self.tie, V::ID, route);
        merged
    }

    /// One local event per currently connected remote.
    pub fn from_all(self) -> PerRemoteEvents<V::Peer, V::Item>
    where
        M: Aggregate<P, V::Peer>,
    {
        let remotes = self.here.connected::<V::Peer>(self.tie);
        remotes.into_iter().map(|remote| (remote.clone(), Self::subscribe(self.here, &remote))).collect()
    }

    /// How many occurrences of this event each remote dropped for this instance, fired at each
    /// gap as `(remote, how many)`. Only a `#[lossy]` event drops occurrences (when this
    /// instance reads slower than the remote fires); for any other event this never fires.
    pub fn missed(self) -> Event<(Remote<V::Peer>, u64)> {
        let tie = self.tie;
        self.here
            .core
            .missed
            .filter(move |(info, item, _)| *item == V::ID && tie.is_none_or(|tie| tie == info.tie))
            .map(|(info, _, count)| (Remote::new(Arc::clone(info)), *count))
    }

    /// The event of one particular remote. Empty if that remote is gone.
    pub fn from(self, remote: &Remote<V::Peer>) -> Event<V::Item> {
        Self::subscribe(self.here, remote)
    }

    /// One local event per selected remote, in the order given; the event of a remote that
    /// is gone stays empty.
    pub fn from_each<'r>(
        self,
        remotes: impl IntoIterator<Item = &'r Remote<V::Peer>>,
    ) -> PerRemoteEvents<V::Peer, V::Item>
    where
        V::Peer: 'r,
    {
        remotes.into_iter().map(|remote| (remote.clone(), Self::subscribe(self.here, remote))).collect()
    }

    fn subscribe(here: &Here<P>, remote: &Remote<V::Peer>) -> Event<V::Item> {
        let Some(connection) = here.core.connection_to(&remote.info) else { return Event::new() };
        let route_id = here.core.next_route_id();
        // When the local event is gone, the route goes, and the remote is told once it was the
        // connection's last route for the item.
        let on = Arc::downgrade(&connection);
        let local = Event::fed(move || {
            if let Some(connection) = on.upgrade() {
                connection.remove_route(route_id, V::ID);
            }
        });
        let target = local.downgrade();
        let route: EventRoute = Arc::new(move |_, payload| {
            if let Some(target) = target.upgrade() {
                target.fire(decode_into(payload)?);
            }
            Ok(())
        });
        connection.add_route(route_id, V::ID, route, false);
        local
    }
}

/// The local event of the standing interest `id`: when it is gone (no handles, no observers),
/// the interest is withdrawn and the remotes stop sending.
fn interest_event<T: 'static>(core: &Arc<Core>, id: u64) -> Event<T> {
    let owner = Arc::downgrade(core);
    Event::fed(move || {
        if let Some(core) = owner.upgrade() {
            core.remove_interest(id);
        }
    })
}

impl<'a, P: Peer, V: PlacedSignal, M: TieMultiplicity> Access<'a, P, V, SignalKind, M> {
    /// The remote signal as a local one, over a `Single` or `Optional` tie: it starts with the
    /// remote's current value (this waits for it) and follows its changes. A slow reader may
    /// skip intermediate values, never the latest.
    // Not an `async fn`: its future type does not carry the `AsLocal` bound, so a misuse over
    // a `Multiple` tie is reported once, at the call, not again at `.await`.
    pub fn as_local(self) -> Answer<'a, M::Out<Signal<V::Item>>>
    where
        M: AsLocal<P, V::Peer> + OneTie<P, V::Peer>,
    {
        Box::pin(async move {
            let (connection, left) = self.the_connection().await;
            let signal = match connection {
                Some(connection) => {
                    let remote = connection.info.to_string();
                    drop(connection);
                    // Followed through a standing interest: after a reconnection the new
                    // connection feeds the same local signal.
                    let following = async {
                        follow_remote_signal::<V>(self.here, self.tie)
                            .await
                            .ok_or_else(|| RemoteError::Disconnected { remote: remote.clone(), item: V::NAME })
                    };
                    Some(within(left, || remote.clone(), V::NAME, following).await?)
                }
                None => None,
            };
            M::wrap(signal, || RemoteError::NotConnected { peer: <V::Peer as Peer>::NAME, item: V::NAME })
        })
    }

    /// The signal of one particular remote, starting with its current value (this waits for it).
    pub async fn from(self, remote: &Remote<V::Peer>) -> Result<Signal<V::Item>, RemoteError> {
        follow_one::<P, V>(self.here, remote, self.timeout).await
    }

    /// The signals of several particular remotes, each starting with its remote's current
    /// value: waits for them all at once, each within the timeout; one result per remote, in
    /// the order given.
    ///
    /// # Cancel safety
    /// Dropping the future abandons the signals not received yet; those received are dropped,
    /// and their remotes stop sending.
    pub async fn from_each<'r>(
        self,
        remotes: impl IntoIterator<Item = &'r Remote<V::Peer>>,
    ) -> PerRemote<V::Peer, Signal<V::Item>>
    where
        V::Peer: 'r,
    {
        let remotes: Vec<Remote<V::Peer>> = remotes.into_iter().cloned().collect();
        let (here, timeout) = (self.here, self.timeout);
        let signals = join_all(remotes.iter().map(|remote| follow_one::<P, V>(here, remote, timeout))).await;
        remotes.into_iter().zip(signals).collect()
    }

    /// The value of every connected remote, updated as values change and remotes join or leave.
    pub fn from_all(self) -> Signal<PerRemoteValues<V::Peer, V::Item>>
    where
        M: Aggregate<P, V::Peer>,
    {
        let core = &self.here.core;
        let id = core.next_route_id();
        let owner = Arc::downgrade(core);
        // When the local signal is gone, the interest and the watch on departures go with it.
        let departures: Arc<std::sync::Mutex<Option<Observation>>> = Arc::default();
        let watching = Arc::clone(&departures);
        let all: Var<PerRemoteValues<V::Peer, V::Item>> = Var::held_with_release(Vec::new(), move || {
            if let Some(core) = owner.upgrade() {
                core.remove_interest(id);
            }
            if let Some(observation) = crate::core::lock(&watching).take() {
                observation.cancel();
            }
        });
        let target = all.downgrade();
        let route: EventRoute = Arc::new(move |info: &Arc<RemoteInfo>, payload| {
            let value: V::Item = decode_into(payload)?;
            let Some(target) = target.upgrade() else { return Ok(()) };
            let info = Arc::clone(info);
            target.update(move |current| {
                let mut next = current.clone();
                match next.iter_mut().find(|(remote, _)| remote.id() == info.id) {
                    Some(entry) => entry.1 = value,
                    None => next.push((Remote::new(Arc::clone(&info)), value)),
                }
                next
            });
            Ok(())
        });
        core.add_interest_with_id(id, <V::Peer as Peer>::INDEX, self.tie, V::ID, route);
        let target = all.downgrade();
        let observation = core.topology[usize::from(<V::Peer as Peer>::INDEX)].left.observe(move |info| {
            let gone = info.id;
            if let Some(target) = target.upgrade() {
                target
                    .update(move |current| current.iter().filter(|(remote, _)| remote.id() != gone).cloned().collect())
            }
        });
        *crate::core::lock(&departures) = Some(observation);
        all.signal()
    }
}

/// Follows the signal `V` of `remote`, within `timeout`.
async fn follow_one<P: Peer, V: PlacedSignal>(
    here: &Here<P>,
    remote: &Remote<V::Peer>,
    timeout: Option<Duration>,
) -> Result<Signal<V::Item>, RemoteError> {
    let disconnected = || RemoteError::Disconnected { remote: remote.to_string(), item: V::NAME };
    let connection = here.core.connection_to(&remote.info).ok_or_else(disconnected)?;
    let following = async { follow_signal::<V>(here, connection).await.ok_or_else(disconnected) };
    within(timeout, || remote.to_string(), V::NAME, following).await
}

/// A route that sets a local signal from a remote one: the signal is made with the first
/// value, which also goes to `first`.
fn signal_route<V: PlacedSignal>(
    first: tokio::sync::oneshot::Sender<Signal<V::Item>>,
    release: impl FnOnce() + Send + Sync + 'static,
) -> EventRoute {
    let first = std::sync::Mutex::new(Some(first));
    let release = std::sync::Mutex::new(Some(release));
    let local: std::sync::OnceLock<crate::reactive::WeakVar<V::Item>> = std::sync::OnceLock::new();
    Arc::new(move |_, payload| {
        let value: V::Item = decode_into(payload)?;
        match local.get() {
            Some(weak) => {
                if let Some(var) = weak.upgrade() {
                    var.set(value);
                }
            }
            None => {
                // The local copy lives while it has handles or observers; then the route goes.
                let release = crate::core::lock(&release).take();
                let var = Var::held_with_release(value, move || release.into_iter().for_each(|release| release()));
                let _ = local.set(var.downgrade());
                if let Some(first) = crate::core::lock(&first).take() {
                    let _ = first.send(var.signal());
                }
            }
        }
        Ok(())
    })
}

/// Subscribes to signal `V` on `connection` and returns a local signal once the first value
/// arrived; `None` if the connection ended first.
async fn follow_signal<V: PlacedSignal>(
    here: &Here<impl Peer>,
    connection: Arc<crate::core::Connection>,
) -> Option<Signal<V::Item>> {
    let (first_tx, first_rx) = tokio::sync::oneshot::channel();
    let route_id = here.core.next_route_id();
    let on = Arc::downgrade(&connection);
    let release = move || {
        if let Some(connection) = on.upgrade() {
            connection.remove_route(route_id, V::ID);
        }
    };
    connection.add_route(route_id, V::ID, signal_route::<V>(first_tx, release), true);
    // Holding the connection would keep the route (and so this wait) alive after a disconnect.
    let mut abandoned = AbandonedRoute {
        connection: Arc::downgrade(&connection),
        core: std::sync::Weak::new(),
        route_id,
        item: V::ID,
        armed: true,
    };
    drop(connection);
    let first = first_rx.await.ok();
    abandoned.armed = first.is_none();
    first
}

/// Follows signal `V` of the connected remote of its peer kind, and of the next one after a
/// reconnection; the local signal once the first value arrived. The following ends (the
/// interest is withdrawn and the remote told) once the local signal is dropped with everything
/// computed from it.
async fn follow_remote_signal<V: PlacedSignal>(here: &Here<impl Peer>, tie: Option<u16>) -> Option<Signal<V::Item>> {
    let (first_tx, first_rx) = tokio::sync::oneshot::channel();
    let core = &here.core;
    let route_id = core.next_route_id();
    let first = std::sync::Mutex::new(Some(first_tx));
    let local: std::sync::OnceLock<crate::reactive::WeakVar<V::Item>> = std::sync::OnceLock::new();
    let (owner, runtime) = (Arc::downgrade(core), core.runtime.clone());
    let route: EventRoute = Arc::new(move |_, payload| {
        let value: V::Item = decode_into(payload)?;
        match local.get() {
            Some(weak) => match weak.upgrade() {
                Some(var) => var.set(value),
                None => {
                    // Nobody reads it any more: stop following.
                    let owner = owner.clone();
                    runtime.spawn(async move {
                        if let Some(core) = owner.upgrade() {
                            core.remove_interest(route_id);
                        }
                    });
                }
            },
            None => {
                // Under the lock: two connections delivering a first value at once make one copy.
                let mut first = crate::core::lock(&first);
                if let Some(first) = first.take() {
                    // Observers and `changed` keep it alive like any computed signal; when it
                    // is gone, the following ends.
                    let owner = owner.clone();
                    let var = Var::held_with_release(value, move || {
                        if let Some(core) = owner.upgrade() {
                            core.remove_interest(route_id);
                        }
                    });
                    let _ = local.set(var.downgrade());
                    let _ = first.send(var.signal());
                } else if let Some(var) = local.get().and_then(crate::reactive::WeakVar::upgrade) {
                    var.set(value);
                }
            }
        }
        Ok(())
    });
    core.add_interest_with_id(route_id, <V::Peer as Peer>::INDEX, tie, V::ID, route);
    let mut abandoned = AbandonedRoute {
        connection: std::sync::Weak::new(),
        core: Arc::downgrade(core),
        route_id,
        item: V::ID,
        armed: true,
    };
    let first = first_rx.await.ok();
    abandoned.armed = first.is_none();
    first
}

/// Removes a signal's route when the wait for its first value ends without one (a timeout,
/// a dropped future), so retries do not pile up routes the remote keeps feeding.
struct AbandonedRoute {
    /// The connection the route is on, or
    connection: std::sync::Weak<crate::core::Connection>,
    /// the instance whose interest it is.
    core: std::sync::Weak<Core>,
    route_id: u64,
    item: crate::wire::ItemId,
    armed: bool,
}

impl Drop for AbandonedRoute {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(connection) = self.connection.upgrade() {
            connection.remove_route(self.route_id, self.item);
        }
        if let Some(core) = self.core.upgrade() {
            core.remove_interest(self.route_id);
        }
    }
}

fn encode_args<V: PlacedFunction>(args: &V::Args) -> Result<Bytes, RemoteError> {
    args.__encode().map(Bytes::from).map_err(|error| RemoteError::Codec {
        direction: "encode",
        item: V::NAME,
        detail: error.to_string(),
    })
}

async fn call_one<P: Peer, V: PlacedFunction>(
    here: &Here<P>,
    remote: &RemoteInfo,
    args: &Bytes,
    timeout: Option<Duration>,
) -> Result<V::Output, RemoteError> {
    match here.core.connection_to(remote) {
        Some(connection) => here.core.call(&connection, V::ID, args, timeout).await,
        None => Err(gone::<V>(remote)),
    }
}

async fn tell_one<P: Peer, V: PlacedFunction>(
    here: &Here<P>,
    remote: &RemoteInfo,
    args: &Bytes,
) -> Result<(), RemoteError> {
    match here.core.connection_to(remote) {
        Some(connection) => here.core.tell(&connection, V::ID, args).await,
        None => Err(gone::<V>(remote)),
    }
}

/// The error of an access to a remote that is not connected (any more).
fn gone<V: PlacedFunction>(remote: &RemoteInfo) -> RemoteError {
    RemoteError::Disconnected { remote: remote.to_string(), item: V::NAME }
}

impl<'a, P: Peer, V: PlacedFunction, M: TieMultiplicity> Access<'a, P, V, FunctionKind, M> {
    /// Calls the function on the one remote of a `Single` tie (yielding its result) or an
    /// `Optional` tie (yielding `None` when no remote is connected).
    ///
    /// # Cancel safety
    /// Dropping the future before it completes abandons the call: the remote may still run
    /// it, and its answer is dropped when it arrives.
    // Not an `async fn`: its future type does not carry the `AsLocal` bound, so a misuse over
    // a `Multiple` tie is reported once, at the call, not again at `.await` and `?`.
    pub fn call(self, args: V::Args) -> Answer<'a, M::Out<V::Output>>
    where
        M: AsLocal<P, V::Peer> + OneTie<P, V::Peer>,
    {
        Box::pin(async move {
            let args = encode_args::<V>(&args)?;
            let (connection, left) = self.the_connection().await;
            let answer = match connection {
                Some(connection) => Some(self.here.core.call(&connection, V::ID, &args, left).await?),
                None => None,
            };
            M::wrap(answer, || RemoteError::NotConnected { peer: <V::Peer as Peer>::NAME, item: V::NAME })
        })
    }

    /// Calls the function one way on the one remote of a `Single` or `Optional` tie: nothing
    /// comes back, not even a failure. The call is queued in order with the connection's other
    /// frames; this waits only for room in the send buffer.
    ///
    /// Fails only when the call could not be queued: no remote connected, the connection
    /// lost, or arguments over the frame limit.
    ///
    /// # Cancel safety
    /// Dropping the future before it completes may or may not have queued the call.
    pub fn tell(self, args: V::Args) -> Answer<'a, ()>
    where
        M: AsLocal<P, V::Peer> + OneTie<P, V::Peer>,
    {
        Box::pin(async move {
            let args = encode_args::<V>(&args)?;
            match self.the_connection().await.0 {
                Some(connection) => self.here.core.tell(&connection, V::ID, &args).await,
                None => Err(RemoteError::NotConnected { peer: <V::Peer as Peer>::NAME, item: V::NAME }),
            }
        })
    }

    /// Reads a function without arguments (or a `#[once]` value) from the one remote, like
    /// [`Access::call`] with `()`.
    ///
    /// # Cancel safety
    /// As for [`Access::call`].
    pub fn as_local(self) -> Answer<'a, M::Out<V::Output>>
    where
        V: PlacedFunction<Args = ()>,
        M: AsLocal<P, V::Peer> + OneTie<P, V::Peer>,
    {
        self.call(())
    }

    /// Addresses one particular remote.
    pub fn from(self, remote: &Remote<V::Peer>) -> Selected<'a, P, V> {
        Selected { here: self.here, item: self.item, remote: Arc::clone(&remote.info), timeout: self.timeout }
    }

    /// Addresses several particular remotes at once (ScalaLoci's `from (r1, r2)`): calls go
    /// out concurrently, and there is one result per remote, in the order given.
    pub fn from_each<'r>(self, remotes: impl IntoIterator<Item = &'r Remote<V::Peer>>) -> Each<'a, P, V>
    where
        V::Peer: 'r,
    {
        Each {
            here: self.here,
            item: self.item,
            remotes: remotes.into_iter().cloned().collect(),
            timeout: self.timeout,
        }
    }

    /// Addresses every connected remote; the calls go out concurrently.
    pub fn from_all(self) -> All<'a, P, V>
    where
        M: Aggregate<P, V::Peer>,
    {
        All { here: self.here, item: self.item, timeout: self.timeout, tie: self.tie }
    }
}

/// A placed function on one selected remote. `.call(args)`, `.tell(args)`, or `.await` for
/// no arguments.
#[must_use = "nothing is sent until you `.call(..)`, `.tell(..)` or `.await` it"]
pub struct Selected<'a, P, V> {
    here: &'a Here<P>,
    item: V,
    remote: Arc<RemoteInfo>,
    timeout: Option<Duration>,
}

impl<'a, P: Peer, V: PlacedFunction> Selected<'a, P, V> {
    /// Waits at most `timeout` for the answer, overriding the instance's default.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Waits for the answer as long as it takes (until the remote answers or is lost).
    pub fn no_timeout(mut self) -> Self {
        self.timeout = None;
        self
    }

    /// Calls the function on the selected remote.
    ///
    /// # Cancel safety
    /// Dropping the future abandons the call; a late answer is dropped.
    pub async fn call(self, args: V::Args) -> Result<V::Output, RemoteError> {
        let _ = self.item;
        let args = encode_args::<V>(&args)?;
        call_one::<P, V>(self.here, &self.remote, &args, self.timeout).await
    }

    /// Calls the function one way on the selected remote; see [`Access::tell`].
    ///
    /// # Cancel safety
    /// Dropping the future before it completes may or may not have queued the call.
    pub async fn tell(self, args: V::Args) -> Result<(), RemoteError> {
        let _ = self.item;
        let args = encode_args::<V>(&args)?;
        tell_one::<P, V>(self.here, &self.remote, &args).await
    }
}

impl<'a, P: Peer, V: PlacedFunction<Args = ()>> IntoFuture for Selected<'a, P, V> {
    type Output = Result<V::Output, RemoteError>;
    type IntoFuture = BoxFuture<'a, Self::Output>;
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.call(()))
    }
}

/// A placed function on several selected remotes. `.call(args)`, `.tell(args)`, or `.await`
/// for no arguments.
#[must_use = "nothing is sent until you `.call(..)`, `.tell(..)` or `.await` it"]
pub struct Each<'a, P, V: PlacedFunction> {
    here: &'a Here<P>,
    item: V,
    remotes: Vec<Remote<V::Peer>>,
    timeout: Option<Duration>,
}

impl<'a, P: Peer, V: PlacedFunction> Each<'a, P, V> {
    /// Waits at most `timeout` for each answer, overriding the instance's default.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Waits for the answer as long as it takes (until the remote answers or is lost).
    pub fn no_timeout(mut self) -> Self {
        self.timeout = None;
        self
    }

    /// Calls the function on every selected remote at once; one result per remote.
    ///
    /// # Cancel safety
    /// Dropping the future abandons the calls not answered yet: their remotes may still run
    /// them, and late answers are dropped.
    pub fn call(self, args: V::Args) -> impl Future<Output = PerRemote<V::Peer, V::Output>> + Send + 'a {
        let _ = self.item;
        let (here, timeout, remotes) = (self.here, self.timeout, self.remotes);
        let encoded = encode_args::<V>(&args);
        async move { call_each::<P, V>(here, remotes, encoded, timeout).await }
    }

    /// Calls the function one way on every selected remote; one queuing result per remote.
    ///
    /// # Cancel safety
    /// Dropping the future before it completes may have queued the call for some of the
    /// remotes and not for others.
    pub fn tell(self, args: V::Args) -> impl Future<Output = PerRemote<V::Peer, ()>> + Send + 'a {
        let _ = self.item;
        let (here, remotes) = (self.here, self.remotes);
        let encoded = encode_args::<V>(&args);
        async move { tell_each::<P, V>(here, remotes, encoded).await }
    }
}

impl<'a, P: Peer, V: PlacedFunction<Args = ()>> IntoFuture for Each<'a, P, V> {
    type Output = PerRemote<V::Peer, V::Output>;
    type IntoFuture = BoxFuture<'a, Self::Output>;
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.call(()))
    }
}

async fn call_each<P: Peer, V: PlacedFunction>(
    here: &Here<P>,
    remotes: Vec<Remote<V::Peer>>,
    args: Result<Bytes, RemoteError>,
    timeout: Option<Duration>,
) -> PerRemote<V::Peer, V::Output> {
    let args = match args {
        Ok(args) => args,
        Err(error) => return remotes.into_iter().map(|remote| (remote, Err(error.clone()))).collect(),
    };
    let answers = join_all(remotes.iter().map(|remote| call_one::<P, V>(here, &remote.info, &args, timeout))).await;
    remotes.into_iter().zip(answers).collect()
}

async fn tell_each<P: Peer, V: PlacedFunction>(
    here: &Here<P>,
    remotes: Vec<Remote<V::Peer>>,
    args: Result<Bytes, RemoteError>,
) -> PerRemote<V::Peer, ()> {
    let args = match args {
        Ok(args) => args,
        Err(error) => return remotes.into_iter().map(|remote| (remote, Err(error.clone()))).collect(),
    };
    let mut queued = Vec::with_capacity(remotes.len());
    for remote in remotes {
        let outcome = tell_one::<P, V>(here, &remote.info, &args).await;
        queued.push((remote, outcome));
    }
    queued
}

/// A placed function on every connected remote. `.call(args)`, `.tell(args)`, or `.await`
/// for no arguments.
#[must_use = "nothing is sent until you `.call(..)`, `.tell(..)` or `.await` it"]
pub struct All<'a, P, V> {
    here: &'a Here<P>,
    item: V,
    timeout: Option<Duration>,
    tie: Option<u16>,
}

/// The value of each remote, as `from_all` on a placed signal holds them.
pub type PerRemoteValues<Q, T> = Vec<(Remote<Q>, T)>;

/// One local event per remote, as `from_all` on a placed event returns them.
pub type PerRemoteEvents<Q, T> = Vec<(Remote<Q>, Event<T>)>;

/// One answer per remote, as aggregation returns them.
pub type PerRemote<Q, T> = Vec<(Remote<Q>, Result<T, RemoteError>)>;

impl<'a, P: Peer, V: PlacedFunction> All<'a, P, V> {
    /// Waits at most `timeout` for each answer, overriding the instance's default.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Waits for the answer as long as it takes (until the remote answers or is lost).
    pub fn no_timeout(mut self) -> Self {
        self.timeout = None;
        self
    }

    /// Calls the function on every connected remote at once; one result per remote.
    ///
    /// # Cancel safety
    /// As for [`Each::call`].
    pub fn call(self, args: V::Args) -> impl Future<Output = PerRemote<V::Peer, V::Output>> + Send + 'a {
        let _ = self.item;
        let (here, timeout, tie) = (self.here, self.timeout, self.tie);
        let encoded = encode_args::<V>(&args);
        async move { call_each::<P, V>(here, here.connected::<V::Peer>(tie), encoded, timeout).await }
    }

    /// Calls the function one way on every connected remote; one queuing result per remote.
    ///
    /// # Cancel safety
    /// As for [`Each::tell`].
    pub fn tell(self, args: V::Args) -> impl Future<Output = PerRemote<V::Peer, ()>> + Send + 'a {
        let _ = self.item;
        let (here, tie) = (self.here, self.tie);
        let encoded = encode_args::<V>(&args);
        async move { tell_each::<P, V>(here, here.connected::<V::Peer>(tie), encoded).await }
    }
}

impl<'a, P: Peer, V: PlacedFunction<Args = ()>> IntoFuture for All<'a, P, V> {
    type Output = PerRemote<V::Peer, V::Output>;
    type IntoFuture = BoxFuture<'a, Self::Output>;
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.call(()))
    }
}

/// A placed function called on its own peer, without the network: `ctx.local(f).call(args)`,
/// or `.await` for no arguments. The body runs on this instance and its result comes back as
/// is, without encoding (a panic in it propagates to the caller, as in any local call).
#[must_use = "the function runs when you `.call(..)` or `.await` it"]
pub struct LocalCall<P, V> {
    here: Here<P>,
    _item: PhantomData<fn() -> V>,
}

impl<P: Peer, V: CallLocal<P>> LocalCall<P, V> {
    /// Created by generated code for `ctx.local(f)`.
    #[doc(hidden)]
    pub fn __new(here: Here<P>) -> Self {
        LocalCall { here, _item: PhantomData }
    }

    /// Runs the function on this instance with `args`.
    pub fn call(self, args: V::Args) -> BoxFuture<'static, V::Output> {
        V::__call(&self.here, args)
    }
}

impl<P: Peer, V: CallLocal<P> + PlacedFunction<Args = ()>> IntoFuture for LocalCall<P, V> {
    type Output = V::Output;
    type IntoFuture = BoxFuture<'static, V::Output>;
    fn into_future(self) -> Self::IntoFuture {
        self.call(())
    }
}
