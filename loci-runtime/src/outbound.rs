//! The send side of one connection: frames are encoded straight into one byte buffer, and a
//! writer task takes everything buffered as one write.
//!
//! Encoding in place (no per-frame allocation or queue node) and taking the whole buffer at
//! once is what lets thousands of small event occurrences cost a handful of writes.

use std::sync::Mutex;

use bytes::{Bytes, BytesMut};
use tokio::sync::Notify;

use crate::core::lock;
use crate::wire::{encode_frame, Header};

/// Bytes buffered per connection before senders wait (calls, and event senders that feel
/// backpressure) and lossy events are dropped.
pub(crate) const SEND_BUFFER_LIMIT: usize = 1 << 20;

/// How many times its limit a connection's buffer may hold for a subscriber slower than the
/// others before senders wait for it anyway: the lead one slow subscriber may fall behind the
/// others by. Kept small: a relay that runs ahead of many slow subscribers at once holds all
/// their leads, and starves them of the CPU they need to catch up.
pub(crate) const FAR_FACTOR: usize = 2;

/// Bytes buffered per connection past which occurrences of lossy events are dropped: a
/// sample waiting behind a megabyte is stale by the time it arrives.
pub(crate) const LOSSY_LIMIT: usize = 64 << 10;

/// How many times its limit a connection's buffer may hold before the remote counts as too
/// slow: occurrences fired without waiting ([`crate::Event::fire`]) are buffered up to here,
/// then the connection is closed rather than an occurrence lost silently.
pub(crate) const HARD_LIMIT_FACTOR: usize = 16;

/// What happened to a frame offered to the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Push {
    /// Buffered; the writer will send it.
    Buffered,
    /// The buffer is over its limit; try again later or drop the frame.
    Full,
    /// The connection is closed.
    Closed,
}

struct State {
    bytes: BytesMut,
    closed: bool,
}

/// What happened to an event occurrence offered to the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Queued {
    /// Buffered; `over_limit` says that the buffer is past its limit, so the sender should
    /// wait for room before it sends more, and `far` that it holds [`FAR_FACTOR`] times its
    /// limit, so the sender must.
    Buffered { over_limit: bool, far: bool },
    /// Not buffered: the buffer is at its hard limit; the remote is too slow.
    Overflow,
    /// The connection is closed.
    Closed,
}

/// The frames waiting to be written to one connection.
pub(crate) struct Outbound {
    state: Mutex<State>,
    written: std::sync::atomic::AtomicU64,
    data_ready: Notify,
    space: Notify,
    limit: usize,
}

impl Outbound {
    pub fn new(limit: usize) -> Self {
        Outbound {
            // Grown by the frames it takes: a quiet connection holds no buffer.
            state: Mutex::new(State { bytes: BytesMut::new(), closed: false }),
            written: std::sync::atomic::AtomicU64::new(0),
            data_ready: Notify::new(),
            space: Notify::new(),
            limit,
        }
    }

    /// Buffers one frame unless the buffer is full or closed. A frame larger than the limit is
    /// still taken into an empty buffer, so that one large call can always go out.
    pub fn try_push(&self, header: &Header, payload: &[u8]) -> Push {
        self.try_push_within(header, payload, self.limit)
    }

    /// [`Outbound::try_push`] with a limit of its own (lower, for samples that must be fresh).
    pub fn try_push_within(&self, header: &Header, payload: &[u8], limit: usize) -> Push {
        let mut state = lock(&self.state);
        if state.closed {
            return Push::Closed;
        }
        let was_empty = state.bytes.is_empty();
        if !was_empty && state.bytes.len() + payload.len() > limit {
            return Push::Full;
        }
        if let Err(error) = encode_frame(&mut state.bytes, header, payload) {
            tracing::warn!(%error, "dropped a frame whose header could not be encoded");
            return Push::Buffered;
        }
        drop(state);
        if was_empty {
            self.data_ready.notify_one();
        }
        Push::Buffered
    }

