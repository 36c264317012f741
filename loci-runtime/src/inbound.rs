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
use std::time::Duration;

// tokio's clock, as the timeout below uses: time paused in a simulation pauses both.
use tokio::time::Instant;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::sync::{Semaphore, SemaphorePermit};

/// Frames larger than this are read only within the process-wide budget.
pub(crate) const LARGE_FRAME: usize = 64 << 10;

/// Bytes of large frames being received at once, over all connections of the process, unless
/// configured (`--partial-frame-budget-bytes`).
pub const DEFAULT_PARTIAL_BUDGET: usize = 32 << 20;
static PARTIAL_BUDGET: Budget = Budget::new(DEFAULT_PARTIAL_BUDGET);

/// The flow-control window every connection starts with: what a remote can make QUIC hold
/// for it while its reader does not read, unless the window grew.
pub const BASE_WINDOW: u32 = 16 << 10;

/// What connections' windows may grow by, over all connections of the process, unless
/// configured (`--receive-window-budget-bytes`): a connection whose remote sends as fast as
/// the window allows doubles its window while there is budget, up to the per-connection
/// limit, so fast streams are not held back by the base window. Budget a window took stays
/// with it until the connection ends: a remote could still use the credit it was granted.
pub const DEFAULT_WINDOW_BUDGET: usize = 32 << 20;
static WINDOW_BUDGET: Budget = Budget::new(DEFAULT_WINDOW_BUDGET);

/// A process-wide budget of bytes, in KiB (so a 16 MiB frame's share fits a `u32`), that can
/// be resized while parts of it are held.
struct Budget {
    permits: Semaphore,
    size: AtomicUsize,
    /// KiB a shrink could not take back because they were held: taken as they come back.
    debt: AtomicUsize,
}

impl Budget {
    const fn new(bytes: usize) -> Self {
        Budget {
            permits: Semaphore::const_new(bytes >> 10),
            size: AtomicUsize::new(bytes >> 10),
            debt: AtomicUsize::new(0),
        }
    }

    /// Resizes the budget to `bytes` (at least 1 KiB). Growing takes effect at once (after
    /// paying what a shrink still owes); shrinking takes what is free now, and the rest as
    /// holders give theirs back.
    fn resize(&'static self, bytes: usize) {
        let kib = (bytes >> 10).max(1);
        let old = self.size.swap(kib, Ordering::AcqRel);
        if kib > old {
            let grow = kib - old;
            let paid = take_up_to(&self.debt, grow);
            self.permits.add_permits(grow - paid);
        } else {
            let forgotten = self.permits.forget_permits(old - kib);
            self.debt.fetch_add(old - kib - forgotten, Ordering::AcqRel);
        }
    }

    fn size_kib(&self) -> usize {
        self.size.load(Ordering::Acquire)
    }
}

/// Subtracts up to `most` from `counter`; how much it took.
fn take_up_to(counter: &AtomicUsize, most: usize) -> usize {
    let mut taken = 0;
    let _ = counter.fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
        taken = now.min(most);
        Some(now - taken)
    });
    taken
}

/// Budget held: given back when dropped, less what the budget owes after a shrink.
struct Held {
    /// `None` once merged into another.
    permit: Option<SemaphorePermit<'static>>,
    budget: &'static Budget,
}

impl Held {
    fn merge(&mut self, mut more: Held) {
        match (&mut self.permit, more.permit.take()) {
            (Some(mine), Some(theirs)) => mine.merge(theirs),
            (mine @ None, theirs) => *mine = theirs,
            (Some(_), None) => {}
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let Some(permit) = &mut self.permit else { return };
        let owed = take_up_to(&self.budget.debt, permit.num_permits());
        if let Some(kept) = permit.split(owed) {
            kept.forget();
        }
    }
}

impl Budget {
    fn try_take(&'static self, kib: u32) -> Option<Held> {
        self.permits.try_acquire_many(kib).ok().map(|permit| Held { permit: Some(permit), budget: self })
    }

    async fn take(&'static self, kib: u32) -> Option<Held> {
        self.permits.acquire_many(kib).await.ok().map(|permit| Held { permit: Some(permit), budget: self })
    }
}

/// Sets the process-wide budget for partly received large frames to `bytes`.
pub(crate) fn set_partial_budget(bytes: usize) {
    PARTIAL_BUDGET.resize(bytes);
}

/// Sets the process-wide budget for growing receive windows to `bytes`.
pub(crate) fn set_window_budget(bytes: usize) {
    WINDOW_BUDGET.resize(bytes);
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
    window_budget: Option<Held>,
    max_frame: usize,
    /// How long a large frame may take, besides a second per MiB.
    deadline_base: Duration,
    buf: BytesMut,
    /// When the frame at the front of the buffer began to arrive, while it is incomplete.
    started: Option<Instant>,
    /// The budget held for the large frame at the front of the buffer.
    budget: Option<Held>,
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
        let Some(more) = WINDOW_BUDGET.try_take((grown - self.window).div_ceil(1024)) else { return };
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
                    let kib = u32::try_from(len.div_ceil(1024).min(PARTIAL_BUDGET.size_kib())).unwrap_or(u32::MAX);
                    match PARTIAL_BUDGET.take(kib).await {
                        Some(held) => self.budget = Some(held),
                        None => return Some(Err(FrameError::Stream("the frame budget is closed".to_owned()))),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resized_budget_ends_at_its_new_size_whatever_was_held() {
        static BUDGET: Budget = Budget::new(8 << 10);
        let available = || BUDGET.permits.available_permits();
        // 6 of 8 KiB held; shrunk to 4: the 2 free go now, 2 more as the 6 come back.
        let held = BUDGET.try_take(6).unwrap();
        BUDGET.resize(4 << 10);
        assert_eq!(available(), 0);
        drop(held);
        assert_eq!(available(), 4);
        BUDGET.resize(8 << 10);
        assert_eq!(available(), 8);
        // All held, shrunk to 2 (6 owed), grown to 5 (3 of the debt forgiven): 5 in the end.
        let held = BUDGET.try_take(8).unwrap();
        BUDGET.resize(2 << 10);
        BUDGET.resize(5 << 10);
        assert_eq!(available(), 0);
        drop(held);
        assert_eq!(available(), 5);
    }
}
