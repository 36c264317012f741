//! What each frame a connection receives after its handshake asks for, decided without I/O:
//! the reader hands every frame to a [`Dispatcher`] and carries out what comes back. Kept
//! apart from the reader so that it can be fed any sequence of frames (see `fuzz/`).

use std::collections::HashMap;

use super::{decode_frame, Header, ReplyStatus};

/// What one received frame asks of the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound<'a> {
    /// Run placed function `item` with `args` and answer `Reply { id }`.
    Call {
        /// The caller's id of the call.
        id: u64,
        /// The function.
        item: u16,
        /// Its arguments, postcard-encoded.
        args: &'a [u8],
    },
    /// Run placed function `item` with `args`, answering nothing.
    Tell {
        /// The function.
        item: u16,
        /// Its arguments, postcard-encoded.
        args: &'a [u8],
    },
    /// The answer to this side's call `id`.
    Reply {
        /// The call.
        id: u64,
        /// Whether it succeeded.
        status: ReplyStatus,
        /// The result, or a `Failure`.
        payload: &'a [u8],
    },
    /// Start forwarding occurrences of event `item` to the remote.
    Subscribe {
        /// The event.
        item: u16,
    },
    /// Stop forwarding occurrences of event `item` to the remote.
    Unsubscribe {
        /// The event.
        item: u16,
    },
    /// An occurrence of event `item` the remote forwards.
    Occurrence {
        /// The event.
        item: u16,
        /// The occurrence, postcard-encoded.
        payload: &'a [u8],
        /// How many occurrences of a lossy event the remote dropped for this side just
        /// before this one (0 for an event that is not lossy).
        missed: u64,
    },
}

/// Why a frame breaks the protocol: the connection closes with this reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation(pub String);

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The state a connection's reader keeps between frames: the number each lossy event's next
/// occurrence should have.
#[derive(Debug, Default)]
pub struct Dispatcher {
    next_sample: HashMap<u16, u64>,
}

/// At most this many lossy events are numbered per connection: a module has at most
/// `u16::MAX` items, and a remote naming items it does not have is caught where the
/// occurrence is delivered, so this only bounds what a broken remote can make the map hold.
const MAX_NUMBERED: usize = 1 << 16;

impl Dispatcher {
    /// A dispatcher for a connection that has just completed its handshake.
    pub fn new() -> Self {
        Dispatcher::default()
    }

    /// What `frame` (without its length prefix) asks for.
    pub fn dispatch<'a>(&mut self, frame: &'a [u8]) -> Result<Inbound<'a>, Violation> {
        let (header, payload) = decode_frame(frame).map_err(|error| Violation(format!("malformed frame: {error}")))?;
        Ok(match header {
            Header::Call { id, item } => Inbound::Call { id, item, args: payload },
            Header::Tell { item } => Inbound::Tell { item, args: payload },
            Header::Reply { id, status } => Inbound::Reply { id, status, payload },
            Header::Subscribe { item } => Inbound::Subscribe { item },
            Header::Unsubscribe { item } => Inbound::Unsubscribe { item },
            Header::Event { item } => Inbound::Occurrence { item, payload, missed: 0 },
            Header::Sample { item, seq } => Inbound::Occurrence { item, payload, missed: self.number(item, seq)? },
            Header::Hello(_) => return Err(Violation("a second hello".to_owned())),
        })
    }

    /// Checks occurrence `seq` of lossy event `item` against the numbering: a number skipped
    /// is an occurrence the remote dropped for this subscriber; 0 starts a new subscription;
    /// numbers never go back otherwise (an occurrence that does is still delivered, and
    /// counts as no loss).
    fn number(&mut self, item: u16, seq: u64) -> Result<u64, Violation> {
        if self.next_sample.len() >= MAX_NUMBERED && !self.next_sample.contains_key(&item) {
            return Err(Violation("too many lossy events".to_owned()));
        }
        let expected = self.next_sample.entry(item).or_insert(0);
        let missed = seq.saturating_sub(*expected);
        if seq >= *expected || seq == 0 {
            *expected = seq.saturating_add(1);
        }
        Ok(missed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{encode_frame, Hello};
    use bytes::BytesMut;

    fn frame(header: Header, payload: &[u8]) -> Vec<u8> {
        let mut buf = BytesMut::new();
        encode_frame(&mut buf, &header, payload).unwrap();
        buf[4..].to_vec()
    }

    #[test]
    fn every_header_becomes_what_it_asks_for() {
        let mut dispatcher = Dispatcher::new();
        let call = frame(Header::Call { id: 3, item: 1 }, b"args");
        assert_eq!(dispatcher.dispatch(&call), Ok(Inbound::Call { id: 3, item: 1, args: b"args" }));
        let event = frame(Header::Event { item: 2 }, b"x");
        assert_eq!(dispatcher.dispatch(&event), Ok(Inbound::Occurrence { item: 2, payload: b"x", missed: 0 }));
        let hello = Hello {
            protocol: 1,
            module: "m".into(),
            fingerprint: [0; 16],
            peer: "P".into(),
            instance: 1,
            name: "n".into(),
            listen: None,
            tie: 0,
        };
        assert_eq!(dispatcher.dispatch(&frame(Header::Hello(hello), &[])), Err(Violation("a second hello".into())));
        assert!(dispatcher.dispatch(&[0xff, 0xff]).unwrap_err().0.starts_with("malformed frame"));
    }

    #[test]
    fn skipped_sample_numbers_are_reported_as_missed() {
        let mut dispatcher = Dispatcher::new();
        let missed = |dispatcher: &mut Dispatcher, seq| match dispatcher
            .dispatch(&frame(Header::Sample { item: 4, seq }, &[]))
        {
            Ok(Inbound::Occurrence { missed, .. }) => missed,
            other => panic!("{other:?}"),
        };
        assert_eq!(missed(&mut dispatcher, 0), 0);
        assert_eq!(missed(&mut dispatcher, 1), 0);
        assert_eq!(missed(&mut dispatcher, 5), 3, "2, 3 and 4 were dropped");
        assert_eq!(missed(&mut dispatcher, 2), 0, "a number that goes back is no loss");
        assert_eq!(missed(&mut dispatcher, 6), 0);
        assert_eq!(missed(&mut dispatcher, 0), 0, "a new subscription starts at 0");
        assert_eq!(missed(&mut dispatcher, 2), 1);
        assert_eq!(missed(&mut dispatcher, u64::MAX), u64::MAX - 3);
    }
}
