//! The state one instance shares between its connections and its user-facing handles.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{oneshot, Notify};

use crate::error::{Error, RemoteError};
use crate::outbound::Outbound;
use crate::reactive::{Event, Observation};
use crate::reconnect::await_single;
pub use crate::reconnect::Reconnect;
use crate::remote::RemoteInfo;
use crate::spec::{ModuleSpec, Multiplicity};
use crate::wire::handshake::keeps_mutual_dial;
use crate::wire::{Failure, Header, ItemId, Refusal, ReplyStatus};

/// Locks a mutex whose data stays consistent even if a holder panicked.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Delivers an incoming event payload; an error means the payload was malformed.
pub(crate) type EventRoute = Arc<dyn Fn(&Arc<RemoteInfo>, &[u8]) -> Result<(), postcard::Error> + Send + Sync>;

/// The reader's copy of a connection's routes, refreshed when they change.
#[derive(Default)]
pub(crate) struct RouteCache {
    version: u64,
    routes: Arc<Vec<RouteSet>>,
}

/// The routes of one item, each with its route id.
type RouteSet = Arc<[(u64, EventRoute)]>;

type PendingReply = oneshot::Sender<Result<(ReplyStatus, Bytes), RemoteError>>;

/// A call waiting for its reply, and when it gives up.
struct Waiter {
    reply: PendingReply,
    deadline: Option<Deadline>,
}

/// When a call times out, and what its error says then.
struct Deadline {
    at: tokio::time::Instant,
    limit: Duration,
    item: &'static str,
}

/// One live connection to a remote instance.
pub(crate) struct Connection {
    pub info: Arc<RemoteInfo>,
    pub instance: u64,
    pub multiplicity: Multiplicity,
    pub quic: quinn::Connection,
    pub(crate) out: Arc<Outbound>,
    /// The instance the remote's certificate names (`None` when certificates are not
    /// checked): a connection takes the place of another of the same instance id only when
    /// both certificates name the same instance.
    pub(crate) certified: Option<String>,
    /// `None` once the connection is closed, so no call can wait on it afterwards.
    pending: Mutex<Option<HashMap<u64, Waiter>>>,
    /// The earliest deadline the sweeper waits for; `None` when no sweeper runs. Calls time out
    /// through one sweeper per connection rather than a timer each, which costs a call only
    /// a clock read.
    sweep: Mutex<Option<tokio::time::Instant>>,
    /// Wakes the sweeper when a call with an earlier deadline arrives.
    sweep_wake: Arc<Notify>,
    this: std::sync::Weak<Connection>,
    next_call: AtomicU64,
    /// Where incoming occurrences of each item go, indexed by item id, each route with its id
    /// so adding one twice is harmless; replaced whole on change (see `RouteCache`).
    routes: Mutex<Arc<Vec<RouteSet>>>,
    /// Bumped after every change of `routes`, so the reader refreshes its copy only then.
    routes_version: AtomicU64,
    /// The events this side forwards to the remote because it subscribed.
    pub(crate) served: Mutex<HashMap<ItemId, Observation>>,
    /// Calls from the remote being served at once; the reader waits when none is left.
    pub(crate) calls_in_flight: Arc<tokio::sync::Semaphore>,
    /// One-way calls from the remote that failed here, for rate-limited warnings.
    pub(crate) failed_tells: Arc<AtomicU64>,
    /// The runtime the connection's tasks run on, for work started from other threads.
    pub(crate) runtime: tokio::runtime::Handle,
}

/// Calls from one remote served at once before its further calls wait.
const CALLS_IN_FLIGHT: usize = 1024;

