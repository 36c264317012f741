//! A started instance: its connections to `connect` targets kept up, its `main` run, its end.

use std::net::SocketAddr;
use std::time::Duration;

use crate::connection::{self, DialError, CLOSE_ENDED, CLOSE_FAILED};
use crate::core::Stop;
use crate::error::{Error, Result};
use crate::here::Here;
use crate::placement::Peer;
use crate::spec::Multiplicity;

/// A started instance of peer `P`.
pub struct Running<P> {
    pub(crate) here: Here<P>,
    pub(crate) endpoint: quinn::Endpoint,
    pub(crate) accept_task: Option<tokio::task::JoinHandle<()>>,
    pub(crate) local_addr: SocketAddr,
    /// One task per `connect` target, dialling it again when it is lost.
    pub(crate) supervisors: Vec<tokio::task::JoinHandle<()>>,
}

/// Resolves `target` (`host:port`) now, to the addresses of the endpoint's family: host names
/// are looked up again on every attempt.
pub(crate) async fn resolve(target: &str, local: SocketAddr) -> std::result::Result<Vec<SocketAddr>, String> {
    let addrs = tokio::net::lookup_host(target).await.map_err(|error| format!("cannot resolve `{target}`: {error}"))?;
    // An IPv4 endpoint reaches IPv4 addresses only; an IPv6 one reaches both (IPv6 first).
    let mut usable: Vec<SocketAddr> = addrs.filter(|addr| local.is_ipv6() || addr.is_ipv4()).collect();
    usable.sort_by_key(|addr| addr.is_ipv4());
    if usable.is_empty() {
        let family = if local.is_ipv4() { "IPv4" } else { "IPv6" };
        return Err(format!("`{target}` resolves to no {family} address (this endpoint is {local})"));
    }
    Ok(usable)
}

/// Dials `target` on local tie `tie` once, trying each address it resolves to; the instance
/// it is connected to afterwards, or why not.
async fn dial_target<P: Peer>(here: &Here<P>, tie: u16, target: &str) -> std::result::Result<u64, DialError> {
    let local =
        here.core.endpoint.get().and_then(|endpoint| endpoint.local_addr().ok()).unwrap_or(([0, 0, 0, 0], 0).into());
    let addrs = resolve(target, local).await.map_err(|reason| DialError::Failed { reason, retry: true })?;
    let mut last = DialError::Failed { reason: format!("`{target}` resolves to no address"), retry: true };
    for addr in addrs {
        match connection::dial(here, tie, addr).await {
            Ok(info) => return Ok(info.instance),
            // Connected by a connection that stays; if it is gone here already, try again later.
            Err(DialError::AlreadyConnected(instance)) if here.core.connection_to_instance(instance).is_some() => {
                return Ok(instance)
            }
            Err(DialError::AlreadyConnected(_)) => {
                last =
                    DialError::Failed { reason: "connected by another connection, which ended".to_owned(), retry: true }
            }
            Err(refused @ (DialError::Refused(_) | DialError::Full(_))) => return Err(refused),
            Err(failed) => last = failed,
        }
    }
    Err(last)
}

/// Keeps a `connect` target connected: when the connection to it ends, dials it again with
/// capped exponential backoff, resolving its host name on every attempt.
pub(crate) async fn supervise<P: Peer>(here: Here<P>, tie: u16, target: String, mut instance: u64) {
    let core = &here.core;
    let policy = core.reconnect;
    let peer = core.spec.tie(core.local, tie).map_or(0, |tie| tie.peer);
    let peer_name = core.spec.peer_name(peer);
    let mut jitter = crate::reconnect::Jitter::new(core.instance, tie);
    loop {
        // Wait until this target's connection is gone.
        let changed = &core.topology[usize::from(peer)].changed;
        loop {
            let next_change = changed.notified();
            tokio::pin!(next_change);
            next_change.as_mut().enable();
            if core.connection_to_instance(instance).is_none() {
                break;
            }
            next_change.await;
        }
        tracing::info!(%target, "lost the {peer_name} at {target}; dialling it again");
        let mut attempt = 0;
        let mut told_full = false;
        instance = loop {
            tokio::time::sleep(policy.delay(attempt, jitter.next())).await;
            attempt = attempt.saturating_add(1);
            match dial_target(&here, tie, &target).await {
                Ok(instance) => break instance,
                Err(DialError::Refused(reason)) => {
                    tracing::warn!(%target, "the {peer_name} at {target} refused: {reason}")
                }
                // Most often the remote still holds this instance's lost connection until it
                // times out there: said once.
                Err(DialError::Full(reason)) => {
                    if !std::mem::replace(&mut told_full, true) {
                        tracing::info!(%target, "the {peer_name} at {target} refused for now ({reason}); trying again");
                    }
                }
                Err(DialError::Failed { reason, .. }) => {
                    tracing::debug!(%target, attempt, "the {peer_name} at {target} is not back yet: {reason}")
                }
                Err(DialError::AlreadyConnected(known)) => break known,
            }
        };
    }
}

impl<P: Peer> std::fmt::Debug for Running<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").field("peer", &P::NAME).field("local_addr", &self.local_addr).finish()
    }
}

impl<P: Peer> Running<P> {
    /// The context of this instance, to access placed values and remotes from outside `main`.
    pub fn here(&self) -> &Here<P> {
        &self.here
    }

