//! SiloRefs and their lineages: what a reference to a silo is, as a value that can be stored,
//! sent inside a spore, and evaluated where the data is.
//!
//! A [`SiloRef<T>`] is the lineage of its silo: the DAG of operations that derives the silo's
//! data (a populated value, a text file, spores applied to other silos). Building one is free
//! (`apply`, `persist` and `unpersist` are deferred); [`SiloRef::send`] sends the lineage to
//! the worker that hosts the silo, which materializes it and answers with the value.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;

use loci::{Remote, RunsOn, Spore, UntypedSpore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::fp::Worker;
use crate::trace::Step;

/// A silo's identity across the cluster. A derived silo's id is a hash of what derives it (its
/// parent's id and the spore), so the same DAG built twice names the same silos.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SiloId([u8; 16]);

impl SiloId {
    /// The id of a silo derived from `parts`.
    pub(crate) fn of(parts: &[&[u8]]) -> SiloId {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        let digest = hasher.finalize();
        let mut id = [0; 16];
        id.copy_from_slice(&digest[..16]);
        SiloId(id)
    }

    pub(crate) fn bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Debug for SiloId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for SiloId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in &self.0[..4] {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// Whether a silo is kept in its host's memory once materialized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Keep {
    /// Sources (populated values, text files) are kept; derived silos are not.
    Default,
    /// Kept (`persist`).
    Persist,
    /// Dropped once used (`unpersist`).
    Unpersist,
}

/// How a silo's data comes about.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) enum Source {
    /// A value its creator gave (`populate`): held by its host, and by the creator to rebuild it.
    Populated,
    /// A value a spore made where it ran (`SiloRef::here`), carried inline: it is used where it
    /// is made, and travels only if the spore's result is sent on.
    Made(Arc<Vec<u8>>),
    /// What a spore gives when it failed: evaluating it reports why.
    Failed(String),
    /// Part `part` of `parts` of a text file's lines (every `parts`-th line from line `part`).
    TextFile { path: PathBuf, part: u32, parts: u32 },
    /// A spore applied to the parent's data; it gives the `SiloRef` whose data is this silo's.
    Apply { spore: UntypedSpore<Worker> },
}

/// The untyped lineage of a silo: a node of the DAG and, through its parents, all of it.
///
/// A lineage is a chain: a silo derived by a spore has one parent, and silos the spore reaches
/// otherwise travel inside its captures. It travels as the list of its nodes, so that neither
/// decoding nor dropping a long one recurses.
#[derive(Clone)]
pub struct Lineage {
    pub(crate) id: SiloId,
    /// The worker the silo lives on (the one its source is on); `None` for a made value, which
    /// lives wherever it is used.
    pub(crate) host: Option<Remote<Worker>>,
    /// What to call it when showing the lineage.
    pub(crate) label: String,
    pub(crate) keep: Keep,
    pub(crate) source: Source,
    /// The silo it is derived from, for `Source::Apply`.
    pub(crate) parent: Option<Arc<Lineage>>,
}

/// A node of a lineage as it travels: the lineage without its parent.
#[derive(Serialize)]
struct NodeOut<'a> {
    id: SiloId,
    host: &'a Option<Remote<Worker>>,
    label: &'a str,
    keep: Keep,
    source: &'a Source,
}

/// A node of a lineage as it arrives (the same fields as [`NodeOut`]).
#[derive(Deserialize)]
struct NodeIn {
    id: SiloId,
    host: Option<Remote<Worker>>,
    label: String,
    keep: Keep,
    source: Source,
}