impl Connection {
    pub fn new(
        info: Arc<RemoteInfo>,
        instance: u64,
        multiplicity: Multiplicity,
        quic: quinn::Connection,
        out: Arc<Outbound>,
        certified: Option<String>,
    ) -> Arc<Self> {
        Arc::new_cyclic(|this| Connection {
            this: this.clone(),
            sweep: Mutex::new(None),
            sweep_wake: Arc::new(Notify::new()),
            info,
            instance,
            multiplicity,
            quic,
            out,
            certified,
            pending: Mutex::new(Some(HashMap::new())),
            next_call: AtomicU64::new(0),
            routes: Mutex::new(Arc::new(Vec::new())),
            routes_version: AtomicU64::new(0),
            served: Mutex::new(HashMap::new()),
            calls_in_flight: Arc::new(tokio::sync::Semaphore::new(CALLS_IN_FLIGHT)),
            failed_tells: Arc::new(AtomicU64::new(0)),
            runtime: tokio::runtime::Handle::current(),
        })
    }

    /// Buffers a frame, waiting for room; `false` if the connection is gone.
    pub async fn send(&self, header: Header, payload: &[u8]) -> bool {
        self.out.push(&header, payload).await
    }

    /// Sends a call and waits for its reply, at most `timeout` if one is given.
    ///
    /// The pending entry goes away with this future, whether it completes, times out or is
    /// dropped; a reply that arrives later finds no entry and is dropped by the reader.
    pub async fn call(
        &self,
        item: ItemId,
        item_name: &'static str,
        args: Bytes,
        timeout: Option<Duration>,
    ) -> Result<(ReplyStatus, Bytes), RemoteError> {
        let disconnected = || RemoteError::Disconnected { remote: self.info.to_string(), item: item_name };
        let id = self.next_call.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        // A timeout too long to add to the clock waits as long as the remote stays connected.
        let deadline = timeout.and_then(|limit| {
            let at = tokio::time::Instant::now().checked_add(limit)?;
            Some(Deadline { at, limit, item: item_name })
        });
        let at = deadline.as_ref().map(|deadline| deadline.at);
        match lock(&self.pending).as_mut() {
            Some(pending) => pending.insert(id, Waiter { reply: tx, deadline }),
            None => return Err(disconnected()),
        };
        if let Some(at) = at {
            self.watch(at);
        }
        let _forget = PendingGuard { connection: self, id };
        let mut rx = rx;
        // Waiting for room to send counts against the deadline too: the sweeper's answer ends
        // the wait for a remote that has stopped reading.
        tokio::select! {
            biased;
            sent = self.send(Header::Call { id, item }, &args) => {
                if !sent {
                    return Err(disconnected());
                }
            }
            answer = &mut rx => return answer.unwrap_or_else(|_| Err(disconnected())),
        }
        rx.await.unwrap_or_else(|_| Err(disconnected()))
    }

    /// Makes sure a sweeper will expire a call due at `at`.
    fn watch(&self, at: tokio::time::Instant) {
        let mut sweep = lock(&self.sweep);
        match *sweep {
            None => {
                *sweep = Some(at);
                let (this, wake) = (self.this.clone(), Arc::clone(&self.sweep_wake));
                self.runtime.spawn(sweep_deadlines(this, wake, at));
            }
            Some(target) if at < target => {
                *sweep = Some(at);
                self.sweep_wake.notify_one();
            }
            Some(_) => {}
        }
    }

    /// Fails the calls whose deadline has passed; returns the next deadline, if any. Called with
    /// the sweep lock held, so a call registered meanwhile sees the sweeper's new target.
    fn expire(&self, now: tokio::time::Instant) -> Option<tokio::time::Instant> {
        let mut expired = Vec::new();
        let next = {
            let mut pending = lock(&self.pending);
            let pending = pending.as_mut()?;
            let due: Vec<u64> = pending
                .iter()
                .filter(|(_, waiter)| waiter.deadline.as_ref().is_some_and(|deadline| deadline.at <= now))
                .map(|(id, _)| *id)
                .collect();
            for id in due {
                if let Some(waiter) = pending.remove(&id) {
                    expired.push(waiter);
                }
            }
            pending.values().filter_map(|waiter| waiter.deadline.as_ref().map(|deadline| deadline.at)).min()
        };
        for waiter in expired {
            if let Some(deadline) = waiter.deadline {
                let _ = waiter.reply.send(Err(RemoteError::TimedOut {
                    remote: self.info.to_string(),
                    item: deadline.item,
                    after_ms: deadline.limit.as_millis(),
                }));
            }
        }
        next
    }

