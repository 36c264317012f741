//! The receive side of one connection: frames read off the QUIC stream, each within a deadline,
//! and large ones only while the process has memory budgeted for them.
//!
//! A remote controls how long a frame takes to arrive and how large it says it is (up to the
//! frame limit). Without limits, remotes that each send all but the last byte of a large frame
//! make this process hold every one of those partial frames for as long as they like. So a
//! frame over [`LARGE_FRAME`] must arrive within a deadline that grows with its size, and is
//! read only once the process-wide [`PARTIAL_BUDGET`] has room for it: until then that remote's
//! stream is not read, and QUIC flow control holds it back. What flow control lets a remote
//! send ahead is the connection's window: small ([`BASE_WINDOW`]) unless its remote sends fast,
//! and grown then within the process-wide [`WINDOW_BUDGET`]. See `docs/reference/limits.md`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::sync::{Semaphore, SemaphorePermit};

/// Frames larger than this are read only within the process-wide budget.
pub(crate) const LARGE_FRAME: usize = 64 << 10;

/// Bytes of large frames being received at once, over all connections of the process, unless
/// configured (`--partial-frame-budget-bytes`).
pub const DEFAULT_PARTIAL_BUDGET: usize = 32 << 20;
/// The budget, in KiB: permits are KiB so that a 16 MiB frame's fit in a `u32`.
static PARTIAL_BUDGET: Semaphore = Semaphore::const_new(DEFAULT_PARTIAL_BUDGET >> 10);
/// The budget's size in KiB, for changing it.
static PARTIAL_BUDGET_KIB: AtomicUsize = AtomicUsize::new(DEFAULT_PARTIAL_BUDGET >> 10);

/// Sets the process-wide budget for partly received large frames to `bytes` (at least 1 KiB).
/// Instances of one process share it. Growing it takes effect at once; shrinking it, as far as
/// it is not in use, and for the rest as frames being received give theirs back.
pub(crate) fn set_partial_budget(bytes: usize) {
    resize(&PARTIAL_BUDGET, &PARTIAL_BUDGET_KIB, bytes);
}

/// The flow-control window every connection starts with: what a remote can make QUIC hold
/// for it while its reader does not read, unless the window grew.
pub const BASE_WINDOW: u32 = 16 << 10;

/// What connections' windows may grow by, over all connections of the process, unless
/// configured (`--receive-window-budget-bytes`): a connection whose remote sends as fast as
/// the window allows doubles its window while there is budget, up to the per-connection
/// limit, so fast streams are not held back by the base window. Budget a window took stays
/// with it until the connection ends: a remote could still use the credit it was granted.
pub const DEFAULT_WINDOW_BUDGET: usize = 32 << 20;
/// The window budget, in KiB.
static WINDOW_BUDGET: Semaphore = Semaphore::const_new(DEFAULT_WINDOW_BUDGET >> 10);
/// Its size in KiB, for changing it.
static WINDOW_BUDGET_KIB: AtomicUsize = AtomicUsize::new(DEFAULT_WINDOW_BUDGET >> 10);

/// Resizes the process-wide semaphore `budget` of `size` KiB to `bytes`. Budget in use is not
/// taken back from those who hold it: the rest of a shrink happens as it is given back.
fn resize(budget: &'static Semaphore, size: &AtomicUsize, bytes: usize) {
    let kib = (bytes >> 10).max(1);
    let old = size.swap(kib, Ordering::AcqRel);
    if kib > old {
        budget.add_permits(kib - old);
        return;
    }
    // Budget in use cannot be taken back now: what is short is taken as it comes back.
    let short = (old - kib) - budget.forget_permits(old - kib);
    if let (Ok(runtime), Ok(short)) = (tokio::runtime::Handle::try_current(), u32::try_from(short)) {
        if short > 0 {
            runtime.spawn(async move {
                if let Ok(permits) = budget.acquire_many(short).await {
                    permits.forget();
                }
            });
        }
    }
}

