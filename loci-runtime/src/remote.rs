//! `Remote<P>`: a typed reference to one connected remote instance.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::Arc;

/// What the runtime knows about one connected remote, independent of its peer type.
#[derive(Debug)]
pub(crate) struct RemoteInfo {
    /// Unique among this instance's connections, never reused.
    pub id: u64,
    pub peer: u16,
    pub peer_name: &'static str,
    pub name: String,
    pub addr: SocketAddr,
}

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

    /// The name the remote instance gave itself (`--name`).
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// The remote's network address.
    pub fn addr(&self) -> SocketAddr {
        self.info.addr
    }

    /// An id unique among this instance's connections; a reconnecting instance gets a new one.
    pub fn id(&self) -> u64 {
        self.info.id
    }
}

impl<P> Clone for Remote<P> {
    fn clone(&self) -> Self {
        Remote::new(Arc::clone(&self.info))
    }
}

impl<P> PartialEq for Remote<P> {
    fn eq(&self, other: &Self) -> bool {
        self.info.id == other.info.id
    }
}

impl<P> Eq for Remote<P> {}

impl<P> Hash for Remote<P> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.info.id.hash(state);
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
