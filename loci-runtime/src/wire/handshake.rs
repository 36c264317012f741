//! The handshake: each side's first frame, and the rules that admit or refuse a remote.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::spec::{hex, ModuleSpec, Multiplicity};

/// Bumped whenever the frame layout changes incompatibly.
pub const PROTOCOL_VERSION: u32 = 3;

/// The first frame each side sends: what it is and which build it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`] of the sender.
    pub protocol: u32,
    /// The multitier module's name.
    pub module: String,
    /// The module fingerprint of the sender's build.
    pub fingerprint: [u8; 16],
    /// The sender's peer kind, by name.
    pub peer: String,
    /// A random id of the sending instance, to detect a second connection between the same pair.
    pub instance: u64,
    /// The sending instance's human-readable name.
    pub name: String,
    /// The address the sender accepts connections on, if it listens: what a `Remote` sent to
    /// other peers carries, so they can connect to it.
    pub listen: Option<std::net::SocketAddr>,
    /// The sender's tie the connection is on, as an index into its peer's ties: for the
    /// dialler, the tie it dials on, from which the acceptor finds its own (the tie back).
    pub tie: u16,
}

impl Hello {
    /// The hello of an instance of peer `local` of module `spec`.
    pub fn new(spec: &ModuleSpec, local: u16, instance: u64, name: &str) -> Self {
        Hello {
            protocol: PROTOCOL_VERSION,
            module: spec.name.to_owned(),
            fingerprint: spec.fingerprint,
            peer: spec.peer_name(local).to_owned(),
            instance,
            name: name.to_owned(),
            listen: None,
            tie: 0,
        }
    }

    /// The same hello, saying that the connection is on the sender's tie `tie`.
    pub fn on_tie(mut self, tie: u16) -> Self {
        self.tie = tie;
        self
    }

    /// The same hello, saying that the sender accepts connections on `listen`.
    pub fn listening(mut self, listen: Option<std::net::SocketAddr>) -> Self {
        self.listen = listen;
        self
    }
}

/// What a remote's certificate grants: the peer kinds it may claim, and the name of the
/// instance it was issued to. Read from the certificate by the security layer; the rules
/// here only compare it with the hello.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Grant {
    /// The peer kinds, by name.
    pub peers: Vec<String>,
    /// The instance name.
    pub instance: String,
}

impl Grant {
    /// Whether it lets an instance named `name` claim peer kind `peer`: the kind is granted,
    /// and the name is the certificate's or under it (`w1/app1` under `w1`, for instances a
    /// host starts).
    pub fn allows(&self, peer: &str, name: &str) -> bool {
        self.grants_peer(peer) && self.covers_name(name)
    }

    /// Whether peer kind `peer` is granted.
    pub fn grants_peer(&self, peer: &str) -> bool {
        self.peers.iter().any(|granted| granted == peer)
    }