impl Serialize for Lineage {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let nodes: Vec<NodeOut<'_>> = self
            .chain()
            .map(|node| NodeOut {
                id: node.id,
                host: &node.host,
                label: &node.label,
                keep: node.keep,
                source: &node.source,
            })
            .collect();
        nodes.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Lineage {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let nodes = Vec::<NodeIn>::deserialize(deserializer)?;
        let last = nodes.len().checked_sub(1).ok_or_else(|| serde::de::Error::custom("an empty lineage"))?;
        let mut parent: Option<Arc<Lineage>> = None;
        for (index, node) in nodes.into_iter().enumerate().rev() {
            // Only the last node is a source; every other one applies a spore to the next.
            if matches!(node.source, Source::Apply { .. }) == (index == last) {
                return Err(serde::de::Error::custom("a lineage must be spores applied to one source"));
            }
            let NodeIn { id, host, label, keep, source } = node;
            parent = Some(Arc::new(Lineage { id, host, label, keep, source, parent }));
        }
        let top = parent.ok_or_else(|| serde::de::Error::custom("an empty lineage"))?;
        Ok(Arc::unwrap_or_clone(top))
    }
}

impl Drop for Lineage {
    /// Drops the chain of parents one after the other rather than recursively.
    fn drop(&mut self) {
        let mut next = self.parent.take();
        while let Some(parent) = next {
            next = Arc::into_inner(parent).and_then(|mut parent| parent.parent.take());
        }
    }
}

impl Lineage {
    /// The silo's id.
    pub fn id(&self) -> SiloId {
        self.id
    }

    /// Its name in a shown lineage.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The worker it lives on, as the lineage names it (before any rebuild elsewhere).
    pub fn host(&self) -> Option<&Remote<Worker>> {
        self.host.as_ref()
    }

    /// Its parent in the DAG, for a silo derived by a spore.
    pub fn parent(&self) -> Option<&Lineage> {
        self.parent.as_deref()
    }

    /// This silo and its ancestors, from this one to the source.
    pub fn chain(&self) -> impl Iterator<Item = &Lineage> {
        std::iter::successors(Some(self), |node| node.parent())
    }

    fn with_keep(&self, keep: Keep) -> Lineage {
        let mut lineage = self.clone();
        lineage.keep = keep;
        lineage
    }

    /// What the node is, in a word or two.
    fn describe(&self) -> String {
        let keep = match self.keep {
            Keep::Default => "",
            Keep::Persist => ", persisted",
            Keep::Unpersist => ", unpersisted",
        };
        let what = match &self.source {
            Source::Populated => "populated".to_owned(),
            Source::Made(value) => format!("made by a spore, {} bytes", value.len()),
            Source::Failed(reason) => format!("failed: {reason}"),
            Source::TextFile { path, part, parts } => {
                format!("lines {part} mod {parts} of {}", path.display())
            }
            Source::Apply { spore } => format!("a spore applied ({} bytes of captures)", spore.capture_bytes()),
        };
        let host =
            self.host.as_ref().map_or_else(|| "where it is used".to_owned(), |host| format!("on {}", host.name()));
        format!("{} [{}] {what}{keep}, {host}", self.label, self.id)
    }
}

impl fmt::Display for Lineage {
    /// The DAG from this silo to its source, one node per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (depth, node) in self.chain().enumerate() {
            if depth > 0 {
                writeln!(f)?;
            }
            write!(f, "{}{}{}", "  ".repeat(depth), if depth > 0 { "<- " } else { "" }, node.describe())?;
        }
        Ok(())
    }
}

/// A reference to a silo holding a `T`: the lineage that derives its data. It can be stored,
/// cloned, and captured by spores (it travels as its lineage, never as the data).
#[derive(Serialize, Deserialize)]
#[serde(transparent, bound = "")]
pub struct SiloRef<T> {
    lineage: Arc<Lineage>,
    #[serde(skip)]
    _data: PhantomData<fn() -> T>,
}

impl<T> Clone for SiloRef<T> {
    fn clone(&self) -> Self {
        SiloRef { lineage: Arc::clone(&self.lineage), _data: PhantomData }
    }
}

impl<T> fmt::Debug for SiloRef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SiloRef({})", self.lineage.describe())
    }
}

impl<T> SiloRef<T> {
    pub(crate) fn from_lineage(lineage: Lineage) -> Self {
        SiloRef { lineage: Arc::new(lineage), _data: PhantomData }
    }

