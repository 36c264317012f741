//! Drives one QUIC connection: the handshake, then a reader that dispatches frames and a
//! writer that batches queued frames into few large writes.

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;

use crate::core::{lock, unsubscribe, Connection, RouteCache};
use crate::credentials::CLUSTER_SERVER_NAME;
use crate::here::Here;
use crate::inbound::{FrameError, FrameReader};
use crate::outbound::{Outbound, Push, Queued, FAR_FACTOR, LOSSY_LIMIT, SEND_BUFFER_LIMIT};
use crate::placement::{EventSink, Peer};
use crate::reactive::backlog;
use crate::remote::RemoteInfo;
use crate::wire::dispatch::{Dispatcher, Inbound, Violation};
use crate::wire::handshake::{Admitted, Grant};
use crate::wire::{self, decode_frame, encode_frame, Failure, Header, Hello, Refusal, ReplyStatus};

/// QUIC application close codes. 0 is also what quinn sends for a connection that is simply
/// dropped, so a deliberate end of the instance has codes of its own.
pub(crate) const CLOSE_SHUTDOWN: u32 = 0;
pub(crate) const CLOSE_REFUSED: u32 = 1;
const CLOSE_PROTOCOL: u32 = 2;
/// The instance shut down on purpose (its `main` returned, or it was asked to stop).
pub(crate) const CLOSE_ENDED: u32 = 3;
/// The instance stopped because of a failure (its `main` failed, or it lost a `Single` remote).
pub(crate) const CLOSE_FAILED: u32 = 4;
/// The two instances are connected by another connection, which stays (see
/// `wire::handshake::keeps_mutual_dial`).
const CLOSE_DUPLICATE: u32 = 5;
/// Placed code asked to disconnect this remote; the reason says why.
pub(crate) const CLOSE_DISCONNECT: u32 = 6;
/// The remote did not read what it subscribed to: its buffer stayed past its limit for
/// [`SLOW_READER`], or reached the hard limit.
const CLOSE_TOO_SLOW: u32 = 7;
/// Refused because the tie is full (a `Single` or `Optional` tie has its remote, a `Multiple`
/// one its limit): unlike other refusals this may change, e.g. when a remote that crashed
/// without closing its connection times out, so a dialler tries again.
const CLOSE_FULL: u32 = 8;

/// How long a sender that feels backpressure waits for one subscriber to make room before
/// that subscriber counts as too slow and is disconnected: long enough for any stall that
/// failure detection tolerates, short enough that one stuck reader does not hold up the others
/// for long.
const SLOW_READER: Duration = Duration::from_secs(10);

/// How long a reader whose stream ended waits for the close that says why.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Frames a reader handles before it lets other tasks run.
const FRAMES_PER_TURN: u32 = 64;

/// Why a connection attempt did not produce a connection.
#[derive(Debug)]
pub(crate) enum DialError {
    /// The remote (or this side) refused it by rule; retrying will not help.
    Refused(String),
    /// The remote refused it because the tie is full there; it may have room later.
    Full(String),
    /// The network or TLS failed; `retry` says whether trying again may help.
    Failed { reason: String, retry: bool },
    /// The two instances are already connected by another connection, which stays; the
    /// remote instance's id.
    AlreadyConnected(u64),
}

/// How a handshake that produced no hello ended.
enum HelloEnd {
    /// The remote refused the connection by rule.
    Refused,
    /// The remote refused the connection because the tie is full there.
    Full,
    /// The remote (this instance id) keeps another connection between the two instances.
    Duplicate(u64),
    /// Anything else: the network, a timeout, a malformed hello.
    Failed,
}

/// The largest hello accepted: a hello is small, and one connection still shaking hands must
/// not take a large share of the budget for large frames.
const HELLO_LIMIT: usize = 16 << 10;

/// A reader for a new connection's frames: the hello first, within [`HELLO_LIMIT`].
fn frame_reader(core: &crate::core::Core, quic: &quinn::Connection, recv: quinn::RecvStream) -> FrameReader {
    let max_window = core.max_window.load(Ordering::Relaxed);
    FrameReader::new(recv, quic.clone(), HELLO_LIMIT, u32::try_from(max_window).unwrap_or(u32::MAX))
}