    /// Whether `name` is the certificate's instance name or a name under it.
    pub fn covers_name(&self, name: &str) -> bool {
        name.strip_prefix(self.instance.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }
}

/// Why a connection was refused. Both sides log it; the refusing side also sends it as the
/// QUIC close reason, so the other side can report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The remote speaks another protocol version.
    Protocol {
        /// Our version.
        ours: u32,
        /// Theirs.
        theirs: u32,
    },
    /// The remote was built from a different module (or a different version of it).
    Fingerprint {
        /// Our module name.
        module: String,
        /// Our fingerprint, hex.
        ours: String,
        /// Their module name.
        their_module: String,
        /// Their fingerprint, hex.
        theirs: String,
    },
    /// The remote's peer kind is not part of the module.
    UnknownPeer {
        /// What the remote called itself.
        peer: String,
    },
    /// The remote's certificate does not grant the peer kind or the name its hello claims.
    NotGranted {
        /// The peer kind the remote claims.
        peer: String,
        /// The name the remote gives.
        name: String,
        /// What its certificate grants.
        grant: Box<Grant>,
    },
    /// The local peer declares no tie to the remote's peer kind.
    NotTied {
        /// The local peer kind.
        local: String,
        /// The remote's peer kind.
        remote: String,
        /// The local peer's ties, described.
        ties: String,
    },
    /// A `Single` or `Optional` tie already has its one remote.
    TieOccupied {
        /// The local peer kind.
        local: String,
        /// The remote's peer kind.
        remote: String,
        /// The tie's multiplicity.
        multiplicity: Multiplicity,
        /// The remote already connected on that tie.
        existing: String,
    },
    /// A `Multiple` tie has as many remotes as the instance takes on one tie.
    TooMany {
        /// The local peer kind.
        local: String,
        /// The remote's peer kind.
        remote: String,
        /// The limit.
        limit: usize,
    },
    /// The two instances are already connected, by a connection that stays.
    AlreadyConnected {
        /// The remote.
        remote: String,
        /// The refusing instance's id, which the dialler uses to find the connection that stays.
        instance: u64,
    },
    /// The remote gives the instance id of a connected remote whose certificate names
    /// another instance.
    InstanceTaken {
        /// The id.
        instance: u64,
        /// The remote connected with that id.
        holder: String,
    },
    /// The remote is this very instance (it dialled its own address).
    Itself,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Protocol { ours, theirs } => write!(
                f,
                "protocol version mismatch: this side speaks loci protocol {ours}, the remote speaks {theirs}; rebuild both with the same loci version"
            ),
            Refusal::Fingerprint { module, ours, their_module, theirs } => write!(
                f,
                "mismatched build: module `{module}` has fingerprint {ours} here but the remote runs `{their_module}` with fingerprint {theirs}; rebuild every peer from the same source"
            ),
            Refusal::UnknownPeer { peer } => {
                write!(f, "the remote claims to be peer `{peer}`, which this module does not declare")
            }
            Refusal::NotGranted { peer, name, grant } if !grant.grants_peer(peer) => write!(
                f,
                "the remote claims to be a `{peer}`, but its certificate grants {} to instance `{}`; issue `{name}` a certificate for `{peer}` with `loci credentials issue CA_DIR --peer {peer} --name {name}`",
                describe_peers(&grant.peers),
                grant.instance
            ),
            Refusal::NotGranted { name, grant, .. } => write!(
                f,
                "the remote calls itself `{name}`, but its certificate was issued to instance `{}` (names under it, `{}/...`, are covered too); run it with `--name {}` or issue it a certificate of its own",
                grant.instance, grant.instance, grant.instance
            ),
            Refusal::NotTied { local, remote, ties } => write!(
                f,
                "`{local}` has no tie to `{remote}` (its ties: {ties}); add `{remote} = ...` to the ties of `{local}` to allow this connection"
            ),
            Refusal::TieOccupied { local, remote, multiplicity, existing } => write!(
                f,
                "tie `{local} -> {remote} = {multiplicity}` already has its one remote ({existing}); a second `{remote}` would break it"
            ),
            Refusal::TooMany { local, remote, limit } => write!(
                f,
                "tie `{local} -> {remote} = Multiple` has {limit} remotes already, as many as `{local}` takes on one tie; raise it with `--max-connections-per-tie` (LOCI_MAX_CONNECTIONS_PER_TIE) on `{local}`"
            ),
            Refusal::AlreadyConnected { remote, instance } => write!(
                f,
                "instance {instance} is already connected to {remote}; there is one connection per pair of instances"
            ),
            Refusal::InstanceTaken { instance, holder } => write!(
                f,
                "instance id {instance} is connected already as {holder}, whose certificate names another instance; refused"
            ),
            Refusal::Itself => write!(f, "this is the instance itself: it dialled its own address"),
        }
    }
}

fn describe_peers(peers: &[String]) -> String {
    match peers {
        [] => "no peer kind".to_owned(),
        [one] => format!("only `{one}`"),
        many => format!("only {}", many.iter().map(|peer| format!("`{peer}`")).collect::<Vec<_>>().join(", ")),
    }
}

