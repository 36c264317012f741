//! `Remote<P>`: a typed reference to one connected remote instance.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::placement::Peer;

/// What the runtime knows about one remote instance, independent of its peer type.
#[derive(Debug)]
pub(crate) struct RemoteInfo {
    /// The connection: unique among this instance's connections, never reused; 0 for a remote
    /// that arrived inside a value and has not been resolved to a connection.
    pub id: u64,
    pub peer: u16,
    pub peer_name: &'static str,
    pub name: String,
    pub addr: SocketAddr,
    /// The remote instance's id, the same across the cluster.
    pub instance: u64,
    /// Where the remote accepts connections, if it listens.
    pub listen: Option<SocketAddr>,
    /// Whether this instance dialled the connection.
    pub dialled: bool,
    /// The local tie the connection is on (an index into the local peer's ties), with its
    /// name; [`NO_TIE`] for a remote received inside a value.
    pub tie: u16,
    pub tie_name: Option<&'static str>,
}

/// The tie of a remote that is not (yet) a connection.
pub(crate) const NO_TIE: u16 = u16::MAX;

impl fmt::Display for RemoteInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} \"{}\" ({})", self.peer_name, self.name, self.addr)
    }
}

/// One connected remote instance of peer `P`.
///
/// Obtained from aggregation (`from_all`, `from_all_seq`) and from topology events
/// (`ctx.remotes::<P>().joined()`); pass it to `.from(&remote)` to address that instance.
pub struct Remote<P> {
    pub(crate) info: Arc<RemoteInfo>,
    _peer: PhantomData<fn() -> P>,
}

impl<P> Remote<P> {
    pub(crate) fn new(info: Arc<RemoteInfo>) -> Self {
        Remote { info, _peer: PhantomData }
    }

    /// The remote instance's id: the same on every peer that knows it, and in a `Remote` sent
    /// to another peer. A restarted process is a new instance.
    pub fn instance(&self) -> u64 {
        self.info.instance
    }

    /// The address the remote accepts connections on, if it listens; a `Remote` received from
    /// another peer is connected to there.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.info.listen
    }

    /// The name the remote instance gave itself (`--name`).
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// The remote's network address.
    pub fn addr(&self) -> SocketAddr {
        self.info.addr
    }

    /// The name of the tie this remote is connected on, for a tie declared with a name
    /// (`next` in `ties(next: Node = Single)`); `None` for a tie without one, and for a
    /// remote received inside a value.
    pub fn tie(&self) -> Option<&'static str> {
        self.info.tie_name
    }

    /// An id unique among this instance's connections; a reconnecting instance gets a new one.
    /// 0 for a remote received inside a value, until resolved to a connection.
    pub fn id(&self) -> u64 {
        self.info.id
    }
}

/// What one connection has carried ([`Remotes::traffic`](crate::Remotes::traffic)): UDP
/// payload bytes each way, as QUIC counts them. The counts are the connection's: a remote that
/// reconnects starts again from zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Traffic {
    /// Bytes sent to the remote.
    pub sent_bytes: u64,
    /// Bytes received from it.
    pub received_bytes: u64,
}

impl Traffic {
    /// Bytes both ways.
    pub fn total(&self) -> u64 {
        self.sent_bytes + self.received_bytes
    }
}

/// What a `Remote` is when it travels: an instance identity that holds across the cluster,
/// and where that instance accepts connections.
#[derive(Serialize, Deserialize)]
struct RemoteRef {
    instance: u64,
    name: String,
    listen: Option<SocketAddr>,
}

impl<P> Serialize for Remote<P> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RemoteRef { instance: self.info.instance, name: self.info.name.clone(), listen: self.info.listen }
            .serialize(serializer)
    }
}

impl<'de, P: Peer> Deserialize<'de> for Remote<P> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let remote = RemoteRef::deserialize(deserializer)?;
        Ok(Remote::new(Arc::new(RemoteInfo {
            id: 0,
            peer: P::INDEX,
            peer_name: P::NAME,
            name: remote.name,
            addr: remote.listen.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
            instance: remote.instance,
            listen: remote.listen,
            dialled: false,
            tie: NO_TIE,
            tie_name: None,
        })))
    }
}

impl<P> Clone for Remote<P> {
    fn clone(&self) -> Self {
        Remote::new(Arc::clone(&self.info))
    }
}

/// Remotes are equal when they stand for the same instance: a `Remote` received inside a value,
/// or held from before a reconnection, equals the connected one.
impl<P> PartialEq for Remote<P> {
    fn eq(&self, other: &Self) -> bool {
        (self.info.peer, self.info.instance) == (other.info.peer, other.info.instance)
    }
}

impl<P> Eq for Remote<P> {}

impl<P> Hash for Remote<P> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self.info.peer, self.info.instance).hash(state);
    }
}

impl<P> fmt::Debug for Remote<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remote")
            .field("peer", &self.info.peer_name)
            .field("name", &self.info.name)
            .field("addr", &self.info.addr)
            .field("id", &self.info.id)
            .finish()
    }
}

impl<P> fmt::Display for Remote<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.info.fmt(f)
    }
}
