//! Frame headers and their encoding.

use bytes::{BufMut, BytesMut};
use serde::{Deserialize, Serialize};

/// The index of a placed item in its module, in declaration order.
pub type ItemId = u16;

/// Frames larger than this are refused unless configured otherwise (16 MiB).
pub const DEFAULT_MAX_FRAME: usize = 16 * 1024 * 1024;

/// Length of the big-endian size prefix in front of every frame.
pub const LENGTH_PREFIX: usize = 4;

/// What a frame is; its payload follows it in the same frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Header {
    /// The first frame on each side: who is talking. Payload: none.
    Hello(super::Hello),
    /// Invoke placed item `item`; payload: the postcard-encoded arguments.
    Call {
        /// Chosen by the caller, unique among its calls in flight on this connection.
        id: u64,
        /// The placed function.
        item: ItemId,
    },
    /// The answer to `Call { id }`; payload: the encoded result, or a [`Failure`].
    Reply {
        /// The id of the call.
        id: u64,
        /// Whether the payload is the result or a failure.
        status: ReplyStatus,
    },
    /// Start sending occurrences of the placed event `item`. Payload: none.
    Subscribe {
        /// The placed event.
        item: ItemId,
    },
    /// Stop sending occurrences of `item`. Payload: none.
    Unsubscribe {
        /// The placed event.
        item: ItemId,
    },
    /// One occurrence of the placed event `item`; payload: the encoded value.
    Event {
        /// The placed event.
        item: ItemId,
    },
    /// Invoke placed function `item` one way: no reply comes back, whatever happens.
    /// Payload: the postcard-encoded arguments.
    Tell {
        /// The placed function.
        item: ItemId,
    },
    /// One occurrence of lossy event `item`, numbered per subscription from 0: a number
    /// skipped is an occurrence the sender dropped because this subscriber was behind.
    /// Payload: the postcard-encoded value.
    Sample {
        /// The placed event.
        item: ItemId,
        /// The occurrence's number in this subscription.
        seq: u64,
    },
}

/// Whether a reply carries a result or a [`Failure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplyStatus {
    /// The payload is the encoded result.
    Ok,
    /// The payload is an encoded [`Failure`].
    Failed,
}

/// Why a remote could not produce a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Failure {
    /// The placed function panicked; the message is the panic payload, if it was a string.
    Panicked(String),
    /// The item is not a function placed on this peer.
    UnknownItem(ItemId),
    /// The arguments did not decode as the function's parameter types.
    BadArguments(String),
    /// The result could not be encoded, or was larger than the frame limit.
    Unencodable(String),
    /// The function takes the requesting remote, and the caller is not of the peer kind it
    /// names (here).
    NotForCaller(String),
}

/// Appends one frame (length prefix, header, payload) to `out`.
///
/// Returns the frame's length without prefix, so the caller can compare it with its limit.
/// On error `out` is left as it was.
pub fn encode_frame(out: &mut BytesMut, header: &Header, payload: &[u8]) -> Result<usize, postcard::Error> {
    let mut stack = [0u8; 32];
    let spilled;
    let header = match postcard::to_slice(header, &mut stack) {
        Ok(encoded) => &encoded[..],
        Err(postcard::Error::SerializeBufferFull) => {
            spilled = postcard::to_allocvec(header)?;
            &spilled[..]
        }
        Err(error) => return Err(error),
    };
    let len = header.len() + payload.len();
    let prefix = u32::try_from(len).map_err(|_| postcard::Error::SerializeBufferFull)?;
    out.reserve(LENGTH_PREFIX + len);
    out.put_u32(prefix);
    out.put_slice(header);
    out.put_slice(payload);
    Ok(len)
}

/// Splits one frame (without its length prefix) into header and payload.
pub fn decode_frame(frame: &[u8]) -> Result<(Header, &[u8]), postcard::Error> {
    postcard::take_from_bytes::<Header>(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_back_to_back() {
        let mut buf = BytesMut::new();
        encode_frame(&mut buf, &Header::Call { id: 7, item: 3 }, b"args").unwrap();
        encode_frame(&mut buf, &Header::Event { item: 1 }, &[]).unwrap();
        let mut bytes = buf.freeze();
        let mut seen = Vec::new();
        while !bytes.is_empty() {
            let len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
            let frame = bytes.slice(4..4 + len);
            bytes = bytes.slice(4 + len..);
            let (header, payload) = decode_frame(&frame).unwrap();
            seen.push((header, payload.to_vec()));
        }
        assert_eq!(seen[0].0, Header::Call { id: 7, item: 3 });
        assert_eq!(&seen[0].1[..], b"args");
        assert_eq!(seen[1].0, Header::Event { item: 1 });
        assert!(seen[1].1.is_empty());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for garbage in [&[0xff_u8, 0xff, 0xff, 0xff, 0xff][..], &[], &[9, 1, 2]] {
            assert!(decode_frame(garbage).is_err());
        }
    }
}