    /// Buffers an event occurrence, past the limit if need be, up to the hard limit.
    pub fn queue(&self, header: &Header, payload: &[u8]) -> Queued {
        let mut state = lock(&self.state);
        if state.closed {
            return Queued::Closed;
        }
        let was_empty = state.bytes.is_empty();
        if !was_empty && state.bytes.len() + payload.len() > self.limit * HARD_LIMIT_FACTOR {
            return Queued::Overflow;
        }
        if let Err(error) = encode_frame(&mut state.bytes, header, payload) {
            tracing::warn!(%error, "dropped a frame whose header could not be encoded");
        }
        let (over_limit, far) = (state.bytes.len() > self.limit, state.bytes.len() > self.limit * FAR_FACTOR);
        drop(state);
        if was_empty {
            self.data_ready.notify_one();
        }
        Queued::Buffered { over_limit, far }
    }

    /// Buffers a small control frame (subscribing, unsubscribing) whatever the buffer holds,
    /// so that control frames never wait and never overtake one another.
    pub fn push_control(&self, header: &Header) {
        let mut state = lock(&self.state);
        if state.closed {
            return;
        }
        let was_empty = state.bytes.is_empty();
        if let Err(error) = encode_frame(&mut state.bytes, header, &[]) {
            tracing::warn!(%error, "dropped a frame whose header could not be encoded");
        }
        drop(state);
        if was_empty {
            self.data_ready.notify_one();
        }
    }

    /// Waits until the buffer holds at most `bytes` (or is closed).
    pub async fn room_for(&self, bytes: usize) {
        loop {
            let space = self.space.notified();
            tokio::pin!(space);
            space.as_mut().enable();
            {
                let state = lock(&self.state);
                if state.closed || state.bytes.len() <= bytes {
                    return;
                }
            }
            space.await;
        }
    }

    /// The buffer's limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Records that the writer handed `bytes` more to QUIC.
    pub fn note_written(&self, bytes: usize) {
        self.written.fetch_add(bytes as u64, std::sync::atomic::Ordering::Relaxed);
    }

    /// Bytes the writer handed to QUIC so far: whether the remote is reading at all (QUIC
    /// takes no more than the remote's flow-control window allows).
    pub fn written(&self) -> u64 {
        self.written.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Bytes buffered now.
    pub fn buffered(&self) -> usize {
        lock(&self.state).bytes.len()
    }

    /// Buffers one frame, waiting for room; `false` if the connection closed.
    pub async fn push(&self, header: &Header, payload: &[u8]) -> bool {
        // Almost always there is room: no waiter registration on that path.
        match self.try_push(header, payload) {
            Push::Buffered => return true,
            Push::Closed => return false,
            Push::Full => {}
        }
        loop {
            let space = self.space.notified();
            tokio::pin!(space);
            space.as_mut().enable();
            match self.try_push(header, payload) {
                Push::Buffered => return true,
                Push::Closed => return false,
                Push::Full => space.await,
            }
        }
    }

    /// Everything buffered, once there is something; `None` once closed.
    pub async fn next_batch(&self) -> Option<Bytes> {
        loop {
            let ready = self.data_ready.notified();
            {
                let mut state = lock(&self.state);
                if state.closed {
                    return None;
                }
                if !state.bytes.is_empty() {
                    let batch = state.bytes.split().freeze();
                    drop(state);
                    self.space.notify_waiters();
                    return Some(batch);
                }
            }
            ready.await;
        }
    }

    /// Refuses further frames and wakes the writer and every waiting sender.
    pub fn close(&self) {
        lock(&self.state).closed = true;
        self.data_ready.notify_one();
        self.space.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_batch_into_one_write_and_the_limit_holds() {
        let outbound = Outbound::new(100);
        assert_eq!(outbound.try_push(&Header::Event { item: 1 }, &[1; 40]), Push::Buffered);
        assert_eq!(outbound.try_push(&Header::Event { item: 1 }, &[2; 40]), Push::Buffered);
        assert_eq!(outbound.try_push(&Header::Event { item: 1 }, &[3; 40]), Push::Full);
        let batch = outbound.next_batch().await.unwrap();
        assert_eq!(batch.len(), 2 * (4 + 2 + 40));
        assert_eq!(
            outbound.try_push(&Header::Event { item: 1 }, &[4; 500]),
            Push::Buffered,
            "an empty buffer takes any frame"
        );
        outbound.close();
        assert_eq!(outbound.try_push(&Header::Event { item: 1 }, &[]), Push::Closed);
        assert!(outbound.next_batch().await.is_none());
    }
}