fn describe_close(error: &quinn::ConnectionError) -> String {
    match error {
        quinn::ConnectionError::ApplicationClosed(close) => {
            let reason = String::from_utf8_lossy(&close.reason);
            match close.error_code.into_inner() {
                code if code == u64::from(CLOSE_REFUSED) || code == u64::from(CLOSE_FULL) => {
                    format!("refused: {reason}")
                }
                code if code == u64::from(CLOSE_PROTOCOL) => format!("protocol violation: {reason}"),
                code if code == u64::from(CLOSE_ENDED) => "shut down".to_owned(),
                code if code == u64::from(CLOSE_FAILED) => format!("stopped after a failure: {reason}"),
                code if code == u64::from(CLOSE_DUPLICATE) => format!("replaced: {reason}"),
                code if code == u64::from(CLOSE_DISCONNECT) => format!("disconnected by the remote: {reason}"),
                code if code == u64::from(CLOSE_TOO_SLOW) => format!("too slow: {reason}"),
                _ if reason.is_empty() => "closed by the remote".to_owned(),
                _ => format!("closed by the remote: {reason}"),
            }
        }
        quinn::ConnectionError::ConnectionClosed(close) if is_tls_code(close.error_code) => tls_failure(error),
        quinn::ConnectionError::TransportError(transport) if is_tls_code(transport.code) => tls_failure(error),
        quinn::ConnectionError::TimedOut => "timed out (no packets within the idle timeout)".to_owned(),
        quinn::ConnectionError::LocallyClosed => "closed locally".to_owned(),
        other => other.to_string(),
    }
}

/// QUIC carries TLS alerts as transport error codes 0x100..=0x1ff.
fn is_tls_code(code: quinn::TransportErrorCode) -> bool {
    (0x100..0x200).contains(&u64::from(code))
}

fn tls_failure(error: &quinn::ConnectionError) -> String {
    format!(
        "TLS handshake failed ({error}); check that both sides use credentials of the same cluster CA (--credentials)"
    )
}

/// Whether the remote closed the connection because it shut down on purpose.
fn is_shutdown(error: &quinn::ConnectionError) -> bool {
    matches!(error, quinn::ConnectionError::ApplicationClosed(close) if close.error_code.into_inner() == u64::from(CLOSE_ENDED))
}

fn hello_end(error: &quinn::ConnectionError) -> HelloEnd {
    match error {
        quinn::ConnectionError::ApplicationClosed(close)
            if close.error_code.into_inner() == u64::from(CLOSE_REFUSED) =>
        {
            HelloEnd::Refused
        }
        quinn::ConnectionError::ApplicationClosed(close) if close.error_code.into_inner() == u64::from(CLOSE_FULL) => {
            HelloEnd::Full
        }
        quinn::ConnectionError::ApplicationClosed(close)
            if close.error_code.into_inner() == u64::from(CLOSE_DUPLICATE) =>
        {
            // The refusal's text starts with the refusing instance's id.
            let instance = std::str::from_utf8(&close.reason)
                .ok()
                .and_then(|reason| reason.strip_prefix("instance "))
                .and_then(|rest| rest.split(' ').next())
                .and_then(|id| id.parse().ok());
            match instance {
                Some(instance) => HelloEnd::Duplicate(instance),
                None => HelloEnd::Failed,
            }
        }
        _ => HelloEnd::Failed,
    }
}

async fn write_hello(send: &mut quinn::SendStream, hello: Hello) -> Result<(), String> {
    let mut buf = BytesMut::new();
    encode_frame(&mut buf, &Header::Hello(hello), &[]).map_err(|e| e.to_string())?;
    send.write_all(&buf).await.map_err(|e| e.to_string())
}

/// Reads the remote's hello. Errors say why and how the handshake ended.
async fn read_hello(quic: &quinn::Connection, frames: &mut FrameReader) -> Result<Hello, (String, HelloEnd)> {
    let closed = |quic: &quinn::Connection, fallback: String| match quic.close_reason() {
        Some(error) => (describe_close(&error), hello_end(&error)),
        None => (fallback, HelloEnd::Failed),
    };
    let frame = match tokio::time::timeout(HANDSHAKE_TIMEOUT, frames.next()).await {
        Err(_) => return Err(("no handshake within 5 s".to_owned(), HelloEnd::Failed)),
        Ok(None) => return Err(closed(quic, "the remote closed the stream during the handshake".to_owned())),
        Ok(Some(Err(error))) => {
            // Give a close frame that raced the stream error a moment to arrive.
            tokio::time::sleep(Duration::from_millis(50)).await;
            return Err(closed(quic, error.to_string()));
        }
        Ok(Some(Ok(frame))) => frame,
    };
    match decode_frame(&frame) {
        Ok((Header::Hello(hello), _)) => Ok(hello),
        Ok((other, _)) => Err((format!("expected a hello, got {other:?}"), HelloEnd::Failed)),
        Err(error) => Err((format!("malformed hello: {error}"), HelloEnd::Failed)),
    }
}

