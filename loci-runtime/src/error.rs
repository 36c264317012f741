//! Errors of an instance (start-up, transport, fatal topology loss) and of a single remote access.

use std::net::SocketAddr;

/// The result type of instance-level operations and of a peer's `main`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why an instance could not start or had to stop.
///
/// `Debug` shows the same text as `Display`, so that `fn main() -> loci::Result<()>` prints a
/// sentence, not a struct dump, when it fails.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The command line or the builder was given something unusable.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// The cluster credentials are missing or unreadable.
    #[error("credentials: {0}")]
    Credentials(String),

    /// The QUIC endpoint could not be created.
    #[error("could not open a QUIC endpoint on {addr}: {source}")]
    Bind {
        /// The address that was asked for.
        addr: SocketAddr,
        /// What the operating system said.
        source: std::io::Error,
    },

    /// An outgoing connection given with `--connect` failed.
    #[error("could not connect to {peer} at {target}: {reason}")]
    Connect {
        /// The peer kind that was expected at `target`.
        peer: String,
        /// The address (or `host:port`) that was dialled.
        target: String,
        /// Why it failed, including a refusal by the remote's handshake.
        reason: String,
    },

    /// A remote this instance is tied to with a `Single` tie went away.
    #[error("lost the {peer} this {local} is tied to as Single ({remote}: {reason}); a {local} cannot run without its {peer}")]
    LostSingle {
        /// The local peer kind.
        local: &'static str,
        /// The peer kind of the lost remote.
        peer: &'static str,
        /// The lost remote, for the log.
        remote: String,
        /// Why the connection ended.
        reason: String,
    },

    /// A `Single` tie had no remote when the instance had to start its placed code.
    #[error("{local} needs its {peer} (Single tie `{peer_flag}`) but none connected within {waited_ms} ms; start it with `--connect {peer_flag}=HOST:PORT` or let a {peer} connect to `--listen`")]
    MissingSingle {
        /// The local peer kind.
        local: &'static str,
        /// The peer kind that never connected.
        peer: &'static str,
        /// The tie's name, as the `--connect` flag spells it.
        peer_flag: String,
        /// How long the instance waited.
        waited_ms: u128,
    },

    /// A remote access inside `main` failed and was propagated with `?`.
    #[error(transparent)]
    Remote(#[from] RemoteError),

    /// An I/O error of the instance itself (not of a remote).
    #[error(transparent)]
    Io(#[from] std::io::Error),

    /// The peer's `main` returned an error of its own.
    #[error("{0}")]
    Main(String),
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Why one remote access (a call, a read, a subscription) failed.
///
/// A failed access never affects other accesses or other connections.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// The remote went away before it answered.
    #[error("{remote} disconnected before answering `{item}`")]
    Disconnected {
        /// The remote that was asked.
        remote: String,
        /// The placed item that was accessed.
        item: &'static str,
    },

    /// No remote of the needed peer kind is connected.
    #[error("no {peer} is connected to read `{item}` from")]
    NotConnected {
        /// The peer kind that is missing.
        peer: &'static str,
        /// The placed item that was accessed.
        item: &'static str,
    },

    /// The placed function panicked on the remote; the remote keeps running.
    #[error("`{item}` panicked on {remote}: {message}")]
    Panicked {
        /// The remote that served the call.
        remote: String,
        /// The placed item that was called.
        item: &'static str,
        /// The panic message.
        message: String,
    },

    /// The remote could not serve the request (it did not understand it).
    #[error("{remote} rejected `{item}`: {reason}")]
    Rejected {
        /// The remote that refused.
        remote: String,
        /// The placed item that was accessed.
        item: &'static str,
        /// What the remote said.
        reason: String,
    },

    /// The arguments do not fit into one frame (an oversized result comes back as `Rejected`).
    #[error("`{item}` needs a frame of {size} bytes, over the limit of {limit} bytes (raise it with `--max-frame-bytes` on both sides)")]
    TooLarge {
        /// The placed item that was accessed.
        item: &'static str,
        /// The encoded size.
        size: usize,
        /// The configured limit.
        limit: usize,
    },

    /// No answer came within the access's timeout. A late answer is dropped when it arrives.
    #[error("{remote} did not answer `{item}` within {after_ms} ms")]
    TimedOut {
        /// The remote that was asked.
        remote: String,
        /// The placed item that was accessed.
        item: &'static str,
        /// The timeout.
        after_ms: u128,
    },

    /// Fewer remotes than awaited connected in time (`Remotes::wait_for`).
    #[error("{connected} of the {wanted} {peer} remotes awaited connected within {waited_ms} ms")]
    TooFew {
        /// The peer kind waited for.
        peer: &'static str,
        /// How many were awaited.
        wanted: usize,
        /// How many were connected when the time was up.
        connected: usize,
        /// How long it waited.
        waited_ms: u128,
    },

    /// A connection could not be made (`Remotes::connect`, `Remotes::reach`).
    #[error("could not connect to the {peer} at {target}: {reason}")]
    Unreachable {
        /// The peer kind expected there.
        peer: &'static str,
        /// The address (or `host:port`) dialled.
        target: String,
        /// Why: the network, TLS, or a refusal by the remote's handshake.
        reason: String,
    },

    /// The value could not be encoded or decoded.
    #[error("could not {direction} a value of `{item}`: {detail}")]
    Codec {
        /// `encode` or `decode`.
        direction: &'static str,
        /// The placed item that was accessed.
        item: &'static str,
        /// What postcard said.
        detail: String,
    },
}
