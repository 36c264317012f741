//! The decoders of what a frame's header and a failed reply carry, on any bytes: they never
//! panic, and a header or failure they decode survives a round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loci::wire::{Failure, Header, Hello};

fuzz_target!(|data: &[u8]| {
    if let Ok((header, _)) = postcard::take_from_bytes::<Header>(data) {
        let bytes = postcard::to_allocvec(&header).expect("a decoded header encodes");
        assert_eq!(postcard::from_bytes::<Header>(&bytes).expect("it decodes again"), header);
    }
    if let Ok(failure) = postcard::from_bytes::<Failure>(data) {
        let bytes = postcard::to_allocvec(&failure).expect("a decoded failure encodes");
        assert_eq!(postcard::from_bytes::<Failure>(&bytes).expect("it decodes again"), failure);
    }
    let _ = postcard::from_bytes::<Hello>(data);
});