fn refuse(quic: &quinn::Connection, local: &str, addr: SocketAddr, refusal: &Refusal) -> String {
    let reason = refusal.to_string();
    if let Refusal::AlreadyConnected { .. } = refusal {
        // Not a problem: the two instances stay connected by their other connection.
        tracing::debug!(%addr, "{local} keeps its other connection: {reason}");
        quic.close(CLOSE_DUPLICATE.into(), reason.as_bytes());
    } else if let Refusal::TieOccupied { .. } | Refusal::TooMany { .. } = refusal {
        tracing::warn!(%addr, "{local} refused a connection: {reason}");
        quic.close(CLOSE_FULL.into(), reason.as_bytes());
    } else {
        tracing::warn!(%addr, "{local} refused a connection: {reason}");
        quic.close(CLOSE_REFUSED.into(), reason.as_bytes());
    }
    reason
}

/// The certificate the remote presented, if any.
fn remote_certificate(quic: &quinn::Connection) -> Option<rustls::pki_types::CertificateDer<'static>> {
    let chain = quic.peer_identity()?.downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>().ok()?;
    chain.into_iter().next()
}

/// Whether the remote's certificate is on the instance's deny list now.
pub(crate) fn is_denied(core: &crate::core::Core, quic: &quinn::Connection) -> bool {
    let deny = Arc::clone(&lock(&core.deny));
    !deny.is_empty() && remote_certificate(quic).is_some_and(|leaf| deny.denies(&leaf))
}

/// What the remote's certificate grants, when this instance checks certificates.
fn remote_grant(core: &crate::core::Core, quic: &quinn::Connection) -> Result<Option<Grant>, String> {
    if !core.checks_certificates.load(Ordering::Relaxed) {
        return Ok(None);
    }
    let leaf = remote_certificate(quic).ok_or_else(|| "the remote presented no certificate".to_owned())?;
    if is_denied(core, quic) {
        return Err(DENIED.to_owned());
    }
    crate::credentials::grant_of(&leaf).map(Some)
}

/// Why a connection of a denied certificate is closed.
pub(crate) const DENIED: &str = "its certificate is on the deny list";

/// This instance's hello for a connection on its tie `tie`.
fn own_hello(core: &crate::core::Core, tie: u16) -> Hello {
    Hello::new(core.spec, core.local, core.instance, &core.name).listening(core.listen.get().copied()).on_tie(tie)
}

/// Connects to `addr` on the local tie `tie`, expecting the peer it ties to, and starts
/// driving the connection; returns the remote.
pub(crate) async fn dial<P: Peer>(here: &Here<P>, tie: u16, addr: SocketAddr) -> Result<Arc<RemoteInfo>, DialError> {
    let core = &here.core;
    let expected = core
        .spec
        .tie(core.local, tie)
        .map(|tie| tie.peer)
        .ok_or_else(|| DialError::Failed { reason: format!("no tie {tie}"), retry: false })?;
    let endpoint = core
        .endpoint
        .get()
        .ok_or_else(|| DialError::Failed { reason: "the instance has no endpoint yet".to_owned(), retry: true })?;
    let config = lock(&core.client_config).clone().ok_or_else(|| DialError::Failed {
        reason: "the instance has no TLS configuration yet".to_owned(),
        retry: true,
    })?;
    let connecting = endpoint
        .connect_with(config, addr, CLUSTER_SERVER_NAME)
        .map_err(|e| DialError::Failed { reason: e.to_string(), retry: false })?;
    let quic = connecting.await.map_err(|error| DialError::Failed {
        reason: describe_close(&error),
        retry: matches!(error, quinn::ConnectionError::TimedOut),
    })?;
    let (mut send, recv) =
        quic.open_bi().await.map_err(|e| DialError::Failed { reason: describe_close(&e), retry: true })?;
    let mut frames = frame_reader(core, &quic, recv);
    write_hello(&mut send, own_hello(core, tie)).await.map_err(|reason| DialError::Failed { reason, retry: true })?;
    let hello = read_hello(&quic, &mut frames).await.map_err(|(reason, end)| match end {
        HelloEnd::Refused => DialError::Refused(reason),
        HelloEnd::Full => DialError::Full(reason),
        HelloEnd::Duplicate(instance) => DialError::AlreadyConnected(instance),
        HelloEnd::Failed => {
            quic.close(CLOSE_PROTOCOL.into(), reason.as_bytes());
            DialError::Failed { reason, retry: false }
        }
    })?;
    let grant = remote_grant(core, &quic).map_err(|reason| {
        quic.close(CLOSE_REFUSED.into(), reason.as_bytes());
        DialError::Refused(reason)
    })?;
    let admitted = wire::handshake::admit(core.spec, core.local, &hello, Some(tie), grant.as_ref());
    if admitted.is_err() && hello.peer != core.spec.peer_name(expected) {
        let reason = format!(
            "expected a {} at {addr} but found a {}; check the `--connect` flag",
            core.spec.peer_name(expected),
            hello.peer
        );
        quic.close(CLOSE_REFUSED.into(), reason.as_bytes());
        return Err(DialError::Refused(reason));
    }
    let admitted = admitted.map_err(|refusal| DialError::Refused(refuse(&quic, core.local_name(), addr, &refusal)))?;
    let remote_instance = hello.instance;
    // This instance dialled the connection it has: keep that one.
    if core.connection_to_instance(remote_instance).is_some_and(|existing| existing.info.dialled) {
        let refusal = Refusal::AlreadyConnected { remote: addr.to_string(), instance: core.instance };
        quic.close(CLOSE_DUPLICATE.into(), refusal.to_string().as_bytes());
        return Err(DialError::AlreadyConnected(remote_instance));
    }
    let certified = grant.map(|grant| grant.instance);
    let dialled = Handshake { hello, admitted, certified, dialled: true };
    start::<P>(here, quic, dialled, frames, send, None).map_err(|(reason, refusal)| match refusal {
        Some(Refusal::AlreadyConnected { .. }) => DialError::AlreadyConnected(remote_instance),
        _ => DialError::Refused(reason),
    })
}

