//! `Here<P>`: the context placed code runs in, and the remote-access API built on it.

use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::join_all;

use crate::core::{Core, EventRoute};
use crate::error::RemoteError;
use crate::placement::{
    Aggregate, AsLocal, BoxFuture, EventKind, FunctionKind, Peer, PlacedEvent, PlacedFunction, PlacedOn, PlacedSignal,
    PlacedValue, Reach, SignalKind, Tie, Transmit,
};
use crate::reactive::{Event, Signal, Var};
use crate::remote::{Remote, RemoteInfo};

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

    /// The placed value `item` of this instance (created on first use, then shared).
    pub fn local<V>(&self, item: impl FnOnce() -> V) -> V::Value
    where
        V: PlacedValue + PlacedOn<P>,
    {
        let _ = item;
        let slot = &self.core.values[usize::from(V::ID)];
        let value = slot.get_or_init(|| match P::__init_value(self, V::ID) {
            Some(value) => value,
            None => {
                panic!("loci: `{}` is not a value placed on `{}` (generated code is out of sync)", V::NAME, P::NAME)
            }
        });
        match value.downcast_ref::<V::Value>() {
            Some(value) => value.clone(),
            None => panic!("loci: placed value `{}` has an unexpected type (generated code is out of sync)", V::NAME),
        }
    }

    /// Remote access to `item`, placed on a peer tied to `P`.
    ///
    /// What follows depends on the tie: `.as_local()` over `Single` / `Optional`,
    /// `.from_all()` / `.from_all_seq()` over `Multiple`, `.from(&remote)` over any.
    pub fn remote<V>(&self, item: impl FnOnce() -> V) -> Access<'_, P, V, V::Kind, <V as Reach<P>>::Multiplicity>
    where
        V: Reach<P>,
    {
        Access { here: self, item: item(), _marker: PhantomData }
    }

    /// The connected remotes of peer `Q` and their comings and goings.
    pub fn remotes<Q: Peer>(&self) -> Remotes<'_, P, Q>
    where
        P: Tie<Q>,
    {
        Remotes { here: self, _peer: PhantomData }
    }

    fn connected<Q: Peer>(&self) -> Vec<Remote<Q>> {
        self.core.connections_of(Q::INDEX).into_iter().map(|c| Remote::new(Arc::clone(&c.info))).collect()
    }
}

/// Remote access to placed item `V` from peer `P`, over a tie of multiplicity `M`.
///
/// Created by [`Here::remote`]. `K` is the item's kind (event or function).
#[must_use = "remote access does nothing until you choose `.as_local()`, `.from(..)`, `.from_all()` or `.call(..)`"]
pub struct Access<'a, P, V, K, M> {
    here: &'a Here<P>,
    item: V,
    _marker: PhantomData<fn() -> (K, M)>,
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
        M: AsLocal<P, V::Peer>,
    {
        let local = Event::new();
        let target = local.clone();
        let route: EventRoute = Arc::new(move |_, payload| {
            target.fire(decode_into(payload)?);
            Ok(())
        });
        self.here.core.add_interest(<V::Peer as Peer>::INDEX, V::ID, route);
        local
    }

    /// Occurrences from every connected remote, now and later, merged and tagged with their sender.
    pub fn from_all_seq(self) -> Event<(Remote<V::Peer>, V::Item)>
    where
        M: Aggregate<P, V::Peer>,
    {
        let merged = Event::new();
        let target = merged.clone();
        let route: EventRoute = Arc::new(move |info: &Arc<RemoteInfo>, payload| {
            target.fire((Remote::new(Arc::clone(info)), decode_into(payload)?));
            Ok(())
        });
        self.here.core.add_interest(<V::Peer as Peer>::INDEX, V::ID, route);
        merged
    }

    /// One local event per currently connected remote.
    pub fn from_all(self) -> PerRemoteEvents<V::Peer, V::Item>
    where
        M: Aggregate<P, V::Peer>,
    {
        let remotes = self.here.connected::<V::Peer>();
        remotes.into_iter().map(|remote| (remote.clone(), Self::subscribe(self.here, &remote))).collect()
    }

    /// The event of one particular remote. Empty if that remote is gone.
    pub fn from(self, remote: &Remote<V::Peer>) -> Event<V::Item> {
        Self::subscribe(self.here, remote)
    }

    fn subscribe(here: &Here<P>, remote: &Remote<V::Peer>) -> Event<V::Item> {
        let local = Event::new();
        if let Some(connection) = here.core.connection(remote.id()) {
            let target = local.clone();
            let route: EventRoute = Arc::new(move |_, payload| {
                target.fire(decode_into(payload)?);
                Ok(())
            });
            connection.add_route(here.core.next_route_id(), V::ID, route, false);
        }
        local
    }
}

