//! The receive side of one connection: frames read off the QUIC stream, each within a deadline,
//! and large ones only while the process has memory budgeted for them.
//!
//! A remote controls how long a frame takes to arrive and how large it says it is (up to the
//! frame limit). Without limits, remotes that each send all but the last byte of a large frame
//! make this process hold every one of those partial frames for as long as they like. So a
//! frame over [`LARGE_FRAME`] must arrive within a deadline that grows with its size, and is
//! read only once the process-wide [`PARTIAL_BUDGET`] has room for it: until then that remote's
//! stream is not read, and QUIC flow control holds it back.

use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::sync::{Semaphore, SemaphorePermit};

/// Frames larger than this are read only within the process-wide budget.
pub(crate) const LARGE_FRAME: usize = 64 << 10;

/// Bytes of large frames being received at once, over all connections of the process, in KiB.
const PARTIAL_BUDGET_KIB: usize = 64 << 10;
static PARTIAL_BUDGET: Semaphore = Semaphore::const_new(PARTIAL_BUDGET_KIB);

/// How long a large frame may take to arrive once its length is read: 5 s, plus a second per
/// MiB.
pub(crate) fn frame_deadline(len: usize) -> Duration {
    Duration::from_secs(5) + Duration::from_millis((len as u64 * 1000) >> 20)
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
    max_frame: usize,
    buf: BytesMut,
    /// When the frame at the front of the buffer began to arrive, while it is incomplete.
    started: Option<Instant>,
    /// The budget held for the large frame at the front of the buffer.
    budget: Option<SemaphorePermit<'static>>,
}

impl FrameReader {
    /// Frames larger than `max_frame` close the connection from now on.
    pub fn set_max_frame(&mut self, max_frame: usize) {
        self.max_frame = max_frame;
    }

    pub fn new(recv: quinn::RecvStream, max_frame: usize) -> Self {
        FrameReader { recv, max_frame, buf: BytesMut::with_capacity(READ_CHUNK), started: None, budget: None }
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
                    let kib = u32::try_from(len.div_ceil(1024).min(PARTIAL_BUDGET_KIB)).unwrap_or(u32::MAX);
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
            if self.budget.is_none() && self.buf.capacity() - self.buf.len() < READ_CHUNK / 8 {
                self.buf.reserve(READ_CHUNK);
            }
            let room = if self.budget.is_some() { usize::MAX } else { READ_CHUNK };
            let between_frames = self.buf.is_empty();
            // Reads whatever the stream has, straight into the buffer.
            let mut into = (&mut self.buf).limit(room);
            let read = tokio::io::AsyncReadExt::read_buf(&mut self.recv, &mut into);
            // Only a large frame has a deadline: a small one holds little, and a timer per read
            // would cost every small frame that a read ends inside.
            let read = if len <= LARGE_FRAME {
                read.await
            } else {
                let started = *self.started.get_or_insert_with(Instant::now);
                let deadline = frame_deadline(len);
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
                Ok(_) => {}
                Err(error) => {
                    self.budget = None;
                    return Some(Err(FrameError::Stream(error.to_string())));
                }
            }
        }
    }
}