/// What a handshake settled about a connection.
struct Handshake {
    hello: Hello,
    admitted: Admitted,
    /// The instance the remote's certificate names, when certificates are checked.
    certified: Option<String>,
    /// Whether this instance dialled it.
    dialled: bool,
}

/// Completes the handshake of an incoming connection and starts driving it.
pub(crate) async fn accept<P: Peer>(here: Here<P>, incoming: quinn::Incoming) {
    let addr = incoming.remote_address();
    let local = here.core.local_name();
    let quic = match incoming.await {
        Ok(quic) => quic,
        Err(error) => {
            tracing::warn!(%addr, "{local} refused a connection: TLS handshake failed: {error}");
            return;
        }
    };
    let (send, recv) = match tokio::time::timeout(HANDSHAKE_TIMEOUT, quic.accept_bi()).await {
        Ok(Ok(streams)) => streams,
        Ok(Err(error)) => {
            tracing::debug!(%addr, "connection ended before its handshake: {}", describe_close(&error));
            return;
        }
        Err(_) => {
            quic.close(CLOSE_PROTOCOL.into(), b"no handshake within 5 s");
            return;
        }
    };
    let core = &here.core;
    let mut frames = frame_reader(core, &quic, recv);
    let hello = match read_hello(&quic, &mut frames).await {
        Ok(hello) => hello,
        Err((reason, _end)) => {
            tracing::warn!(%addr, "{local} dropped a connection during the handshake: {reason}");
            quic.close(CLOSE_PROTOCOL.into(), reason.as_bytes());
            return;
        }
    };
    let grant = match remote_grant(core, &quic) {
        Ok(grant) => grant,
        Err(reason) => {
            tracing::warn!(%addr, "{local} refused a connection: {reason}");
            quic.close(CLOSE_REFUSED.into(), reason.as_bytes());
            return;
        }
    };
    let admitted = match wire::handshake::admit(core.spec, core.local, &hello, None, grant.as_ref()) {
        Ok(admitted) => admitted,
        Err(refusal) => {
            refuse(&quic, local, addr, &refusal);
            return;
        }
    };
    // The answering hello goes out only once the connection is registered, so a refusal for
    // tie capacity reaches the dialler as a refusal, not as a connection that dies at once.
    let answer = own_hello(core, admitted.tie);
    let certified = grant.map(|grant| grant.instance);
    let accepted = Handshake { hello, admitted, certified, dialled: false };
    if let Err((reason, _)) = start::<P>(&here, quic, accepted, frames, send, Some(answer)) {
        tracing::debug!(%addr, "{reason}");
    }
}

