//! The reader's dispatch fed any sequence of frames, well-formed or not: it never panics, a
//! frame it accepts is the header it carries, and only a lossy event's numbering reports
//! losses, as many as the numbers it skipped.
#![no_main]

use arbitrary::Unstructured;
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use loci::wire::dispatch::{Dispatcher, Inbound};
use loci::wire::{encode_frame, Header, ReplyStatus};

/// A header chosen by the input; Sample numbers from a small range, so that runs of them
/// test the numbering.
fn header(u: &mut Unstructured) -> arbitrary::Result<Header> {
    let item = u.int_in_range(0..=3)?;
    Ok(match u.int_in_range(0..=6)? {
        0 => Header::Call { id: u.arbitrary()?, item },
        1 => Header::Tell { item },
        2 => Header::Reply {
            id: u.arbitrary()?,
            status: if u.arbitrary()? { ReplyStatus::Ok } else { ReplyStatus::Failed },
        },
        3 => Header::Subscribe { item },
        4 => Header::Unsubscribe { item },
        5 => Header::Event { item },
        _ => Header::Sample { item, seq: if u.arbitrary()? { u.int_in_range(0..=8)? } else { u.arbitrary()? } },
    })
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let mut dispatcher = Dispatcher::new();
    // What the numbering should say, kept here the plain way: the next number per event.
    let mut expected = std::collections::HashMap::<u16, u64>::new();
    while !u.is_empty() {
        let Ok(well_formed) = u.arbitrary::<bool>() else { return };
        if !well_formed {
            let Ok(bytes) = u.arbitrary::<Vec<u8>>() else { return };
            if let Ok(Inbound::Occurrence { item, missed, .. }) = dispatcher.dispatch(&bytes) {
                // Garbage that happens to decode is a frame like any other; keep the model in step.
                if let Ok((Header::Sample { seq, .. }, _)) = loci::wire::decode_frame(&bytes) {
                    let next = expected.entry(item).or_insert(0);
                    assert_eq!(missed, seq.saturating_sub(*next));
                    if seq >= *next || seq == 0 {
                        *next = seq.saturating_add(1);
                    }
                } else {
                    assert_eq!(missed, 0);
                }
            }
            continue;
        }
        let (Ok(header), Ok(payload)) = (header(&mut u), u.arbitrary::<Vec<u8>>()) else { return };
        let mut frame = BytesMut::new();
        encode_frame(&mut frame, &header, &payload).expect("a header encodes");
        let inbound = dispatcher.dispatch(&frame[4..]).expect("a well-formed frame is accepted");
        match (header, inbound) {
            (Header::Call { id, item }, Inbound::Call { id: i, item: t, args }) => {
                assert_eq!((id, item, args), (i, t, &payload[..]))
            }
            (Header::Tell { item }, Inbound::Tell { item: t, args }) => assert_eq!((item, args), (t, &payload[..])),
            (Header::Reply { id, status }, Inbound::Reply { id: i, status: s, payload: p }) => {
                assert_eq!((id, status, p), (i, s, &payload[..]))
            }
            (Header::Subscribe { item }, Inbound::Subscribe { item: t }) => assert_eq!(item, t),
            (Header::Unsubscribe { item }, Inbound::Unsubscribe { item: t }) => assert_eq!(item, t),
            (Header::Event { item }, Inbound::Occurrence { item: t, missed, .. }) => {
                assert_eq!((item, missed), (t, 0))
            }
            (Header::Sample { item, seq }, Inbound::Occurrence { item: t, missed, payload: p }) => {
                assert_eq!((item, p), (t, &payload[..]));
                let next = expected.entry(item).or_insert(0);
                assert_eq!(missed, seq.saturating_sub(*next));
                if seq >= *next || seq == 0 {
                    *next = seq.saturating_add(1);
                }
            }
            (header, inbound) => panic!("{header:?} dispatched as {inbound:?}"),
        }
    }
});