impl<'a, P: Peer, V: PlacedSignal, M> Access<'a, P, V, SignalKind, M> {
    /// The remote signal as a local one, over a `Single` or `Optional` tie: it starts with the
    /// remote's current value (this waits for it) and follows its changes. A slow reader may
    /// skip intermediate values, never the latest.
    pub async fn as_local(self) -> Result<M::Out<Signal<V::Item>>, RemoteError>
    where
        M: AsLocal<P, V::Peer>,
    {
        let connection = self.here.core.connections_of(<V::Peer as Peer>::INDEX).into_iter().next();
        let signal = match connection {
            Some(connection) => {
                let remote = connection.info.to_string();
                match follow_signal::<V>(self.here, connection).await {
                    Some(signal) => Some(signal),
                    None => return Err(RemoteError::Disconnected { remote, item: V::NAME }),
                }
            }
            None => None,
        };
        M::wrap(signal, || RemoteError::NotConnected { peer: <V::Peer as Peer>::NAME, item: V::NAME })
    }

    /// The signal of one particular remote, starting with its current value (this waits for it).
    pub async fn from(self, remote: &Remote<V::Peer>) -> Result<Signal<V::Item>, RemoteError> {
        let disconnected = || RemoteError::Disconnected { remote: remote.to_string(), item: V::NAME };
        let connection = self.here.core.connection(remote.id()).ok_or_else(disconnected)?;
        follow_signal::<V>(self.here, connection).await.ok_or_else(disconnected)
    }

    /// The value of every connected remote, updated as values change and remotes join or leave.
    pub fn from_all(self) -> Signal<PerRemoteValues<V::Peer, V::Item>>
    where
        M: Aggregate<P, V::Peer>,
    {
        let all: Var<PerRemoteValues<V::Peer, V::Item>> = Var::new(Vec::new());
        let target = all.clone();
        let route: EventRoute = Arc::new(move |info: &Arc<RemoteInfo>, payload| {
            let value: V::Item = decode_into(payload)?;
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
        self.here.core.add_interest(<V::Peer as Peer>::INDEX, V::ID, route);
        let target = all.clone();
        let _ = self.here.core.topology[usize::from(<V::Peer as Peer>::INDEX)].left.observe(move |info| {
            let gone = info.id;
            target.update(move |current| current.iter().filter(|(remote, _)| remote.id() != gone).cloned().collect())
        });
        all.signal()
    }
}

/// Subscribes to signal `V` on `connection` and returns a local signal once the first value
/// arrived; `None` if the connection ended first.
async fn follow_signal<V: PlacedSignal>(
    here: &Here<impl Peer>,
    connection: Arc<crate::core::Connection>,
) -> Option<Signal<V::Item>> {
    let (first_tx, first_rx) = tokio::sync::oneshot::channel();
    let first_tx = std::sync::Mutex::new(Some(first_tx));
    let local: std::sync::OnceLock<Var<V::Item>> = std::sync::OnceLock::new();
    let route: EventRoute = Arc::new(move |_, payload| {
        let value: V::Item = decode_into(payload)?;
        match local.get() {
            Some(var) => var.set(value),
            None => {
                let var = local.get_or_init(|| Var::new(value));
                if let Some(first) = crate::core::lock(&first_tx).take() {
                    let _ = first.send(var.signal());
                }
            }
        }
        Ok(())
    });
    connection.add_route(here.core.next_route_id(), V::ID, route, true);
    // Holding the connection would keep the route (and so this wait) alive after a disconnect.
    drop(connection);
    first_rx.await.ok()
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
    remote_id: u64,
    args: &Bytes,
) -> Result<V::Output, RemoteError> {
    match here.core.connection(remote_id) {
        Some(connection) => here.core.call(&connection, V::ID, args).await,
        None => Err(RemoteError::Disconnected {
            remote: format!("{} #{remote_id}", <V::Peer as Peer>::NAME),
            item: V::NAME,
        }),
    }
}

impl<'a, P: Peer, V: PlacedFunction, M> Access<'a, P, V, FunctionKind, M> {
    /// Calls the function on the one remote of a `Single` tie (yielding its result) or an
    /// `Optional` tie (yielding `None` when no remote is connected).
    pub async fn call(self, args: V::Args) -> Result<M::Out<V::Output>, RemoteError>
    where
        M: AsLocal<P, V::Peer>,
    {
        let args = encode_args::<V>(&args)?;
        let connection = self.here.core.connections_of(<V::Peer as Peer>::INDEX).into_iter().next();
        let answer = match connection {
            Some(connection) => Some(self.here.core.call(&connection, V::ID, &args).await?),
            None => None,
        };
        M::wrap(answer, || RemoteError::NotConnected { peer: <V::Peer as Peer>::NAME, item: V::NAME })
    }

    /// Reads a function without arguments from the one remote, like [`Access::call`] with `()`.
    pub async fn as_local(self) -> Result<M::Out<V::Output>, RemoteError>
    where
        V: PlacedFunction<Args = ()>,
        M: AsLocal<P, V::Peer>,
    {
        self.call(()).await
    }

    /// Addresses one particular remote.
    pub fn from(self, remote: &Remote<V::Peer>) -> Selected<'a, P, V> {
        Selected { here: self.here, item: self.item, remote: remote.id() }
    }

    /// Addresses every connected remote; the calls go out concurrently.
    pub fn from_all(self) -> All<'a, P, V>
    where
        M: Aggregate<P, V::Peer>,
    {
        All { here: self.here, item: self.item }
    }
}

/// A placed function on one selected remote. `.call(args)`, or `.await` for no arguments.
#[must_use = "nothing is sent until you `.call(..)` or `.await` it"]
pub struct Selected<'a, P, V> {
    here: &'a Here<P>,
    item: V,
    remote: u64,
}