/// Registers a connection that passed the handshake and starts its reader and writer.
/// Errors say why it was refused, with the refusal when the connection table refused it.
fn start<P: Peer>(
    here: &Here<P>,
    quic: quinn::Connection,
    handshake: Handshake,
    frames: FrameReader,
    send: quinn::SendStream,
    answer: Option<Hello>,
) -> Result<Arc<RemoteInfo>, (String, Option<Refusal>)> {
    let core = &here.core;
    let Handshake { hello, admitted, certified, dialled } = handshake;
    let Admitted { peer, tie, multiplicity } = admitted;
    let addr = quic.remote_address();
    // A remote listening on every interface is reached at the address it was seen from.
    let listen =
        hello.listen.map(
            |listen| {
                if listen.ip().is_unspecified() {
                    SocketAddr::new(addr.ip(), listen.port())
                } else {
                    listen
                }
            },
        );
    let info = Arc::new(RemoteInfo {
        id: core.next_connection_id(),
        peer,
        peer_name: core.spec.peer_name(peer),
        name: hello.name,
        addr,
        instance: hello.instance,
        listen,
        dialled,
        tie,
        tie_name: core.spec.tie(core.local, tie).and_then(|tie| tie.name),
    });
    let out = Arc::new(Outbound::new(SEND_BUFFER_LIMIT));
    if let Some(answer) = answer {
        // First in the buffer, so it is the first frame the dialler reads.
        out.try_push(&Header::Hello(answer), &[]);
    }
    let connection = Connection::new(info, hello.instance, multiplicity, quic.clone(), Arc::clone(&out), certified);
    match core.register(Arc::clone(&connection)) {
        Ok(replaced) => {
            for old in replaced {
                let refusal = Refusal::AlreadyConnected { remote: old.info.to_string(), instance: core.instance };
                old.quic.close(CLOSE_DUPLICATE.into(), refusal.to_string().as_bytes());
                core.retire(&old, &connection);
            }
        }
        Err(refusal) => return Err((refuse(&quic, core.local_name(), connection.info.addr, &refusal), Some(refusal))),
    }
    // The deny list may have grown while this connection was being admitted: the reload that
    // grew it closes only the connections registered by then.
    if is_denied(core, &quic) {
        quic.close(CLOSE_REFUSED.into(), DENIED.as_bytes());
        core.unregister(&connection, DENIED, false);
        return Err((DENIED.to_owned(), None));
    }
    core.announce(&connection);
    let info = Arc::clone(&connection.info);
    // The connection's tasks run on the instance's runtime, wherever it was dialled from.
    let writer = core.runtime.spawn(write_frames(send, out));
    tracing::info!(remote = %connection.info, "remote joined");
    let here = here.clone();
    let runtime = here.core.runtime.clone();
    runtime.spawn(async move {
        // A panic in user code run by the reader (an observer, a subjective value) must not
        // leave a connection that looks alive: it ends this connection like any other failure.
        let (reason, clean) = match AssertUnwindSafe(read_frames(&here, &connection, frames)).catch_unwind().await {
            Ok(ended) => ended,
            Err(panic) => {
                let reason = format!("a panic while handling its frames: {}", panic_message(panic.as_ref()));
                tracing::error!(remote = %connection.info, "closing the connection: {reason}");
                connection.quic.close(CLOSE_PROTOCOL.into(), b"internal error");
                (reason, false)
            }
        };
        here.core.unregister(&connection, &reason, clean);
        writer.abort();
    });
    Ok(info)
}

/// The most the writer hands to QUIC at once: a batch goes out in pieces, so that progress
/// (what a remote reading slowly still takes) is seen often, not once per megabytes.
const WRITE_PIECE: usize = 256 << 10;

async fn write_frames(mut send: quinn::SendStream, out: Arc<Outbound>) {
    while let Some(mut batch) = out.next_batch().await {
        while !batch.is_empty() {
            let piece = batch.split_to(batch.len().min(WRITE_PIECE));
            let len = piece.len();
            if send.write_chunk(piece).await.is_err() {
                out.close();
                return;
            }
            out.note_written(len);
        }
    }
    let _ = send.finish();
}