/// Sets the process-wide budget for growing receive windows to `bytes`.
pub(crate) fn set_window_budget(bytes: usize) {
    resize(&WINDOW_BUDGET, &WINDOW_BUDGET_KIB, bytes);
}

/// How long a frame may take to arrive once its length is read, unless configured
/// (`--frame-deadline-ms`): this, plus a second per MiB of the frame.
pub const DEFAULT_FRAME_DEADLINE: Duration = Duration::from_secs(5);

/// How long a large frame of `len` bytes may take to arrive once its length is read: `base`,
/// plus a second per MiB.
pub(crate) fn frame_deadline(base: Duration, len: usize) -> Duration {
    base + Duration::from_millis((len as u64 * 1000) >> 20)
}

/// Why no frame could be read.
#[derive(Debug)]
pub(crate) enum FrameError {
    /// The frame says it is larger than the limit.
    Oversized { len: usize, limit: usize },
    /// The frame did not arrive within its deadline.
    TooSlow { len: usize, deadline: Duration },
    /// The stream failed, or ended inside a frame.
    Stream(String),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Oversized { len, limit } => write!(f, "oversized frame of {len} bytes (limit {limit} bytes)"),
            FrameError::TooSlow { len, deadline } => {
                write!(f, "a frame of {len} bytes did not arrive within {} s", deadline.as_secs())
            }
            FrameError::Stream(reason) => f.write_str(reason),
        }
    }
}

/// What is read off the stream at most at once.
const READ_CHUNK: usize = 64 << 10;

/// Reads length-prefixed frames (a big-endian `u32`, then that many bytes) from one stream,
/// reading whatever is there into one buffer, so that many small frames cost one read.
pub(crate) struct FrameReader {
    recv: quinn::RecvStream,
    /// The connection, whose receive window the reader grows.
    quic: quinn::Connection,
    /// The connection's receive window now, and the most it may grow to.
    window: u32,
    max_window: u32,
    /// The window budget this connection's window took beyond [`BASE_WINDOW`].
    window_budget: Option<SemaphorePermit<'static>>,
    max_frame: usize,
    /// How long a large frame may take, besides a second per MiB.
    deadline_base: Duration,
    buf: BytesMut,
    /// When the frame at the front of the buffer began to arrive, while it is incomplete.
    started: Option<Instant>,
    /// The budget held for the large frame at the front of the buffer.
    budget: Option<SemaphorePermit<'static>>,
}

impl FrameReader {
    /// Frames larger than `max_frame` close the connection from now on, and large frames that
    /// take longer than `deadline_base` plus a second per MiB.
    pub fn set_limits(&mut self, max_frame: usize, deadline_base: Duration) {
        self.max_frame = max_frame;
        self.deadline_base = deadline_base;
    }

    /// A reader of `recv`, a stream of `quic`, whose window may grow to `max_window` bytes.
    pub fn new(recv: quinn::RecvStream, quic: quinn::Connection, max_frame: usize, max_window: u32) -> Self {
        FrameReader {
            recv,
            quic,
            window: BASE_WINDOW,
            max_window: max_window.max(BASE_WINDOW),
            window_budget: None,
            max_frame,
            deadline_base: DEFAULT_FRAME_DEADLINE,
            buf: BytesMut::new(),
            started: None,
            budget: None,
        }
    }

    /// Doubles the connection's window after a read of `read` bytes that took half of what a
    /// read could take (`chunk`): the remote sends as fast as the window lets it. Only while
    /// the window budget has room; without it the window stays as it is.
    fn grow_window(&mut self, read: usize, chunk: usize) {
        if read * 2 < chunk || self.window >= self.max_window {
            return;
        }
        let grown = self.window.saturating_mul(2).min(self.max_window);
        let Ok(more) = WINDOW_BUDGET.try_acquire_many((grown - self.window).div_ceil(1024)) else { return };
        match &mut self.window_budget {
            Some(held) => held.merge(more),
            None => self.window_budget = Some(more),
        }
        self.window = grown;
        self.quic.set_receive_window(quinn::VarInt::from_u32(grown));
    }