    /// Its lineage: the DAG that derives the silo's data.
    pub fn lineage(&self) -> &Lineage {
        &self.lineage
    }

    /// The silo's id.
    pub fn id(&self) -> SiloId {
        self.lineage.id
    }

    /// The same reference, shown as `label` in lineages.
    pub fn named(&self, label: &str) -> SiloRef<T> {
        let mut lineage = (*self.lineage).clone();
        lineage.label = label.to_owned();
        SiloRef::from_lineage(lineage)
    }

    /// What a spore gives when it cannot give its result: the `send` that needs it fails with
    /// `reason`.
    pub fn failed(reason: impl std::fmt::Display) -> SiloRef<T> {
        let reason = reason.to_string();
        let id = SiloId::of(&[b"failed", reason.as_bytes()]);
        SiloRef::from_lineage(Lineage {
            id,
            host: None,
            label: "failed".to_owned(),
            keep: Keep::Default,
            source: Source::Failed(reason),
            parent: None,
        })
    }

    /// Keeps the silo in its host's memory once it is materialized, so later sends start from it
    /// (deferred: it takes effect at the next `send` that reaches it).
    pub fn persist(&self) -> SiloRef<T> {
        SiloRef::from_lineage(self.lineage.with_keep(Keep::Persist))
    }

    /// Lets the silo go from its host's memory (deferred: the next `send` that reaches it uses
    /// it one last time, then its host drops it).
    pub fn unpersist(&self) -> SiloRef<T> {
        SiloRef::from_lineage(self.lineage.with_keep(Keep::Unpersist))
    }
}

impl<T: Serialize + serde::de::DeserializeOwned + Send + 'static> SiloRef<T> {
    /// A silo of `value` made by a spore where it runs (the slides' `SiloRef.populate(currentHost,
    /// value)` inside a spore): the spore's result, used where it was made.
    pub fn here(value: &T) -> SiloRef<T> {
        let (id, source) = match postcard::to_allocvec(value) {
            Ok(bytes) => (SiloId::of(&[b"made", &bytes]), Source::Made(Arc::new(bytes))),
            Err(error) => return SiloRef::failed(format!("the value does not encode: {error}")),
        };
        SiloRef::from_lineage(Lineage {
            id,
            host: None,
            label: "made".to_owned(),
            keep: Keep::Default,
            source,
            parent: None,
        })
    }

    /// The silo that `f` derives from this one's data, on the same worker (deferred: nothing
    /// runs until a `send` needs it). `f` gives a `SiloRef` whose data becomes the new silo's:
    /// usually `SiloRef::here(&result)`, or a silo derived elsewhere (nested spores).
    pub fn apply<P, S>(&self, f: Spore<P, T, SiloRef<S>>) -> SiloRef<S>
    where
        P: RunsOn<Worker>,
        S: Serialize + serde::de::DeserializeOwned + Send + 'static,
    {
        let spore = f.on::<Worker>().untyped();
        // Only the id is made of these bytes; a spore that does not encode fails when applied.
        let encoded = postcard::to_allocvec(&spore).unwrap_or_default();
        let id = SiloId::of(&[b"apply", self.lineage.id.bytes(), &encoded]);
        SiloRef::from_lineage(Lineage {
            id,
            host: self.lineage.host.clone(),
            label: format!("apply#{id}"),
            keep: Keep::Default,
            source: Source::Apply { spore },
            parent: Some(Arc::clone(&self.lineage)),
        })
    }
}

/// What a lineage is evaluated with: which lost workers' silos now live on which workers.
#[derive(Clone, Serialize, Deserialize)]
pub struct Plan {
    /// The silo to materialize.
    pub(crate) lineage: Arc<Lineage>,
    /// Lost worker instance → the worker that rebuilds its silos.
    pub(crate) rebuilt_on: BTreeMap<u64, Remote<Worker>>,
    /// How many spores' results are being evaluated around this one (nested spores, on this
    /// worker and the ones that asked): bounded by [`MAX_NESTING`].
    pub(crate) nesting: u32,
    /// Whether to answer with the silo's data, or only materialize it (a factory does).
    pub(crate) answer: bool,
}

