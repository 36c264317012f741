//! `ctx.remotes::<Q>()`: the remotes of one peer kind, their comings and goings, and changing
//! the topology at run time (connect, reach, disconnect).

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use crate::error::RemoteError;
use crate::here::Here;
use crate::placement::Peer;
use crate::reactive::{Event, Signal, Var};
use crate::remote::{Remote, Traffic};

/// The connected remotes of peer `Q`, seen from `P`: on every tie to `Q` (created by
/// [`Here::remotes`]) or on one named tie (created by [`Here::tie`]).
pub struct Remotes<'a, P, Q> {
    here: &'a Here<P>,
    /// The one local tie these remotes are on; `None`: every tie to `Q`.
    tie: Option<u16>,
    _peer: PhantomData<fn() -> Q>,
}

impl<'a, P, Q> Remotes<'a, P, Q> {
    pub(crate) fn new(here: &'a Here<P>) -> Self {
        Remotes { here, tie: None, _peer: PhantomData }
    }

    pub(crate) fn on_tie(here: &'a Here<P>, tie: u16) -> Self {
        Remotes { here, tie: Some(tie), _peer: PhantomData }
    }
}

impl<P: Peer, Q: Peer> Remotes<'_, P, Q> {
    /// The remotes connected right now.
    pub fn connected(&self) -> Vec<Remote<Q>> {
        self.here.connected::<Q>(self.tie)
    }

    /// Whether a remote on the tie `remote` came through belongs here.
    fn covers(&self, tie: u16) -> bool {
        self.tie.is_none_or(|ours| ours == tie)
    }

    /// The tie a connection made here is dialled on: the chosen one, else the only tie to `Q`.
    fn dial_tie(&self, target: &str) -> Result<u16, RemoteError> {
        if let Some(tie) = self.tie {
            return Ok(tie);
        }
        let spec = self.here.core.spec;
        let ties: Vec<u16> = spec.ties_to(P::INDEX, Q::INDEX).map(|(index, _)| index).collect();
        match ties.as_slice() {
            [tie] => Ok(*tie),
            several => Err(RemoteError::Unreachable {
                peer: Q::NAME,
                target: target.to_owned(),
                reason: format!(
                    "`{}` has {} ties to `{}` ({}); choose the one to connect on with `ctx.tie(name)`",
                    P::NAME,
                    several.len(),
                    Q::NAME,
                    several.iter().map(|tie| spec.tie_name(P::INDEX, *tie)).collect::<Vec<_>>().join(", ")
                ),
            }),
        }
    }

    /// Connects to an instance of `Q` at `target` (a socket address, or `host:port`, resolved
    /// now), with the same TLS, fingerprint and tie checks as connections made at start-up.
    /// Its `Remote` once connected, or at once if this instance is connected to it already.
    ///
    /// A connection made here is not dialled again when it is lost; `joined`/`left` report it
    /// like any other.
    ///
    /// # Cancel safety
    /// Dropping the future may leave the connection made or not.
    pub async fn connect(&self, target: impl ToString) -> Result<Remote<Q>, RemoteError> {
        let target = target.to_string();
        let tie = self.dial_tie(&target)?;
        let unreachable = |reason: String| RemoteError::Unreachable { peer: Q::NAME, target: target.clone(), reason };
        let core = &self.here.core;
        let local =
            core.endpoint.get().and_then(|endpoint| endpoint.local_addr().ok()).unwrap_or(([0, 0, 0, 0], 0).into());
        let addrs = crate::running::resolve(&target, local).await.map_err(unreachable)?;
        let mut last = String::new();
        for addr in addrs {
            match crate::connection::dial(self.here, tie, addr).await {
                Ok(info) => return Ok(Remote::new(info)),
                Err(crate::connection::DialError::AlreadyConnected(instance)) => {
                    return core
                        .connection_to_instance(instance)
                        .map(|connection| Remote::new(Arc::clone(&connection.info)))
                        .ok_or_else(|| unreachable("connected by another connection, which just ended".to_owned()));
                }
                Err(crate::connection::DialError::Refused(reason) | crate::connection::DialError::Full(reason)) => {
                    return Err(unreachable(reason))
                }
                Err(crate::connection::DialError::Failed { reason, .. }) => last = reason,
            }
        }
        Err(unreachable(last))
    }

    /// The connected remote `remote` stands for: the connection to its instance if there is
    /// one, else a new one to the address it listens on. This is how a `Remote` received
    /// inside a value (from another peer) is used.
    pub async fn reach(&self, remote: &Remote<Q>) -> Result<Remote<Q>, RemoteError> {
        if let Some(connection) = self.here.core.connection_to(&remote.info).filter(|c| self.covers(c.info.tie)) {
            return Ok(Remote::new(Arc::clone(&connection.info)));
        }
        let listen = remote.info.listen.ok_or_else(|| RemoteError::Unreachable {
            peer: Q::NAME,
            target: remote.to_string(),
            reason: "it does not listen for connections".to_owned(),
        })?;
        let before: Vec<u64> = self.connected().iter().map(Remote::id).collect();
        let reached = self.connect(listen).await?;
        if reached.instance() != remote.instance() {
            // Hang up only on a connection made here for nothing; keep one that was in use.
            if !before.contains(&reached.id()) {
                self.disconnect(&reached, "expected another instance at this address");
            }
            return Err(RemoteError::Unreachable {
                peer: Q::NAME,
                target: listen.to_string(),
                reason: format!("another instance listens there now (not {remote})"),
            });
        }
        Ok(reached)
    }

    /// What the connection to `remote` has carried so far, as QUIC counts it on the wire
    /// (packet headers, acknowledgements and retransmissions included); `None` if it is not
    /// connected. Measures what an operation moves across the network: read it before and after.
    pub fn traffic(&self, remote: &Remote<Q>) -> Option<Traffic> {
        let connection = self.here.core.connection_to(&remote.info).filter(|c| self.covers(c.info.tie))?;
        let stats = connection.quic.stats();
        Some(Traffic { sent_bytes: stats.udp_tx.bytes, received_bytes: stats.udp_rx.bytes })
    }

    /// Closes the connection to `remote`; the remote logs `reason`. `false` if it was not
    /// connected.
    pub fn disconnect(&self, remote: &Remote<Q>, reason: &str) -> bool {
        let connection = self.here.core.connection_to(&remote.info).filter(|c| self.covers(c.info.tie));
        let Some(connection) = connection else { return false };
        connection.quic.close(crate::connection::CLOSE_DISCONNECT.into(), reason.as_bytes());
        self.here.core.unregister(&connection, &format!("disconnected locally: {reason}"), false);
        true
    }

    /// Waits until at least `n` remotes of `Q` are connected, for at most `timeout`, and
    /// returns those connected then. Fails with [`RemoteError::TooFew`] when time runs out.
    ///
    /// ```no_run
    /// # #[loci::multitier] mod app {
    /// #     use loci::Here;
    /// #     #[peer(ties(Worker = Multiple))] pub struct Master;
    /// #     #[peer(ties(Master = Single))] pub struct Worker;
    /// #     #[on(Master)]
    /// #     pub async fn main(ctx: Here<Master>) -> loci::Result<()> {
    /// let workers = ctx.remotes::<Worker>().wait_for(3, std::time::Duration::from_secs(30)).await?;
    /// #         let _ = workers;
    /// #         Ok(())
    /// #     }
    /// # }
    /// ```
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping the future only stops the waiting.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Result<Vec<Remote<Q>>, RemoteError> {
        let changed = &self.here.core.topology[usize::from(Q::INDEX)].changed;
        let wait = async {
            loop {
                // Register for the next change before looking, so none slips in between.
                let next_change = changed.notified();
                tokio::pin!(next_change);
                next_change.as_mut().enable();
                let connected = self.connected();
                if connected.len() >= n {
                    return connected;
                }
                next_change.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.map_err(|_| RemoteError::TooFew {
            peer: Q::NAME,
            wanted: n,
            connected: self.connected().len(),
            waited_ms: timeout.as_millis(),
        })
    }

    /// Fires each time a remote of `Q` has connected and passed the handshake.
    pub fn joined(&self) -> Event<Remote<Q>> {
        let tie = self.tie;
        self.here.core.topology[usize::from(Q::INDEX)]
            .joined
            .filter(move |info| tie.is_none_or(|tie| tie == info.tie))
            .map(|info| Remote::new(Arc::clone(info)))
    }

    /// The connected remotes as a signal, updated as they join and leave.
    pub fn connected_signal(&self) -> Signal<Vec<Remote<Q>>> {
        let connected: Var<Vec<Remote<Q>>> = Var::new(Vec::new());
        let topology = &self.here.core.topology[usize::from(Q::INDEX)];
        let target = connected.clone();
        // Observe first, then fill in: a remote joining in between is added once, not twice.
        let tie = self.tie;
        let _ = topology.joined.observe(move |info| {
            if tie.is_some_and(|tie| tie != info.tie) {
                return;
            }
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
        let tie = self.tie;
        self.here.core.topology[usize::from(Q::INDEX)]
            .left
            .filter(move |info| tie.is_none_or(|tie| tie == info.tie))
            .map(|info| Remote::new(Arc::clone(info)))
    }
}
