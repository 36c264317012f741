//! The static description of a multitier module: its peers, ties and placed items.
//!
//! The `#[multitier]` macro emits one [`ModuleSpec`] per module. The runtime uses it for the
//! handshake (fingerprint, tie admission) and for messages that name peers and items.

use std::fmt;

/// How many remotes of a peer kind one instance may be connected to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Multiplicity {
    /// Exactly one remote; the instance cannot run without it.
    Single,
    /// Zero or one remote.
    Optional,
    /// Any number of remotes.
    Multiple,
}

impl fmt::Display for Multiplicity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Multiplicity::Single => "Single",
            Multiplicity::Optional => "Optional",
            Multiplicity::Multiple => "Multiple",
        })
    }
}

/// One declared tie from a peer to another (or the same) peer kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TieSpec {
    /// Index of the tied peer in [`ModuleSpec::peers`].
    pub peer: u16,
    /// How many remotes of that peer may be connected at once.
    pub multiplicity: Multiplicity,
    /// The tie's name (`next` in `ties(next: Node = Single)`); `None` for a tie written
    /// without one, which goes by the tied peer's name.
    pub name: Option<&'static str>,
    /// The tie back: the index, among the tied peer's ties, of the tie a connection made on
    /// this one arrives on at the other end.
    pub back: u16,
}

/// One peer kind of the module.
#[derive(Debug, Clone, Copy)]
pub struct PeerSpec {
    /// The peer's name as written in the module.
    pub name: &'static str,
    /// Its ties, in declaration order.
    pub ties: &'static [TieSpec],
}

/// Whether a placed item is a value created once or a function run per access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    /// A placed `Event<T>`, created when the instance starts.
    Event,
    /// A placed `Event<T>` marked `#[lossy]`: occurrences a subscriber's buffer has no room
    /// for are dropped (and numbered, so the subscriber sees the gap).
    LossyEvent,
    /// A placed `Signal<T>` or `Var<T>`, created when the instance starts.
    Signal,
    /// A placed function, run for every remote access.
    Function,
    /// A placed data value (`#[once]`), computed when the instance starts and read remotely
    /// like a function without arguments.
    Once,
    /// Local state (`Local<T>`), created when the instance starts; never reachable remotely.
    Local,
}

/// One placed item (value or function) of the module.
#[derive(Debug, Clone, Copy)]
pub struct ItemSpec {
    /// The item's name as written in the module.
    pub name: &'static str,
    /// Index of the peer it is placed on.
    pub peer: u16,
    /// Value or function.
    pub kind: ItemKind,
    /// The item takes the requesting remote: a subjective value is computed for each
    /// subscribing remote, a function is told its caller.
    pub per_remote: bool,
    /// Local state written without a body: its value is supplied to the builder.
    pub supplied: bool,
}

/// A whole multitier module.
#[derive(Debug, Clone, Copy)]
pub struct ModuleSpec {
    /// The module's name.
    pub name: &'static str,
    /// A hash of peers, ties and placed signatures; two builds talk only if these agree.
    pub fingerprint: [u8; 16],
    /// All peer kinds, in declaration order.
    pub peers: &'static [PeerSpec],
    /// All placed items, in declaration order; an item's index is its wire id.
    pub items: &'static [ItemSpec],
}

impl ModuleSpec {
    /// Tie `tie` of peer `peer`, if both exist.
    pub fn tie(&self, peer: u16, tie: u16) -> Option<&'static TieSpec> {
        self.peers.get(usize::from(peer))?.ties.get(usize::from(tie))
    }

    /// The ties of peer `from` to peer `to`, with their indices.
    pub fn ties_to(&self, from: u16, to: u16) -> impl Iterator<Item = (u16, &'static TieSpec)> + '_ {
        let ties = self.peers.get(usize::from(from)).map_or(&[][..], |peer| peer.ties);
        ties.iter().enumerate().filter(move |(_, tie)| tie.peer == to).map(|(index, tie)| (index as u16, tie))
    }

    /// The name tie `tie` of peer `peer` goes by: its own, else the tied peer's in lowercase.
    pub fn tie_name(&self, peer: u16, tie: u16) -> String {
        match self.tie(peer, tie) {
            Some(TieSpec { name: Some(name), .. }) => (*name).to_owned(),
            Some(tie) => self.peer_name(tie.peer).to_lowercase(),
            None => "?".to_owned(),
        }
    }

    /// The tie of peer `peer` called `name` (`--connect NAME=..`): a named tie by its name, a
    /// tie without one by the tied peer's name (ignoring ASCII case), provided that peer is
    /// tied only once.
    pub fn tie_by_name(&self, peer: u16, name: &str) -> Result<u16, String> {
        let ties = self.peers.get(usize::from(peer)).map_or(&[][..], |p| p.ties);
        if let Some(index) = ties.iter().position(|tie| tie.name == Some(name)) {
            return Ok(index as u16);
        }
        let Some(to) = self.peer_index(name) else {
            return Err(format!(
                "`{}` has no tie called `{name}` (its ties: {})",
                self.peer_name(peer),
                self.describe_ties(peer)
            ));
        };
        let matching: Vec<(u16, &TieSpec)> = self.ties_to(peer, to).collect();
        match matching.as_slice() {
            [] => Err(format!(
                "`{}` has no tie to `{}` (its ties: {})",
                self.peer_name(peer),
                self.peer_name(to),
                self.describe_ties(peer)
            )),
            [(index, _)] => Ok(*index),
            several => Err(format!(
                "`{}` has {} ties to `{}`; name the one you mean: {}",
                self.peer_name(peer),
                several.len(),
                self.peer_name(to),
                several
                    .iter()
                    .map(|(index, _)| format!("`{}`", self.tie_name(peer, *index)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// The index of the peer called `name`, ignoring ASCII case.
    pub fn peer_index(&self, name: &str) -> Option<u16> {
        self.peers
            .iter()
            .position(|peer| peer.name.eq_ignore_ascii_case(name))
            .and_then(|index| u16::try_from(index).ok())
    }

    /// The name of peer `index`, or `"?"` for an index outside the module.
    pub fn peer_name(&self, index: u16) -> &'static str {
        self.peers.get(usize::from(index)).map_or("?", |peer| peer.name)
    }

    /// The name of item `id`, or `"?"` for an id outside the module.
    pub fn item_name(&self, id: u16) -> &'static str {
        self.items.get(usize::from(id)).map_or("?", |item| item.name)
    }

    /// The fingerprint as lowercase hex, for messages.
    pub fn fingerprint_hex(&self) -> String {
        hex(&self.fingerprint)
    }

    /// `Registry (Single), Node (Multiple)`: the ties of `peer`, for messages.
    pub fn describe_ties(&self, peer: u16) -> String {
        let ties = self.peers.get(usize::from(peer)).map_or(&[][..], |p| p.ties);
        if ties.is_empty() {
            return "no ties".to_owned();
        }
        ties.iter()
            .map(|tie| match tie.name {
                Some(name) => format!("{name}: {} ({})", self.peer_name(tie.peer), tie.multiplicity),
                None => format!("{} ({})", self.peer_name(tie.peer), tie.multiplicity),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
