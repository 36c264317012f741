//! The admission rules on any hello, any certificate grant and any local peer: they never
//! panic, and admit only what they should.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use loci::spec::{ModuleSpec, Multiplicity, PeerSpec, TieSpec};
use loci::wire::handshake::{admit, Grant};
use loci::wire::{Hello, PROTOCOL_VERSION};

/// A registry with nodes in a ring: ties of every multiplicity, named ties, a self-tie.
const SPEC: ModuleSpec = ModuleSpec {
    name: "ring",
    fingerprint: [7; 16],
    peers: &[
        PeerSpec {
            name: "Registry",
            ties: &[TieSpec { peer: 1, multiplicity: Multiplicity::Multiple, name: None, back: 0 }],
        },
        PeerSpec {
            name: "Node",
            ties: &[
                TieSpec { peer: 0, multiplicity: Multiplicity::Optional, name: None, back: 0 },
                TieSpec { peer: 1, multiplicity: Multiplicity::Single, name: Some("prev"), back: 2 },
                TieSpec { peer: 1, multiplicity: Multiplicity::Single, name: Some("next"), back: 1 },
            ],
        },
    ],
    items: &[],
};

const NAMES: [&str; 4] = ["Registry", "Node", "Monitor", ""];

fn name(u: &mut Unstructured) -> arbitrary::Result<String> {
    Ok(if u.arbitrary()? { NAMES[usize::from(u.arbitrary::<u8>()?) % NAMES.len()].to_owned() } else { u.arbitrary()? })
}

fn input(u: &mut Unstructured) -> arbitrary::Result<(u16, Option<u16>, Option<Grant>, Hello)> {
    let local = u.int_in_range(0..=1)?;
    let dialled_on = if u.arbitrary()? { Some(u.int_in_range(0..=3)?) } else { None };
    let grant = if u.arbitrary()? {
        let peers = (0..u.int_in_range(0..=3)?).map(|_| name(u)).collect::<arbitrary::Result<_>>()?;
        Some(Grant { peers, instance: u.arbitrary()? })
    } else {
        None
    };
    let hello = Hello {
        protocol: if u.arbitrary()? { PROTOCOL_VERSION } else { u.arbitrary()? },
        module: if u.arbitrary()? { SPEC.name.to_owned() } else { u.arbitrary()? },
        fingerprint: if u.arbitrary()? { SPEC.fingerprint } else { u.arbitrary()? },
        peer: name(u)?,
        instance: u.arbitrary()?,
        name: u.arbitrary()?,
        listen: None,
        tie: if u.arbitrary()? { u.int_in_range(0..=3)? } else { u.arbitrary()? },
    };
    // A local dialled tie is one this side has.
    let dialled_on = dialled_on.filter(|tie| usize::from(*tie) < SPEC.peers[usize::from(local)].ties.len());
    Ok((local, dialled_on, grant, hello))
}

fuzz_target!(|data: &[u8]| {
    // Half the inputs are a hello as it comes off the wire, the other half built field by field.
    let mut u = Unstructured::new(data);
    let Ok((local, dialled_on, grant, built)) = input(&mut u) else { return };
    let hello = match postcard::from_bytes::<Hello>(u.take_rest()) {
        Ok(decoded) if data.first().is_some_and(|byte| byte & 1 == 1) => decoded,
        _ => built,
    };
    if let Ok(admitted) = admit(&SPEC, local, &hello, dialled_on, grant.as_ref()) {
        assert_eq!(hello.protocol, PROTOCOL_VERSION);
        assert_eq!((hello.module.as_str(), hello.fingerprint), (SPEC.name, SPEC.fingerprint));
        if let Some(grant) = &grant {
            assert!(grant.allows(&hello.peer, &hello.name));
        }
        assert_eq!(SPEC.peer_name(admitted.peer), hello.peer);
        let tie = &SPEC.peers[usize::from(local)].ties[usize::from(admitted.tie)];
        assert_eq!((tie.peer, tie.multiplicity), (admitted.peer, admitted.multiplicity));
    }
});
