//! Property tests of the wire decoders on random input, run by `cargo test` on stable Rust:
//! the frame and header decoder, the hello and the admission rules. They complement the
//! cargo-fuzz targets: fewer executions, but on every CI run.

use bytes::BytesMut;
use loci::wire::dispatch::{Dispatcher, Inbound};
use loci::wire::handshake::{admit, Grant};
use loci::wire::{decode_frame, encode_frame, Header, Hello, ReplyStatus};
use loci::Module;
use loci_tests::cluster::__LociModule;
use proptest::prelude::*;

const SPEC: loci::spec::ModuleSpec = <__LociModule as Module>::SPEC;

/// Any header the protocol has, with any field values.
fn header() -> impl Strategy<Value = Header> {
    let hello = (any::<u32>(), ".{0,12}", any::<[u8; 16]>(), ".{0,12}", any::<u64>(), ".{0,12}", any::<u16>())
        .prop_map(|(protocol, module, fingerprint, peer, instance, name, tie)| {
            Header::Hello(Hello { protocol, module, fingerprint, peer, instance, name, listen: None, tie })
        });
    prop_oneof![
        hello,
        (any::<u64>(), any::<u16>()).prop_map(|(id, item)| Header::Call { id, item }),
        (any::<u64>(), any::<bool>())
            .prop_map(|(id, ok)| Header::Reply { id, status: if ok { ReplyStatus::Ok } else { ReplyStatus::Failed } }),
        any::<u16>().prop_map(|item| Header::Subscribe { item }),
        any::<u16>().prop_map(|item| Header::Unsubscribe { item }),
        any::<u16>().prop_map(|item| Header::Event { item }),
        any::<u16>().prop_map(|item| Header::Tell { item }),
        (any::<u16>(), any::<u64>()).prop_map(|(item, seq)| Header::Sample { item, seq }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// Whatever a remote sends, decoding a frame answers (a header and the rest, or an error)
    /// and never panics; what it decodes encodes back to a frame that decodes the same.
    #[test]
    fn decoding_any_bytes_answers_and_what_it_decodes_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        if let Ok((header, payload)) = decode_frame(&bytes) {
            let mut frame = BytesMut::new();
            encode_frame(&mut frame, &header, payload).unwrap();
            let (again, rest) = decode_frame(&frame[4..]).unwrap();
            prop_assert_eq!(again, header);
            prop_assert_eq!(rest, payload);
        }
    }

    /// Every header with any payload comes back as it was sent, with the length prefix right.
    #[test]
    fn every_header_and_payload_round_trips(header in header(), payload in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut frame = BytesMut::new();
        let len = encode_frame(&mut frame, &header, &payload).unwrap();
        prop_assert_eq!(u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize, len);
        let (decoded, rest) = decode_frame(&frame[4..]).unwrap();
        prop_assert_eq!(decoded, header);
        prop_assert_eq!(rest, &payload[..]);
    }

    /// Truncated or corrupted frames never panic the decoder.
    #[test]
    fn damaged_frames_never_panic(header in header(), cut in 0usize..40, flip in any::<(usize, u8)>()) {
        let mut frame = BytesMut::new();
        encode_frame(&mut frame, &header, b"payload").unwrap();
        let mut bytes = frame[4..].to_vec();
        bytes.truncate(bytes.len().saturating_sub(cut));
        if !bytes.is_empty() {
            let at = flip.0 % bytes.len();
            bytes[at] ^= flip.1;
        }
        let _ = decode_frame(&bytes);
    }

    /// The admission rules answer every hello, whatever it claims: admitted only for a peer of
    /// this module tied to the local one, with this build's fingerprint and protocol, and a
    /// peer kind and name its certificate grants.
    #[test]
    fn admission_answers_every_hello(
        protocol in prop_oneof![Just(loci::wire::PROTOCOL_VERSION), any::<u32>()],
        same_build in any::<bool>(),
        peer in prop_oneof![Just("JobManager".to_owned()), Just("TaskManager".to_owned()), ".{0,10}"],
        tie in prop_oneof![Just(0u16), any::<u16>()],
        local in 0u16..2,
        dialled_on in proptest::option::of(0u16..1),
        name in prop_oneof![Just("w1".to_owned()), Just("w1/a".to_owned()), ".{0,6}"],
        granted in proptest::option::of(proptest::collection::vec(
            prop_oneof![Just("JobManager".to_owned()), Just("TaskManager".to_owned()), ".{0,10}"], 0..3)),
    ) {
        let mut hello = Hello::new(&SPEC, 0, 1, &name);
        hello.protocol = protocol;
        hello.peer = peer.clone();
        hello.tie = tie;
        if !same_build {
            hello.fingerprint[0] ^= 0xff;
        }
        let grant = granted.map(|peers| Grant { peers, instance: "w1".to_owned() });
        if let Ok(admitted) = admit(&SPEC, local, &hello, dialled_on, grant.as_ref()) {
            prop_assert_eq!(protocol, loci::wire::PROTOCOL_VERSION);
            if let Some(grant) = &grant {
                prop_assert!(grant.peers.contains(&peer));
                prop_assert!(name == "w1" || name.starts_with("w1/"));
            }
            prop_assert!(same_build);
            prop_assert_eq!(SPEC.peer_name(admitted.peer), peer.as_str());
        }
    }

    /// The reader's numbering of a lossy event, judged from outside: for numbers that rise
    /// from 0 with any gaps, what it reports missed plus what arrived is every number up to
    /// the last, and no report is more than the gap before it.
    #[test]
    fn lossy_numbers_that_rise_with_gaps_report_every_gap(gaps in proptest::collection::vec(0u64..5, 1..60)) {
        let mut dispatcher = Dispatcher::new();
        let (mut seq, mut missed_total, mut previous) = (0u64, 0u64, None::<u64>);
        for (index, gap) in gaps.iter().enumerate() {
            if index > 0 {
                seq += 1 + gap;
            }
            let mut frame = BytesMut::new();
            encode_frame(&mut frame, &Header::Sample { item: 3, seq }, b"x").unwrap();
            let Ok(Inbound::Occurrence { missed, .. }) = dispatcher.dispatch(&frame[4..]) else {
                return Err(TestCaseError::fail("a sample must dispatch as an occurrence"));
            };
            prop_assert!(missed <= seq - previous.map_or(0, |p| p + 1));
            missed_total += missed;
            previous = Some(seq);
        }
        prop_assert_eq!(missed_total + gaps.len() as u64, seq + 1);
    }
}