    /// Sends a one-way call: nothing comes back. `false` if the connection is gone.
    pub async fn tell(&self, item: ItemId, args: &[u8]) -> bool {
        self.send(Header::Tell { item }, args).await
    }

    /// Removes the waiter of call `id`, if any.
    pub fn take_pending(&self, id: u64) -> Option<PendingReply> {
        lock(&self.pending).as_mut()?.remove(&id).map(|waiter| waiter.reply)
    }

    /// Whether `id` was handed out by [`Connection::call`] (its reply may arrive after the
    /// caller stopped waiting).
    pub fn was_issued(&self, id: u64) -> bool {
        id < self.next_call.load(Ordering::Relaxed)
    }

    /// Calls waiting for their reply.
    pub fn pending_calls(&self) -> usize {
        lock(&self.pending).as_ref().map_or(0, HashMap::len)
    }

    /// Fails every waiting call and refuses new ones.
    pub fn fail_pending(&self) {
        self.out.close();
        let pending = lock(&self.pending).take();
        for (_, waiter) in pending.into_iter().flatten() {
            let _ = waiter.reply.send(Err(RemoteError::Disconnected { remote: self.info.to_string(), item: "?" }));
        }
        self.sweep_wake.notify_one();
    }

    /// Adds a route for incoming occurrences of `item`; subscribes on the first one.
    /// With `resubscribe`, a `Subscribe` goes out even if the item is already subscribed, so
    /// that the remote sends a signal's current value again for the new route.
    pub fn add_route(&self, route_id: u64, item: ItemId, route: EventRoute, resubscribe: bool) {
        let first = {
            let mut current = lock(&self.routes);
            let mut routes = Vec::clone(&current);
            let index = usize::from(item);
            if routes.len() <= index {
                routes.resize_with(index + 1, || Arc::new([]));
            }
            let existing = &routes[index];
            if existing.iter().any(|(id, _)| *id == route_id) {
                return;
            }
            let first = existing.is_empty();
            routes[index] = existing.iter().cloned().chain([(route_id, route)]).collect();
            *current = Arc::new(routes);
            self.routes_version.fetch_add(1, Ordering::Release);
            first
        };
        if first || resubscribe {
            // Never lost, never reordered with an unsubscription: past the buffer's limit.
            self.out.push_control(&Header::Subscribe { item });
        }
    }

    /// Removes route `route_id` of `item`; unsubscribes when it was the item's last route.
    pub fn remove_route(&self, route_id: u64, item: ItemId) {
        let last = {
            let mut current = lock(&self.routes);
            let index = usize::from(item);
            let Some(existing) = current.get(index) else { return };
            if !existing.iter().any(|(id, _)| *id == route_id) {
                return;
            }
            let mut routes = Vec::clone(&current);
            routes[index] = existing.iter().filter(|(id, _)| *id != route_id).cloned().collect();
            let last = routes[index].is_empty();
            *current = Arc::new(routes);
            self.routes_version.fetch_add(1, Ordering::Release);
            last
        };
        if last {
            self.out.push_control(&Header::Unsubscribe { item });
        }
    }

    /// Delivers an incoming occurrence to every route of `item`.
    pub fn deliver(&self, cache: &mut RouteCache, item: ItemId, payload: &[u8]) -> Result<(), postcard::Error> {
        let version = self.routes_version.load(Ordering::Acquire);
        if version != cache.version {
            cache.routes = Arc::clone(&lock(&self.routes));
            cache.version = version;
        }
        let Some(routes) = cache.routes.get(usize::from(item)) else { return Ok(()) };
        for (_, route) in routes.iter() {
            route(&self.info, payload)?;
        }
        Ok(())
    }
}

/// Expires the timed-out calls of one connection, sleeping until the earliest deadline; ends
/// when no call waits with a deadline, or the connection is gone.
async fn sweep_deadlines(connection: std::sync::Weak<Connection>, wake: Arc<Notify>, mut target: tokio::time::Instant) {
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(target) => {}
            () = wake.notified() => {}
        }
        let Some(connection) = connection.upgrade() else { return };
        let mut sweep = lock(&connection.sweep);
        match connection.expire(tokio::time::Instant::now()) {
            Some(next) => {
                *sweep = Some(next);
                target = next;
            }
            None => {
                *sweep = None;
                return;
            }
        }
    }
}