/// Reads and dispatches frames until the connection ends; returns why it ended, and whether
/// the remote shut down on purpose.
async fn read_frames<P: Peer>(here: &Here<P>, connection: &Arc<Connection>, mut frames: FrameReader) -> (String, bool) {
    // Past the handshake, frames up to the instance's limit.
    let deadline = Duration::from_millis(here.core.frame_deadline_ms.load(Ordering::Relaxed));
    frames.set_limits(here.core.max_frame, deadline);
    let quic = &connection.quic;
    let violation = |reason: String| {
        tracing::warn!(remote = %connection.info, "closing the connection: protocol violation: {reason}");
        quic.close(CLOSE_PROTOCOL.into(), reason.as_bytes());
        (format!("protocol violation: {reason}"), false)
    };
    let requester = crate::placement::Requester(Arc::clone(&connection.info));
    let mut routes = RouteCache::default();
    let mut since_yield = 0u32;
    // This connection's own queue: its reader never waits for it (see `Backlog::without`).
    let own_queue = Arc::as_ptr(&connection.out) as usize;
    let mut dispatcher = Dispatcher::new();
    loop {
        // A remote that floods finds frames always ready: let the other connections' readers
        // (and the QUIC driver) run between batches, so one remote cannot starve the others.
        since_yield += 1;
        if since_yield == FRAMES_PER_TURN {
            since_yield = 0;
            tokio::task::yield_now().await;
        }
        let frame = match frames.next().await {
            Some(Ok(frame)) => frame,
            Some(Err(error @ (FrameError::Oversized { .. } | FrameError::TooSlow { .. }))) => {
                return violation(error.to_string());
            }
            Some(Err(_)) | None => {
                // The stream ends before the close that says why arrives: wait for it, so that
                // only a deliberate shutdown counts as one.
                let closed = match quic.close_reason() {
                    Some(error) => Some(error),
                    None => tokio::time::timeout(CLOSE_GRACE, quic.closed()).await.ok(),
                };
                let ended = match closed {
                    Some(error) => (describe_close(&error), is_shutdown(&error)),
                    None => ("the remote finished its stream without closing".to_owned(), false),
                };
                quic.close(CLOSE_SHUTDOWN.into(), b"stream ended");
                return ended;
            }
        };
        let inbound = match dispatcher.dispatch(&frame) {
            Ok(inbound) => inbound,
            Err(Violation(reason)) => return violation(reason),
        };
        let owned = |payload: &[u8]| frame.slice(frame.len() - payload.len()..);
        match inbound {
            Inbound::Call { id, item, args } => {
                // A remote that sends calls faster than they finish waits here: QUIC flow
                // control then slows it down, instead of this side growing without bound.
                let Ok(permit) = Arc::clone(&connection.calls_in_flight).acquire_owned().await else {
                    return ("shut down".to_owned(), true);
                };
                serve_call(here, connection, id, item, owned(args), permit, &requester).await;
            }
            Inbound::Tell { item, args } => {
                let Ok(permit) = Arc::clone(&connection.calls_in_flight).acquire_owned().await else {
                    return ("shut down".to_owned(), true);
                };
                let waits = serve_tell(here, connection, item, owned(args), permit, &requester);
                if waits.is_behind() {
                    waits.without(own_queue).wait().await;
                }
            }
            Inbound::Reply { id, status, payload } => match connection.take_pending(id) {
                Some(waiter) => {
                    let _ = waiter.send(Ok((status, owned(payload))));
                }
                // The caller stopped waiting (a timeout, or it dropped the call): drop the answer.
                None if connection.was_issued(id) => {
                    tracing::debug!(remote = %connection.info, id, "dropped the late reply of a call nobody waits for")
                }
                None => return violation(format!("reply to call {id}, which was never made")),
            },
            Inbound::Subscribe { item } => {
                if let Err(reason) = serve_subscribe(here, connection, item) {
                    return violation(reason);
                }
            }
            Inbound::Unsubscribe { item } => unsubscribe(connection, item),
            Inbound::Occurrence { item, payload, missed } => {
                if missed > 0 {
                    here.core.missed.fire((Arc::clone(&connection.info), item, missed));
                }
                // Occurrences relayed from here on to slow subscribers make this reader wait,
                // which slows the remote down through QUIC flow control.
                let (delivered, waits) = backlog::collect(|| connection.deliver(&mut routes, item, payload));
                if let Err(error) = delivered {
                    return violation(format!("malformed occurrence of `{}`: {error}", here.core.spec.item_name(item)));
                }
                if waits.is_behind() {
                    waits.without(own_queue).wait().await;
                }
            }
        }
    }
}