    /// The next frame; `None` when the stream ended cleanly between frames.
    pub async fn next(&mut self) -> Option<Result<Bytes, FrameError>> {
        loop {
            let mut len = 0;
            if let Some(prefix) = self.buf.first_chunk::<4>() {
                len = u32::from_be_bytes(*prefix) as usize;
                if len > self.max_frame {
                    return Some(Err(FrameError::Oversized { len, limit: self.max_frame }));
                }
                if self.buf.len() >= 4 + len {
                    self.buf.advance(4);
                    let frame = self.buf.split_to(len).freeze();
                    self.started = None;
                    self.budget = None;
                    if len > LARGE_FRAME {
                        // The frame's allocation goes with the frame: what follows it moves to a
                        // buffer of the usual size, so no connection keeps megabytes it had once.
                        let rest = std::mem::take(&mut self.buf);
                        self.buf = BytesMut::with_capacity(READ_CHUNK.max(rest.len()));
                        self.buf.extend_from_slice(&rest);
                    }
                    return Some(Ok(frame));
                }
                // A large frame waits for budget before more of it is held here.
                if len > LARGE_FRAME && self.budget.is_none() {
                    let budget = PARTIAL_BUDGET_KIB.load(Ordering::Acquire);
                    let kib = u32::try_from(len.div_ceil(1024).min(budget)).unwrap_or(u32::MAX);
                    match PARTIAL_BUDGET.acquire_many(kib).await {
                        Ok(permit) => self.budget = Some(permit),
                        Err(_) => return Some(Err(FrameError::Stream("the frame budget is closed".to_owned()))),
                    }
                    self.buf.reserve(4 + len - self.buf.len());
                }
            }
            // Between frames the stream may stay quiet as long as it likes; inside a large one,
            // the frame's deadline runs from when its first bytes came.
            // Room was made for a large frame when its budget came; otherwise the buffer holds
            // one chunk more at most, so nothing past the frame limit or the budget is read.
            let chunk = READ_CHUNK.min(self.window as usize);
            let between_frames = self.buf.is_empty();
            if between_frames && self.budget.is_none() {
                // Between frames nothing is held until data comes: a connection that is quiet
                // holds no buffer of its own.
                self.buf = BytesMut::new();
                match self.recv.read_chunk(chunk, true).await {
                    Ok(Some(data)) => {
                        self.buf.extend_from_slice(&data.bytes);
                        self.grow_window(data.bytes.len(), chunk);
                        continue;
                    }
                    Ok(None) => return None,
                    Err(error) => return Some(Err(FrameError::Stream(error.to_string()))),
                }
            }
            if self.budget.is_none() && self.buf.capacity() - self.buf.len() < chunk / 8 {
                self.buf.reserve(chunk);
            }
            let room = if self.budget.is_some() { usize::MAX } else { chunk };
            // Reads whatever the stream has, straight into the buffer.
            let mut into = (&mut self.buf).limit(room);
            let read = tokio::io::AsyncReadExt::read_buf(&mut self.recv, &mut into);
            // Only a large frame has a deadline: a small one holds little, and a timer per read
            // would cost every small frame that a read ends inside.
            let read = if len <= LARGE_FRAME {
                read.await
            } else {
                let started = *self.started.get_or_insert_with(Instant::now);
                let deadline = frame_deadline(self.deadline_base, len);
                match tokio::time::timeout(deadline.saturating_sub(started.elapsed()), read).await {
                    Ok(read) => read,
                    Err(_) => {
                        self.budget = None;
                        return Some(Err(FrameError::TooSlow { len, deadline }));
                    }
                }
            };
            match read {
                Ok(0) if between_frames => return None,
                Ok(0) => {
                    self.budget = None;
                    return Some(Err(FrameError::Stream("the stream ended inside a frame".to_owned())));
                }
                Ok(read) => self.grow_window(read, chunk),
                Err(error) => {
                    self.budget = None;
                    return Some(Err(FrameError::Stream(error.to_string())));
                }
            }
        }
    }
}