/// Removes a call's pending entry when its caller stops waiting, for whatever reason.
struct PendingGuard<'a> {
    connection: &'a Connection,
    id: u64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.connection.take_pending(self.id);
    }
}

/// A standing wish to receive `item` from every remote of peer kind `peer` (on local tie
/// `tie`, if given), now and later.
struct Interest {
    id: u64,
    peer: u16,
    tie: Option<u16>,
    item: ItemId,
    route: EventRoute,
}

impl Interest {
    fn covers(&self, connection: &Connection) -> bool {
        self.peer == connection.info.peer && self.tie.is_none_or(|tie| tie == connection.info.tie)
    }
}

/// Join and leave notifications of one peer kind.
pub(crate) struct Topology {
    pub joined: Event<Arc<RemoteInfo>>,
    pub left: Event<Arc<RemoteInfo>>,
    /// Woken on every join and leave, for code that waits for a number of remotes.
    pub changed: Notify,
}

/// Why an instance stops by itself.
#[derive(Debug)]
pub(crate) enum Stop {
    /// A `Single` remote shut down cleanly (its `main` returned, or it was asked to stop):
    /// the instance ends without error. The text says who, for the log.
    Ended(String),
    /// The instance cannot go on.
    Failed(Error),
}

/// Everything an instance shares between tasks.
/// How many remotes one `Multiple` tie takes unless configured (`--max-connections-per-tie`):
/// each costs a connection's buffers, so an authenticated member cannot open connections
/// without end.
pub const DEFAULT_MAX_PER_TIE: usize = 1024;

pub(crate) struct Core {
    pub spec: &'static ModuleSpec,
    pub local: u16,
    pub instance: u64,
    pub name: String,
    pub max_frame: usize,
    /// The most remotes on one `Multiple` tie ([`DEFAULT_MAX_PER_TIE`] unless configured).
    pub max_per_tie: std::sync::atomic::AtomicUsize,
    /// How long an access waits for its answer unless it says otherwise; `None`: no limit.
    pub call_timeout: Option<Duration>,
    pub values: Box<[OnceLock<Box<dyn Any + Send + Sync>>]>,
    connections: Mutex<BTreeMap<u64, Arc<Connection>>>,
    next_connection: AtomicU64,
    interests: Mutex<Vec<Interest>>,
    next_route: AtomicU64,
    pub topology: Box<[Topology]>,
    /// Fired for every gap in a lossy event's numbering: the remote, the item, how many.
    pub missed: Event<(Arc<RemoteInfo>, ItemId, u64)>,
    stop: Mutex<Option<Stop>>,
    pub stop_notify: Notify,
    /// The QUIC endpoint, once open: dialling at run time needs it.
    pub endpoint: OnceLock<quinn::Endpoint>,
    /// The address this instance accepts connections on, if it listens (sent in the hello).
    pub listen: OnceLock<std::net::SocketAddr>,
    pub reconnect: Reconnect,
    /// The runtime the instance runs on; its tasks go there, whoever starts them.
    pub runtime: tokio::runtime::Handle,
    /// Set when the instance shuts down: its waiting tasks end.
    pub closed: std::sync::atomic::AtomicBool,
    /// Whether remotes' certificates are checked against the peer kinds and names their
    /// hellos claim (not with `--insecure`).
    pub checks_certificates: std::sync::atomic::AtomicBool,
    /// The most a connection's receive window grows to, in bytes.
    pub max_window: AtomicU64,
    /// How long a large frame may take to arrive besides a second per MiB, in milliseconds.
    pub frame_deadline_ms: AtomicU64,
    /// Occurrences of this instance's `#[lossy]` events dropped for slow subscribers. Shared
    /// with the subscriptions' sinks, which must not hold the `Core` (its values hold them).
    pub dropped_occurrences: Arc<AtomicU64>,
    /// The certificates refused now: checked again at admission and after registering, so a
    /// connection that passed TLS before the list grew is refused too.
    pub deny: Mutex<Arc<crate::credentials::DenyList>>,
    /// The TLS configuration connections are dialled with; replaced when the credentials
    /// are loaded again.
    pub client_config: Mutex<Option<quinn::ClientConfig>>,
    this: std::sync::Weak<Core>,
}