    /// The address the endpoint is bound to (useful after `listen` on port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Dials `target` until it answers or `deadline` passes; the instance connected.
    pub(crate) async fn dial_until(&self, tie: u16, target: &str, deadline: tokio::time::Instant) -> Result<u64> {
        let spec = self.here.core.spec;
        let peer_name = spec.peer_name(spec.tie(P::INDEX, tie).map_or(0, |tie| tie.peer));
        let mut attempt = 0;
        let mut jitter = crate::reconnect::Jitter::new(self.here.core.instance, tie);
        let mut told_full = false;
        loop {
            let (reason, retry) = match dial_target(&self.here, tie, target).await {
                Ok(instance) | Err(DialError::AlreadyConnected(instance)) => return Ok(instance),
                Err(DialError::Refused(reason)) => (reason, false),
                // The tie is full at the remote, most often because the remote still holds the
                // connection of a process that crashed (this one's predecessor, say) until it
                // times out: there is room within the idle timeout.
                Err(DialError::Full(reason)) => {
                    if !std::mem::replace(&mut told_full, true) {
                        tracing::info!(%target, "the {peer_name} at {target} refused for now ({reason}); trying again until the connect timeout");
                    }
                    (reason, true)
                }
                Err(DialError::Failed { reason, retry }) => {
                    tracing::debug!(%target, "{peer_name} not reachable yet ({reason})");
                    (reason, retry)
                }
            };
            if !retry || tokio::time::Instant::now() >= deadline {
                return Err(Error::Connect { peer: peer_name.to_owned(), target: target.to_owned(), reason });
            }
            // At start the remote is usually on its way up: back off no further than the second
            // step (200 ms by default), jittered, at most 250 ms, and not past the deadline.
            let delay = self.here.core.reconnect.delay(attempt.min(1), jitter.next()).min(Duration::from_millis(250));
            tokio::time::sleep(delay.min(deadline.saturating_duration_since(tokio::time::Instant::now()))).await;
            attempt += 1;
        }
    }

    pub(crate) async fn await_single_ties(&self, deadline: tokio::time::Instant, waited: Duration) -> Result<()> {
        let spec = self.here.core.spec;
        let ties = spec.peers[usize::from(P::INDEX)].ties.iter().enumerate();
        for (index, tie) in ties.filter(|(_, tie)| tie.multiplicity == Multiplicity::Single) {
            while self.here.core.connections_on(tie.peer, Some(index as u16)).is_empty() {
                match self.here.core.take_stop() {
                    Some(Stop::Failed(error)) => return Err(error),
                    Some(Stop::Ended(reason)) => return Err(Error::Config(format!("{reason} while starting"))),
                    None => {}
                }
                if tokio::time::Instant::now() >= deadline {
                    let peer = spec.peer_name(tie.peer);
                    return Err(Error::MissingSingle {
                        local: P::NAME,
                        peer,
                        peer_flag: spec.tie_name(P::INDEX, index as u16),
                        waited_ms: waited.as_millis(),
                    });
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Ok(())
    }

    /// Waits until the instance cannot go on by itself: `Ok(())` when a `Single` remote shut
    /// down cleanly, the error when one was lost.
    pub async fn ended(&self) -> Result<()> {
        loop {
            match self.here.core.take_stop() {
                Some(Stop::Ended(reason)) => {
                    tracing::info!("{reason}; stopping");
                    return Ok(());
                }
                Some(Stop::Failed(error)) => return Err(error),
                None => self.here.core.stop_notify.notified().await,
            }
        }
    }

    /// Runs `main` (or waits if the peer has none), then shuts down. Ctrl-C or SIGTERM ends
    /// it cleanly either way. Also ends when a `Single` remote goes away: without error if it
    /// shut down cleanly, with [`Error::LostSingle`] if it was lost.
    pub async fn run(self) -> Result<()> {
        let outcome = match P::__main(self.here.clone()) {
            Some(main) => tokio::select! {
                outcome = main => outcome,
                ended = self.ended() => ended,
                () = termination() => Ok(()),
            },
            None => tokio::select! {
                ended = self.ended() => ended,
                () = termination() => Ok(()),
            },
        };
        self.close(outcome.is_ok()).await;
        outcome
    }

    /// Closes every connection and the endpoint. Remotes see a deliberate shutdown: those tied
    /// to this instance as `Single` end without error.
    pub async fn shutdown(self) {
        self.close(true).await;
    }

    /// Closes every connection and the endpoint; `clean` tells remotes whether this was a
    /// deliberate shutdown or the end after a failure.
    async fn close(self, clean: bool) {
        if let Some(task) = &self.accept_task {
            task.abort();
        }
        for supervisor in &self.supervisors {
            supervisor.abort();
        }
        // Tasks waiting for remotes (a lost Single tie) end with the instance.
        self.here.core.closed.store(true, std::sync::atomic::Ordering::Release);
        for topology in self.here.core.topology.iter() {
            topology.changed.notify_waiters();
        }
        for connection in self.here.core.all_connections() {
            self.here.core.unregister(&connection, "shut down locally", true);
        }
        let (code, reason): (u32, &[u8]) = if clean { (CLOSE_ENDED, b"shut down") } else { (CLOSE_FAILED, b"failed") };
        self.endpoint.close(code.into(), reason);
        let _ = tokio::time::timeout(Duration::from_secs(1), self.endpoint.wait_idle()).await;
    }
}

async fn termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = sigterm.recv() => {}
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