impl<'a, P: Peer, V: PlacedFunction> Selected<'a, P, V> {
    /// Calls the function on the selected remote.
    pub async fn call(self, args: V::Args) -> Result<V::Output, RemoteError> {
        let _ = self.item;
        let args = encode_args::<V>(&args)?;
        call_one::<P, V>(self.here, self.remote, &args).await
    }
}

impl<'a, P: Peer, V: PlacedFunction<Args = ()>> IntoFuture for Selected<'a, P, V> {
    type Output = Result<V::Output, RemoteError>;
    type IntoFuture = BoxFuture<'a, Self::Output>;
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.call(()))
    }
}

/// A placed function on every connected remote. `.call(args)`, or `.await` for no arguments.
#[must_use = "nothing is sent until you `.call(..)` or `.await` it"]
pub struct All<'a, P, V> {
    here: &'a Here<P>,
    item: V,
}

/// The value of each remote, as `from_all` on a placed signal holds them.
pub type PerRemoteValues<Q, T> = Vec<(Remote<Q>, T)>;

/// One local event per remote, as `from_all` on a placed event returns them.
pub type PerRemoteEvents<Q, T> = Vec<(Remote<Q>, Event<T>)>;

/// One answer per remote, as aggregation returns them.
pub type PerRemote<Q, T> = Vec<(Remote<Q>, Result<T, RemoteError>)>;

impl<'a, P: Peer, V: PlacedFunction> All<'a, P, V> {
    /// Calls the function on every connected remote at once; one result per remote.
    pub fn call(self, args: V::Args) -> impl Future<Output = PerRemote<V::Peer, V::Output>> + Send + 'a {
        let _ = self.item;
        let here = self.here;
        let encoded = encode_args::<V>(&args);
        async move {
            let remotes = here.connected::<V::Peer>();
            let args = match encoded {
                Ok(args) => args,
                Err(error) => return remotes.into_iter().map(|remote| (remote, Err(error.clone()))).collect(),
            };
            let answers = join_all(remotes.iter().map(|remote| call_one::<P, V>(here, remote.id(), &args))).await;
            remotes.into_iter().zip(answers).collect()
        }
    }
}

impl<'a, P: Peer, V: PlacedFunction<Args = ()>> IntoFuture for All<'a, P, V> {
    type Output = PerRemote<V::Peer, V::Output>;
    type IntoFuture = BoxFuture<'a, Self::Output>;
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.call(()))
    }
}

/// The connected remotes of peer `Q`, seen from `P`. Created by [`Here::remotes`].
pub struct Remotes<'a, P, Q> {
    here: &'a Here<P>,
    _peer: PhantomData<fn() -> Q>,
}

impl<P: Peer, Q: Peer> Remotes<'_, P, Q> {
    /// The remotes connected right now.
    pub fn connected(&self) -> Vec<Remote<Q>> {
        self.here.connected::<Q>()
    }

    /// Fires each time a remote of `Q` has connected and passed the handshake.
    pub fn joined(&self) -> Event<Remote<Q>> {
        self.here.core.topology[usize::from(Q::INDEX)].joined.map(|info| Remote::new(Arc::clone(info)))
    }

    /// The connected remotes as a signal, updated as they join and leave.
    pub fn connected_signal(&self) -> Signal<Vec<Remote<Q>>> {
        let connected: Var<Vec<Remote<Q>>> = Var::new(Vec::new());
        let topology = &self.here.core.topology[usize::from(Q::INDEX)];
        let target = connected.clone();
        // Observe first, then fill in: a remote joining in between is added once, not twice.
        let _ = topology.joined.observe(move |info| {
            let joined = Remote::new(Arc::clone(info));
            target.update(move |current| {
                let known = current.iter().any(|remote| remote.id() == joined.id());
                current.iter().cloned().chain((!known).then_some(joined)).collect()
            })
        });
        let target = connected.clone();
        let _ = topology.left.observe(move |info| {
            let gone = info.id;
            target.update(move |current| current.iter().filter(|remote| remote.id() != gone).cloned().collect())
        });
        for remote in self.connected() {
            connected.update(move |current| {
                let known = current.iter().any(|r| r.id() == remote.id());
                current.iter().cloned().chain((!known).then_some(remote)).collect()
            });
        }
        connected.signal()
    }

    /// Fires each time a remote of `Q` has gone away (closed, failed or timed out).
    pub fn left(&self) -> Event<Remote<Q>> {
        self.here.core.topology[usize::from(Q::INDEX)].left.map(|info| Remote::new(Arc::clone(info)))
    }
}