impl Core {
    pub fn new(
        spec: &'static ModuleSpec,
        local: u16,
        instance: u64,
        name: String,
        max_frame: usize,
        call_timeout: Option<Duration>,
        reconnect: Reconnect,
    ) -> Arc<Self> {
        Arc::new_cyclic(|this| Core {
            endpoint: OnceLock::new(),
            listen: OnceLock::new(),
            reconnect,
            runtime: tokio::runtime::Handle::current(),
            closed: std::sync::atomic::AtomicBool::new(false),
            checks_certificates: std::sync::atomic::AtomicBool::new(false),
            client_config: Mutex::new(None),
            deny: Mutex::new(Arc::default()),
            max_window: AtomicU64::new(u64::from(crate::inbound::BASE_WINDOW)),
            frame_deadline_ms: AtomicU64::new(crate::inbound::DEFAULT_FRAME_DEADLINE.as_millis() as u64),
            dropped_occurrences: Arc::new(AtomicU64::new(0)),
            this: this.clone(),
            spec,
            local,
            instance,
            name,
            max_frame,
            max_per_tie: std::sync::atomic::AtomicUsize::new(DEFAULT_MAX_PER_TIE),
            call_timeout,
            values: spec.items.iter().map(|_| OnceLock::new()).collect(),
            connections: Mutex::new(BTreeMap::new()),
            next_connection: AtomicU64::new(1),
            interests: Mutex::new(Vec::new()),
            next_route: AtomicU64::new(1),
            topology: spec
                .peers
                .iter()
                .map(|_| Topology { joined: Event::new(), left: Event::new(), changed: Notify::new() })
                .collect(),
            missed: Event::new(),
            stop: Mutex::new(None),
            stop_notify: Notify::new(),
        })
    }