fn encode_failure(failure: &Failure) -> Bytes {
    postcard::to_allocvec(failure).map(Bytes::from).unwrap_or_default()
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// The reply frame for the outcome of a call.
fn reply(outcome: Result<Vec<u8>, Failure>, max_frame: usize) -> (ReplyStatus, Bytes) {
    match outcome {
        Ok(result) if result.len() > max_frame.saturating_sub(32) => (
            ReplyStatus::Failed,
            encode_failure(&Failure::Unencodable(format!(
                "the result is {} bytes, over the frame limit of {max_frame} bytes",
                result.len()
            ))),
        ),
        Ok(result) => (ReplyStatus::Ok, Bytes::from(result)),
        Err(failure) => (ReplyStatus::Failed, encode_failure(&failure)),
    }
}

fn caught<T>(outcome: std::thread::Result<Result<T, Failure>>) -> Result<T, Failure> {
    outcome.unwrap_or_else(|panic| Err(Failure::Panicked(panic_message(panic.as_ref()))))
}

/// Serves one call. A function that finishes without waiting (every plain `fn`) is answered
/// right here, saving a task and a wake-up per call; one that waits continues in its own task.
async fn serve_call<P: Peer>(
    here: &Here<P>,
    connection: &Arc<Connection>,
    id: u64,
    item: u16,
    args: Bytes,
    permit: tokio::sync::OwnedSemaphorePermit,
    requester: &crate::placement::Requester,
) {
    let max_frame = here.core.max_frame;
    let mut pending = match P::__serve_call(here, item, args, requester) {
        Ok(future) => AssertUnwindSafe(future).catch_unwind(),
        Err(failure) => {
            let (status, payload) = reply(Err(failure), max_frame);
            // Waiting for room here slows down a remote that does not read its replies.
            connection.send(Header::Reply { id, status }, &payload).await;
            return;
        }
    };
    // Occurrences it fires for slow subscribers make the reader wait, after the reply.
    let own_queue = Arc::as_ptr(&connection.out) as usize;
    let (finished, waits) = backlog::collect(|| (&mut pending).now_or_never());
    if let Some(outcome) = finished {
        let (status, payload) = reply(caught(outcome), max_frame);
        connection.send(Header::Reply { id, status }, &payload).await;
        if waits.is_behind() {
            waits.without(own_queue).wait().await;
        }
        return;
    }
    // The call goes on in its own task while this reader waits.
    let answering = Arc::clone(connection);
    tokio::spawn(async move {
        let (status, payload) = reply(caught(pending.await), max_frame);
        answering.send(Header::Reply { id, status }, &payload).await;
        drop(permit);
    });
    if waits.is_behind() {
        waits.without(own_queue).wait().await;
    }
}

/// Serves a one-way call: like a call, but the outcome stays here. A failure is logged, since
/// the caller asked not to hear about it. Returns what the reader waits for before it reads on
/// (room for the occurrences the call fired).
fn serve_tell<P: Peer>(
    here: &Here<P>,
    connection: &Arc<Connection>,
    item: u16,
    args: Bytes,
    permit: tokio::sync::OwnedSemaphorePermit,
    requester: &crate::placement::Requester,
) -> backlog::Backlog {
    let item_name = here.core.spec.item_name(item);
    let failed = Arc::clone(&connection.failed_tells);
    // A remote decides how many of its one-way calls fail: log at powers of two, not each.
    let report = move |remote: &RemoteInfo, outcome: Result<Vec<u8>, Failure>| {
        if let Err(failure) = outcome {
            let count = failed.fetch_add(1, Ordering::Relaxed) + 1;
            if count.is_power_of_two() {
                tracing::warn!(%remote, item = item_name, ?failure, failed = count, "one-way calls from this remote failed");
            }
        }
    };
    let mut pending = match P::__serve_call(here, item, args, requester) {
        Ok(future) => AssertUnwindSafe(future).catch_unwind(),
        Err(failure) => {
            report(&connection.info, Err(failure));
            return backlog::Backlog::default();
        }
    };
    let (finished, waits) = backlog::collect(|| (&mut pending).now_or_never());
    if let Some(outcome) = finished {
        report(&connection.info, caught(outcome));
        return waits;
    }
    let remote = Arc::clone(&connection.info);
    tokio::spawn(async move {
        report(&remote, caught(pending.await));
        drop(permit);
    });
    waits
}

/// Sends a signal's values to one subscriber, conflating to the latest while its buffer is
/// full: a slow subscriber may skip values but always ends with the current one.
struct LatestValue {
    out: Arc<Outbound>,
    item: u16,
    pending: std::sync::Mutex<Option<Vec<u8>>>,
    flushing: AtomicBool,
    /// The connection's runtime: values may be set from threads that have none.
    runtime: tokio::runtime::Handle,
}

impl LatestValue {
    fn offer(self: &Arc<Self>, payload: &[u8]) {
        if !self.flushing.load(Ordering::Acquire)
            && self.out.try_push(&Header::Event { item: self.item }, payload) != Push::Full
        {
            return;
        }
        *lock(&self.pending) = Some(payload.to_vec());
        if !self.flushing.swap(true, Ordering::AcqRel) {
            let this = Arc::clone(self);
            self.runtime.spawn(async move { this.flush().await });
        }
    }

    async fn flush(&self) {
        loop {
            let Some(value) = lock(&self.pending).take() else {
                self.flushing.store(false, Ordering::Release);
                // A value offered between the take and the store must not be stranded.
                if lock(&self.pending).is_some() && !self.flushing.swap(true, Ordering::AcqRel) {
                    continue;
                }
                return;
            };
            if !self.out.push(&Header::Event { item: self.item }, &value).await {
                return;
            }
        }
    }
}

/// Waits until `out` holds at most `target` bytes; a subscriber that takes nothing at all for
/// [`SLOW_READER`] meanwhile (nothing more goes into QUIC for it) is disconnected as too slow,
/// so that one stuck reader cannot hold up its senders for good. One that reads, however
/// slowly, is waited for.
async fn wait_for_reader(out: Arc<Outbound>, target: usize, quic: quinn::Connection, remote: Arc<RemoteInfo>) {
    let mut written = out.written();
    while tokio::time::timeout(SLOW_READER, out.room_for(target)).await.is_err() {
        let now = out.written();
        if now == written {
            let reason = format!("it read nothing of what it subscribed to for {} s", SLOW_READER.as_secs());
            tracing::warn!(%remote, "disconnecting a subscriber that is too slow: {reason}");
            quic.close(CLOSE_TOO_SLOW.into(), reason.as_bytes());
            out.close();
            return;
        }
        written = now;
    }
}

/// Occurrences of lossy events dropped because a subscriber's send buffer was full.
static DROPPED_OCCURRENCES: AtomicU64 = AtomicU64::new(0);

/// How many occurrences of `#[lossy]` events this process has dropped for slow subscribers
/// (whose send buffer was full) since it started, over all its instances; one instance's count
/// is [`Here::dropped_occurrences`]. Other events are never dropped.
pub fn dropped_occurrences() -> u64 {
    DROPPED_OCCURRENCES.load(Ordering::Relaxed)
}

fn serve_subscribe<P: Peer>(here: &Here<P>, connection: &Arc<Connection>, item: u16) -> Result<(), String> {
    let signal = here.core.is_signal(item);
    // A repeated subscription to a signal asks for its current value again.
    if !signal && lock(&connection.served).contains_key(&item) {
        return Ok(());
    }
    // The sink holds the send buffer, not the connection: closing the connection closes the
    // buffer, and the observation is cancelled when the connection is unregistered.
    let (out, remote) = (Arc::clone(&connection.out), Arc::clone(&connection.info));
    let limit = here.core.max_frame.saturating_sub(32);
    // A value over the frame limit would make the reader close the whole connection: drop it here.
    let fits = move |payload: &[u8], remote: &crate::remote::RemoteInfo| {
        let fits = payload.len() <= limit;
        if !fits {
            tracing::warn!(%remote, size = payload.len(), limit, "dropped a value larger than the frame limit");
        }
        fits
    };
    let sink: EventSink = if signal {
        let latest = Arc::new(LatestValue {
            out,
            item,
            pending: std::sync::Mutex::new(None),
            flushing: AtomicBool::new(false),
            runtime: connection.runtime.clone(),
        });
        Arc::new(move |payload: &[u8]| {
            if fits(payload, &remote) {
                latest.offer(payload);
            }
        })
    } else if here.core.is_lossy(item) {
        // Numbered per subscription; what finds no room is dropped, and the gap shows. The
        // number is taken and the frame queued under one lock, so numbers go out in order even
        // when several threads fire at once.
        let next = std::sync::Mutex::new(0u64);
        let dropped_here = Arc::clone(&here.core.dropped_occurrences);
        Arc::new(move |payload: &[u8]| {
            if !fits(payload, &remote) {
                return;
            }
            let mut next = lock(&next);
            let seq = *next;
            *next += 1;
            let pushed = out.try_push_within(&Header::Sample { item, seq }, payload, LOSSY_LIMIT);
            drop(next);
            if pushed == Push::Full {
                DROPPED_OCCURRENCES.fetch_add(1, Ordering::Relaxed);
                let dropped = dropped_here.fetch_add(1, Ordering::Relaxed) + 1;
                if dropped.is_power_of_two() {
                    tracing::debug!(%remote, dropped, "send buffer full: dropped occurrences of a lossy event");
                }
            }
        })
    } else {
        // Every occurrence is queued; past the limit, whoever fired it and can wait is told to.
        let quic = connection.quic.clone();
        let key = Arc::as_ptr(&out) as usize;
        Arc::new(move |payload: &[u8]| {
            if !fits(payload, &remote) {
                return;
            }
            backlog::queued();
            match out.queue(&Header::Event { item }, payload) {
                Queued::Buffered { over_limit: false, .. } | Queued::Closed => {}
                Queued::Buffered { over_limit: true, far } => {
                    let (out, quic, remote) = (Arc::clone(&out), quic.clone(), Arc::clone(&remote));
                    // Far behind, waiting until it is back within its lead will do.
                    let target = if far { out.limit() * FAR_FACTOR } else { out.limit() };
                    backlog::report(key, far, move || Box::pin(wait_for_reader(out, target, quic, remote)));
                }
                Queued::Overflow => {
                    let reason = format!(
                        "{} MiB of occurrences waited to be sent to it (fired without waiting for room, `Event::fire`)",
                        out.buffered() >> 20
                    );
                    tracing::warn!(%remote, "disconnecting a subscriber that is too slow: {reason}");
                    quic.close(CLOSE_TOO_SLOW.into(), reason.as_bytes());
                    out.close();
                }
            }
        })
    };
    let requester = crate::placement::Requester(Arc::clone(&connection.info));
    let observation = P::__serve_subscribe(here, item, sink, &requester)
        .ok_or_else(|| format!("subscription to item {item}, which is no event placed on {}", P::NAME))?;
    if let Some(previous) = lock(&connection.served).insert(item, observation) {
        previous.cancel();
    }
    Ok(())
}