/// Which of two connections between the same two instances stays, when they were dialled in
/// opposite directions (both instances dialled each other): the one dialled by the instance
/// with the smaller id. Both instances decide alike, so exactly one connection stays.
///
/// `local_dialled` says whether this instance dialled the connection in question.
pub fn keeps_mutual_dial(local: u64, remote: u64, local_dialled: bool) -> bool {
    let dialler = if local_dialled { local } else { remote };
    dialler == local.min(remote)
}

/// What the handshake settled about a connection on this side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    /// The remote's peer index.
    pub peer: u16,
    /// The local tie the connection is on, as an index into the local peer's ties.
    pub tie: u16,
    /// That tie's multiplicity.
    pub multiplicity: Multiplicity,
}

/// Checks a remote's hello against the local module and peer, and finds the local tie the
/// connection is on: `dialled_on` for a connection this side dialled, else the tie back of
/// the tie the dialler names in its hello.
///
/// `grant` is what the remote's certificate grants, or `None` where certificates are not
/// checked (`--insecure`).
///
/// Occupancy of `Single` and `Optional` ties is checked by the caller, which owns the
/// connection table.
pub fn admit(
    spec: &ModuleSpec,
    local: u16,
    hello: &Hello,
    dialled_on: Option<u16>,
    grant: Option<&Grant>,
) -> Result<Admitted, Refusal> {
    if hello.protocol != PROTOCOL_VERSION {
        return Err(Refusal::Protocol { ours: PROTOCOL_VERSION, theirs: hello.protocol });
    }
    if let Some(grant) = grant.filter(|grant| !grant.allows(&hello.peer, &hello.name)) {
        return Err(Refusal::NotGranted {
            peer: hello.peer.clone(),
            name: hello.name.clone(),
            grant: Box::new(grant.clone()),
        });
    }
    if hello.fingerprint != spec.fingerprint || hello.module != spec.name {
        return Err(Refusal::Fingerprint {
            module: spec.name.to_owned(),
            ours: spec.fingerprint_hex(),
            their_module: hello.module.clone(),
            theirs: hex(&hello.fingerprint),
        });
    }
    let remote = spec
        .peers
        .iter()
        .position(|peer| peer.name == hello.peer)
        .and_then(|index| u16::try_from(index).ok())
        .ok_or_else(|| Refusal::UnknownPeer { peer: hello.peer.clone() })?;
    let not_tied = || Refusal::NotTied {
        local: spec.peer_name(local).to_owned(),
        remote: hello.peer.clone(),
        ties: spec.describe_ties(local),
    };
    let tie = match dialled_on {
        Some(tie) => tie,
        None => spec.tie(remote, hello.tie).filter(|theirs| theirs.peer == local).ok_or_else(not_tied)?.back,
    };
    let ours = spec.tie(local, tie).filter(|ours| ours.peer == remote).ok_or_else(not_tied)?;
    Ok(Admitted { peer: remote, tie, multiplicity: ours.multiplicity })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{ItemKind, ItemSpec, PeerSpec, TieSpec};

    const SPEC: ModuleSpec = ModuleSpec {
        name: "chat",
        fingerprint: [1; 16],
        peers: &[
            PeerSpec {
                name: "Registry",
                ties: &[TieSpec { peer: 1, multiplicity: Multiplicity::Multiple, name: None, back: 0 }],
            },
            PeerSpec {
                name: "Node",
                ties: &[TieSpec { peer: 0, multiplicity: Multiplicity::Single, name: None, back: 0 }],
            },
        ],
        items: &[ItemSpec { name: "message", peer: 1, kind: ItemKind::Event, per_remote: false, supplied: false }],
    };

    #[test]
    fn a_mutual_dial_keeps_the_connection_of_the_smaller_id_on_both_sides() {
        // Instances 3 and 8 dial each other: on both sides, 3's connection stays, 8's goes.
        assert!(keeps_mutual_dial(3, 8, true));
        assert!(!keeps_mutual_dial(3, 8, false));
        assert!(keeps_mutual_dial(8, 3, false));
        assert!(!keeps_mutual_dial(8, 3, true));
    }

    #[test]
    fn tied_peer_of_the_same_build_is_admitted() {
        let hello = Hello::new(&SPEC, 1, 9, "n1");
        assert_eq!(
            admit(&SPEC, 0, &hello, None, None),
            Ok(Admitted { peer: 1, tie: 0, multiplicity: Multiplicity::Multiple })
        );
    }

    #[test]
    fn other_fingerprint_is_refused() {
        let mut hello = Hello::new(&SPEC, 1, 9, "n1");
        hello.fingerprint = [2; 16];
        let refusal = admit(&SPEC, 0, &hello, None, None).unwrap_err();
        assert!(matches!(refusal, Refusal::Fingerprint { .. }));
        assert!(refusal.to_string().contains("mismatched build"));
    }

    #[test]
    fn untied_peer_kind_is_refused_naming_the_tie() {
        let hello = Hello::new(&SPEC, 1, 9, "n1");
        let refusal = admit(&SPEC, 1, &hello, None, None).unwrap_err();
        assert_eq!(refusal.to_string(), "`Node` has no tie to `Node` (its ties: Registry (Single)); add `Node = ...` to the ties of `Node` to allow this connection");
    }

    #[test]
    fn other_protocol_is_refused() {
        let mut hello = Hello::new(&SPEC, 1, 9, "n1");
        hello.protocol = 99;
        assert!(matches!(admit(&SPEC, 0, &hello, None, None), Err(Refusal::Protocol { theirs: 99, .. })));
    }

    #[test]
    fn a_peer_kind_the_certificate_does_not_grant_is_refused() {
        let node = Grant { peers: vec!["Node".into()], instance: "n1".into() };
        let registry = Hello::new(&SPEC, 0, 9, "n1");
        let refusal = admit(&SPEC, 1, &registry, None, Some(&node)).unwrap_err();
        assert_eq!(refusal.to_string(), "the remote claims to be a `Registry`, but its certificate grants only `Node` to instance `n1`; issue `n1` a certificate for `Registry` with `loci credentials issue CA_DIR --peer Registry --name n1`");
        // The same certificate lets it be the Node it is.
        assert!(admit(&SPEC, 0, &Hello::new(&SPEC, 1, 9, "n1"), None, Some(&node)).is_ok());
    }

    #[test]
    fn a_name_is_covered_by_its_certificates_name_and_the_names_under_it() {
        let worker = Grant { peers: vec!["Node".into()], instance: "w1".into() };
        assert!(admit(&SPEC, 0, &Hello::new(&SPEC, 1, 9, "w1/app1"), None, Some(&worker)).is_ok());
        for name in ["w2", "w10", "w1-app1", ""] {
            let refusal = admit(&SPEC, 0, &Hello::new(&SPEC, 1, 9, name), None, Some(&worker)).unwrap_err();
            assert!(refusal.to_string().contains("its certificate was issued to instance `w1`"), "{name}: {refusal}");
        }
    }

    /// A ring: `Node` ties to itself as `prev` (0) and `next` (1), each the other's tie back.
    const RING: ModuleSpec = ModuleSpec {
        name: "ring",
        fingerprint: [3; 16],
        peers: &[PeerSpec {
            name: "Node",
            ties: &[
                TieSpec { peer: 0, multiplicity: Multiplicity::Single, name: Some("prev"), back: 1 },
                TieSpec { peer: 0, multiplicity: Multiplicity::Single, name: Some("next"), back: 0 },
            ],
        }],
        items: &[],
    };

    #[test]
    fn a_connection_dialled_on_next_arrives_on_prev() {
        let dialler = Hello::new(&RING, 0, 1, "a").on_tie(1);
        assert_eq!(admit(&RING, 0, &dialler, None, None).map(|admitted| admitted.tie), Ok(0));
        assert_eq!(admit(&RING, 0, &dialler, Some(1), None).map(|admitted| admitted.tie), Ok(1));
    }

    #[test]
    fn a_tie_the_dialler_does_not_have_is_refused() {
        let dialler = Hello::new(&RING, 0, 1, "a").on_tie(7);
        assert!(matches!(admit(&RING, 0, &dialler, None, None), Err(Refusal::NotTied { .. })));
    }
}