    pub fn local_name(&self) -> &'static str {
        self.spec.peer_name(self.local)
    }

    pub fn next_connection_id(&self) -> u64 {
        self.next_connection.fetch_add(1, Ordering::Relaxed)
    }

    pub fn next_route_id(&self) -> u64 {
        self.next_route.fetch_add(1, Ordering::Relaxed)
    }

    /// Registers an admitted connection, enforcing one connection per instance pair and the
    /// capacity of `Single` / `Optional` ties atomically. Call [`Core::announce`] afterwards,
    /// and [`Core::retire`] each connection returned: they gave way to this one.
    ///
    /// A second connection to an instance already connected is refused, and the first stays,
    /// except when each side dialled one (a mutual dial): then [`keeps_mutual_dial`] decides,
    /// alike on both sides, and the replaced connection is returned.
    ///
    /// A `Single` / `Optional` tie that is taken is refused too, unless the remote on it is a
    /// process that has gone: its connection is closed already, or a new instance arrives from
    /// the very address it was seen at (only one process can own a UDP address, so the old one
    /// was restarted, and its connection would otherwise block the tie until it times out).
    pub fn register(&self, connection: Arc<Connection>) -> Result<Vec<Arc<Connection>>, Refusal> {
        if connection.instance == self.instance {
            return Err(Refusal::Itself);
        }
        let mut connections = lock(&self.connections);
        let mut superseded = Vec::new();
        let same_instance =
            connections.values().find(|c| c.instance == connection.instance && c.info.peer == connection.info.peer);
        if let Some(existing) = same_instance {
            // An instance id is what the remote says; the certificate is what it proves. A
            // remote whose certificate names another instance cannot take this one's place.
            if existing.certified != connection.certified {
                return Err(Refusal::InstanceTaken {
                    instance: connection.instance,
                    holder: existing.info.to_string(),
                });
            }
            // One that is closed already (its reader has not unregistered it yet) gives way.
            let stale = existing.quic.close_reason().is_some();
            let keep_new = stale
                || existing.info.dialled != connection.info.dialled
                    && keeps_mutual_dial(self.instance, connection.instance, connection.info.dialled);
            if !keep_new {
                return Err(Refusal::AlreadyConnected { remote: existing.info.to_string(), instance: self.instance });
            }
            superseded.push(Arc::clone(existing));
        }
        if connection.multiplicity != Multiplicity::Multiple {
            let occupied = connections.values().find(|c| {
                c.info.peer == connection.info.peer
                    && c.info.tie == connection.info.tie
                    && !superseded.iter().any(|old| old.info.id == c.info.id)
            });
            if let Some(existing) = occupied {
                let gone = existing.quic.close_reason().is_some()
                    || existing.info.addr == connection.info.addr && existing.instance != connection.instance;
                if !gone {
                    return Err(Refusal::TieOccupied {
                        local: self.local_name().to_owned(),
                        remote: match connection.info.tie_name {
                            Some(tie) => format!("{tie}: {}", connection.info.peer_name),
                            None => connection.info.peer_name.to_owned(),
                        },
                        multiplicity: connection.multiplicity,
                        existing: existing.info.to_string(),
                    });
                }
                superseded.push(Arc::clone(existing));
            }
        } else {
            let on_tie = connections
                .values()
                .filter(|c| {
                    c.info.peer == connection.info.peer
                        && c.info.tie == connection.info.tie
                        && c.quic.close_reason().is_none()
                        && !superseded.iter().any(|old| old.info.id == c.info.id)
                })
                .count();
            let limit = self.max_per_tie.load(std::sync::atomic::Ordering::Relaxed);
            if on_tie >= limit {
                return Err(Refusal::TooMany {
                    local: self.local_name().to_owned(),
                    remote: match connection.info.tie_name {
                        Some(tie) => format!("{tie}: {}", connection.info.peer_name),
                        None => connection.info.peer_name.to_owned(),
                    },
                    limit,
                });
            }
        }
        for old in &superseded {
            connections.remove(&old.info.id);
        }
        connections.insert(connection.info.id, Arc::clone(&connection));
        Ok(superseded)
    }

    /// Tells everyone about a registered connection: its routes for standing interests go
    /// out, and it joins.
    pub fn announce(&self, connection: &Connection) {
        let interests = lock(&self.interests);
        for interest in interests.iter().filter(|interest| interest.covers(connection)) {
            connection.add_route(
                interest.id,
                interest.item,
                Arc::clone(&interest.route),
                self.is_signal(interest.item),
            );
        }
        drop(interests);
        let topology = &self.topology[usize::from(connection.info.peer)];
        topology.changed.notify_waiters();
        topology.joined.fire(Arc::clone(&connection.info));
    }

    /// Retires a connection that gave way to `by` (a mutual dial, or a restarted remote): its
    /// pending accesses fail and it leaves. The instance stays connected through `by` (on the
    /// same tie for a restarted remote; a mutual dial keeps the tie of the connection that
    /// stays).
    pub fn retire(&self, connection: &Connection, by: &Connection) {
        connection.fail_pending();
        let served: Vec<Observation> = lock(&connection.served).drain().map(|(_, o)| o).collect();
        served.into_iter().for_each(Observation::cancel);
        if connection.instance == by.instance {
            tracing::debug!(remote = %connection.info, "replaced by the connection the remote dialled");
        } else {
            tracing::info!(remote = %connection.info, "remote left: a new instance ({}) took its address", by.info);
        }
        let topology = &self.topology[usize::from(connection.info.peer)];
        topology.changed.notify_waiters();
        topology.left.fire(Arc::clone(&connection.info));
    }

    /// Forgets a closed connection and tells everyone who waits on it. `clean` says that the
    /// remote shut down on purpose.
    pub fn unregister(&self, connection: &Connection, reason: &str, clean: bool) {
        let removed = lock(&self.connections).remove(&connection.info.id).is_some();
        connection.fail_pending();
        let served: Vec<Observation> = lock(&connection.served).drain().map(|(_, o)| o).collect();
        served.into_iter().for_each(Observation::cancel);
        if !removed {
            return;
        }
        let single = connection.multiplicity == Multiplicity::Single;
        // A `Single` remote that shut down is reported once, by the instance as it ends.
        if !(single && clean) {
            tracing::info!(remote = %connection.info, %reason, "remote left");
        }
        let topology = &self.topology[usize::from(connection.info.peer)];
        topology.changed.notify_waiters();
        topology.left.fire(Arc::clone(&connection.info));
        if single && clean {
            self.set_stop(Stop::Ended(format!(
                "the {} this {} is tied to as Single ({}) shut down",
                connection.info.peer_name,
                self.local_name(),
                connection.info
            )));
        } else if single {
            let lost = Error::LostSingle {
                local: self.local_name(),
                peer: connection.info.peer_name,
                remote: connection.info.to_string(),
                reason: reason.to_owned(),
            };
            match self.reconnect.give_up {
                Some(give_up) if give_up.is_zero() => self.set_stop(Stop::Failed(lost)),
                give_up => {
                    tracing::warn!(
                        remote = %connection.info,
                        "lost the {} this {} is tied to as Single; waiting for it to come back{}",
                        connection.info.peer_name,
                        self.local_name(),
                        give_up.map_or_else(String::new, |limit| format!(" (at most {} ms)", limit.as_millis()))
                    );
                    if let Some(core) = self.this.upgrade() {
                        self.runtime.spawn(await_single(
                            core,
                            connection.info.peer,
                            connection.info.tie,
                            give_up,
                            lost,
                        ));
                    }
                }
            }
        }
    }

    /// Whether `item` is a placed signal (whose current value each new route needs).
    pub fn is_signal(&self, item: ItemId) -> bool {
        self.spec.items.get(usize::from(item)).is_some_and(|spec| spec.kind == crate::spec::ItemKind::Signal)
    }

    /// Whether `item` is a placed event marked `#[lossy]`.
    pub fn is_lossy(&self, item: ItemId) -> bool {
        self.spec.items.get(usize::from(item)).is_some_and(|spec| spec.kind == crate::spec::ItemKind::LossyEvent)
    }

    /// The connection to `remote`: by its connection id, else (a remote received inside a
    /// value, or one that reconnected) by its instance.
    pub fn connection_to(&self, remote: &RemoteInfo) -> Option<Arc<Connection>> {
        let connections = lock(&self.connections);
        connections
            .get(&remote.id)
            .filter(|c| c.instance == remote.instance)
            .or_else(|| connections.values().find(|c| c.instance == remote.instance && c.info.peer == remote.peer))
            .cloned()
    }

    /// The connection to instance `instance`, if any.
    pub fn connection_to_instance(&self, instance: u64) -> Option<Arc<Connection>> {
        lock(&self.connections).values().find(|c| c.instance == instance).cloned()
    }

    /// The connections to remotes of kind `peer`, on local tie `tie` if given.
    /// One connection to a remote of kind `peer` (on tie `tie`, if given), without collecting
    /// them all: what an access of a `Single` or `Optional` tie needs on every call.
    pub fn first_connection_on(&self, peer: u16, tie: Option<u16>) -> Option<Arc<Connection>> {
        lock(&self.connections)
            .values()
            .find(|c| c.info.peer == peer && tie.is_none_or(|tie| tie == c.info.tie))
            .cloned()
    }

    pub fn connections_on(&self, peer: u16, tie: Option<u16>) -> Vec<Arc<Connection>> {
        lock(&self.connections)
            .values()
            .filter(|c| c.info.peer == peer && tie.is_none_or(|tie| tie == c.info.tie))
            .cloned()
            .collect()
    }

    pub fn all_connections(&self) -> Vec<Arc<Connection>> {
        lock(&self.connections).values().cloned().collect()
    }

    /// Routes `item` from every current and future remote of kind `peer` (on local tie `tie`,
    /// if given) into `route`, under `id` (taken from [`Core::next_route_id`]), until
    /// [`Core::remove_interest`].
    pub fn add_interest_with_id(&self, id: u64, peer: u16, tie: Option<u16>, item: ItemId, route: EventRoute) {
        let mut interests = lock(&self.interests);
        interests.push(Interest { id, peer, tie, item, route: Arc::clone(&route) });
        for connection in self.connections_on(peer, tie) {
            connection.add_route(id, item, Arc::clone(&route), self.is_signal(item));
        }
    }

    /// How many interests stand.
    pub fn interest_count(&self) -> usize {
        lock(&self.interests).len()
    }

    /// Withdraws an interest added by [`Core::add_interest`].
    pub fn remove_interest(&self, id: u64) {
        let mut interests = lock(&self.interests);
        let Some(index) = interests.iter().position(|interest| interest.id == id) else { return };
        let interest = interests.remove(index);
        drop(interests);
        for connection in self.connections_on(interest.peer, interest.tie) {
            connection.remove_route(id, interest.item);
        }
    }

    pub fn set_stop(&self, reason: Stop) {
        let mut stop = lock(&self.stop);
        if stop.is_none() {
            *stop = Some(reason);
        }
        drop(stop);
        self.stop_notify.notify_waiters();
        self.stop_notify.notify_one();
    }

    pub fn take_stop(&self) -> Option<Stop> {
        lock(&self.stop).take()
    }

    /// The arguments' size checked against the frame limit.
    pub fn check_size(&self, item: ItemId, args: &[u8]) -> Result<(), RemoteError> {
        if args.len() > self.max_frame.saturating_sub(32) {
            return Err(RemoteError::TooLarge {
                item: self.spec.item_name(item),
                size: args.len(),
                limit: self.max_frame,
            });
        }
        Ok(())
    }

    /// Sends a one-way call to `connection`; an error only when it could not be queued.
    pub async fn tell(&self, connection: &Connection, item: ItemId, args: &Bytes) -> Result<(), RemoteError> {
        self.check_size(item, args)?;
        if connection.tell(item, args).await {
            Ok(())
        } else {
            Err(RemoteError::Disconnected { remote: connection.info.to_string(), item: self.spec.item_name(item) })
        }
    }

    /// Sends a call to `connection` and decodes the reply.
    pub async fn call<T: crate::placement::Transmit>(
        &self,
        connection: &Connection,
        item: ItemId,
        args: &Bytes,
        timeout: Option<Duration>,
    ) -> Result<T, RemoteError> {
        let item_name = self.spec.item_name(item);
        self.check_size(item, args)?;
        let (status, payload) =
            connection.call(item, item_name, args.clone(), timeout).await.map_err(|error| match error {
                RemoteError::Disconnected { remote, .. } => RemoteError::Disconnected { remote, item: item_name },
                other => other,
            })?;
        let remote = || connection.info.to_string();
        match status {
            ReplyStatus::Ok => T::__decode(&payload).map_err(|error| RemoteError::Codec {
                direction: "decode",
                item: item_name,
                detail: error.to_string(),
            }),
            ReplyStatus::Failed => Err(match postcard::from_bytes::<Failure>(&payload) {
                Ok(Failure::Panicked(message)) => RemoteError::Panicked { remote: remote(), item: item_name, message },
                Ok(Failure::UnknownItem(_)) => RemoteError::Rejected {
                    remote: remote(),
                    item: item_name,
                    reason: "it serves no such function".to_owned(),
                },
                Ok(Failure::BadArguments(reason)) | Ok(Failure::Unencodable(reason)) => {
                    RemoteError::Rejected { remote: remote(), item: item_name, reason }
                }
                Ok(Failure::NotForCaller(peer)) => RemoteError::Rejected {
                    remote: remote(),
                    item: item_name,
                    reason: format!("only a {peer} may call it"),
                },
                Err(error) => RemoteError::Codec { direction: "decode", item: item_name, detail: error.to_string() },
            }),
        }
    }
}

/// Removes the served subscriptions for `item` of `connection`.
pub(crate) fn unsubscribe(connection: &Connection, item: ItemId) {
    if let Some(observation) = lock(&connection.served).remove(&item) {
        observation.cancel();
    }
}