/// How deeply spores' results may nest: a spore gives a `SiloRef` whose evaluation applies a
/// spore that gives a `SiloRef`... (a chain of `gather` or `fold_on` is as deep as the
/// collection has partitions).
pub const MAX_NESTING: u32 = 256;

impl Plan {
    /// Where the silos of `host` live now.
    pub(crate) fn resolve(&self, host: &Remote<Worker>) -> Remote<Worker> {
        resolve(&self.rebuilt_on, host)
    }
}

/// Where the silos of `host` live now, given which workers took over lost ones.
pub(crate) fn resolve(rebuilt_on: &BTreeMap<u64, Remote<Worker>>, host: &Remote<Worker>) -> Remote<Worker> {
    let mut host = host.clone();
    // A replacement may itself have been lost since; the map is short and has no cycles.
    for _ in 0..=rebuilt_on.len() {
        match rebuilt_on.get(&host.instance()) {
            Some(next) => host = next.clone(),
            None => break,
        }
    }
    host
}

/// The answer of a worker that materialized a silo.
#[derive(Serialize, Deserialize)]
pub struct Materialized {
    /// The silo's data, encoded.
    pub(crate) value: Vec<u8>,
    /// What was done, on this worker and on those it asked.
    pub(crate) steps: Vec<Step>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fp;
    use crate::people::Person;

    fn persons() -> SiloRef<Vec<Person>> {
        SiloRef::here(&crate::people::persons(3))
    }

    #[test]
    fn the_same_dag_built_twice_names_the_same_silos() {
        let a = persons().apply(fp::adults()).apply(fp::sorted());
        let b = persons().apply(fp::adults()).apply(fp::sorted());
        assert_eq!(a.id(), b.id());
        assert_ne!(a.id(), persons().apply(fp::sorted()).apply(fp::adults()).id());
        // Persisting or naming a silo keeps its id: the cache finds it under either reference.
        assert_eq!(a.persist().named("x").id(), a.id());
    }

    #[test]
    fn a_lineage_travels_as_its_nodes_and_comes_back_the_same() {
        let labels = persons().apply(fp::adults()).named("adults").persist().apply(fp::labels()).named("labels");
        let bytes = postcard::to_allocvec(&labels).unwrap();
        let back: SiloRef<Vec<String>> = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back.lineage().to_string(), labels.lineage().to_string());
        let ids = |silo: &SiloRef<Vec<String>>| silo.lineage().chain().map(Lineage::id).collect::<Vec<_>>();
        assert_eq!(ids(&back), ids(&labels));
        assert_eq!(back.lineage().parent().map(|p| p.keep), Some(Keep::Persist));
        let shown = labels.lineage().to_string();
        assert!(shown.starts_with("labels ["), "{shown}");
        assert!(shown.contains("<- adults [") && shown.contains("persisted"), "{shown}");
    }

    #[test]
    fn a_lineage_of_spores_not_ending_in_one_source_is_refused() {
        let adults = persons().apply(fp::adults());
        let bytes = postcard::to_allocvec(&adults).unwrap();
        // Two nodes: drop the source by saying there is one node only.
        assert_eq!(bytes[0], 2);
        let mut cut = bytes.clone();
        cut[0] = 1;
        assert!(postcard::from_bytes::<Lineage>(&cut).is_err());
        assert!(postcard::from_bytes::<Lineage>(&[0]).is_err());
    }

    #[test]
    fn a_long_lineage_decodes_and_drops_without_recursing() {
        let mut silo = persons();
        for _ in 0..200_000 {
            silo = silo.apply(fp::sorted());
        }
        let bytes = postcard::to_allocvec(&silo).unwrap();
        let back: Lineage = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back.chain().count(), 200_001);
        drop(back);
        drop(silo);
    }
}
