//! The frame decoder on any bytes: it never panics, and what it decodes encodes back to a
//! frame that decodes to the same header and payload.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use loci::wire::{decode_frame, encode_frame};

fuzz_target!(|data: &[u8]| {
    if let Ok((header, payload)) = decode_frame(data) {
        let mut frame = BytesMut::new();
        encode_frame(&mut frame, &header, payload).expect("a decoded header encodes");
        let (again, rest) = decode_frame(&frame[4..]).expect("an encoded frame decodes");
        assert_eq!(again, header);
        assert_eq!(rest, payload);
    }
});
