//! BabySpark: distributed collections of SiloRefs with `map`, `reduce`, `group_by` and `join`,
//! written with the function-passing primitives only (`apply` and `send`).
//!
//! A collection is a list of partitions, each a silo on a worker. Spores are not generic, so a
//! partition holds its elements each encoded on its own (`Vec<Vec<u8>>`), and the operations'
//! spores apply the user's element spores in their untyped form. Postcard writes a tuple as its
//! fields one after the other, so pairs and groups are made by putting encodings side by side:
//! the bytes of `(K, Vec<T>)` are those of `K`, the number of `T`s, then each `T`.
//!
//! Keys are compared by their encoding: a key type must encode each value one way (strings,
//! integers, structs of them; not hash maps).

use std::collections::{BTreeMap, HashMap};
use std::marker::PhantomData;
use std::path::Path;

use loci::{Anywhere, Here, Remote, Spore, UntypedSpore};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::FpError;
use crate::fp::{self, Master, Worker};
use crate::lineage::{SiloId, SiloRef, Source};

/// A partition: its elements, each encoded.
pub type Part = Vec<Vec<u8>>;
/// Elements with their keys, both encoded.
pub type Keyed = Vec<(Vec<u8>, Vec<u8>)>;
/// A fold so far: the encoded value, or `None` before the first element.
pub type Folded = Option<Vec<u8>>;
/// Words counted: word → occurrences.
pub type WordCount = BTreeMap<String, u64>;

/// The words of `text` counted: maximal runs of alphanumeric characters, lowercased.
pub fn count_words(text: &str) -> WordCount {
    let mut counts = WordCount::new();
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|word| !word.is_empty()) {
        *counts.entry(word.to_lowercase()).or_default() += 1;
    }
    counts
}

/// The counts of `left` and `right` added.
pub fn add_counts(mut left: WordCount, right: WordCount) -> WordCount {
    for (word, count) in right {
        *left.entry(word).or_default() += count;
    }
    left
}

/// A distributed collection of `T`s: partitions on workers. Operations are deferred, like
/// `apply`; `collect` and `Reduced::send` run them.
pub struct Dist<T> {
    parts: Vec<SiloRef<Part>>,
    _elements: PhantomData<fn() -> T>,
}

impl<T> Clone for Dist<T> {
    fn clone(&self) -> Self {
        Dist { parts: self.parts.clone(), _elements: PhantomData }
    }
}

impl<T> Dist<T> {
    fn new(parts: Vec<SiloRef<Part>>) -> Self {
        Dist { parts, _elements: PhantomData }
    }

    /// Its partitions.
    pub fn parts(&self) -> &[SiloRef<Part>] {
        &self.parts
    }
}

impl Dist<String> {
    /// The lines of the text file at `path`, one partition per worker (every n-th line).
    pub async fn from_text_file(
        ctx: &Here<Master>,
        workers: &[Remote<Worker>],
        path: &Path,
    ) -> Result<Dist<String>, FpError> {
        let parts = workers.len() as u32;
        let mut silos = Vec::new();
        for (part, worker) in workers.iter().enumerate() {
            let lines = crate::master::from_text_file_part(ctx, worker, path, part as u32, parts).await?;
            silos.push(lines.apply(fp::lines_to_part()).named(&format!("part {part}")));
        }
        Ok(Dist::new(silos))
    }
}

impl<T: Serialize + DeserializeOwned + Send + 'static> Dist<T> {
    /// `values` spread over `workers`, one partition each, in turn.
    pub async fn populate(ctx: &Here<Master>, workers: &[Remote<Worker>], values: &[T]) -> Result<Dist<T>, FpError> {
        if workers.is_empty() {
            return Err(FpError::NoWorkers("a distributed collection".to_owned()));
        }
        let mut parts = vec![Part::new(); workers.len()];
        for (i, value) in values.iter().enumerate() {
            let encoded = postcard::to_allocvec(value).map_err(|error| FpError::Codec(error.to_string()))?;
            parts[i % workers.len()].push(encoded);
        }
        let mut silos = Vec::new();
        for (worker, part) in workers.iter().zip(&parts) {
            silos.push(crate::master::populate(ctx, worker, part).await?);
        }
        Ok(Dist::new(silos))
    }

    /// `f` applied to every element.
    pub fn map<U>(&self, f: Spore<Anywhere, T, U>) -> Dist<U>
    where
        U: Serialize + DeserializeOwned + Send + 'static,
    {
        let f = f.untyped();
        Dist::new(self.parts.iter().map(|part| part.apply(fp::map_part(f.clone())).named("map")).collect())
    }

    /// The elements grouped by `key`: one `(key, elements)` per key, spread over as many
    /// partitions as this collection has.
    pub fn group_by<K>(&self, key: Spore<Anywhere, T, K>) -> Dist<(K, Vec<T>)>
    where
        K: Serialize + DeserializeOwned + Send + 'static,
    {
        let buckets = shuffle(&self.parts, &key.untyped(), self.parts.len());
        Dist::new(buckets.into_iter().map(|bucket| bucket.apply(fp::group()).named("group")).collect())
    }

    /// Pairs of an element of this collection and one of `other` with equal keys.
    pub fn join<U, K>(
        &self,
        other: &Dist<U>,
        key: Spore<Anywhere, T, K>,
        other_key: Spore<Anywhere, U, K>,
    ) -> Dist<(T, U)>
    where
        U: Serialize + DeserializeOwned + Send + 'static,
        K: Serialize + DeserializeOwned + Send + 'static,
    {
        let buckets = self.parts.len();
        let left = shuffle(&self.parts, &key.untyped(), buckets);
        let right = shuffle(&other.parts, &other_key.untyped(), buckets);
        let joined = left.iter().zip(right).map(|(left, right)| left.apply(fp::join_with(right)).named("join"));
        Dist::new(joined.collect())
    }

    /// The elements folded with `f`, which must be associative: `None` for no elements.
    pub fn reduce(&self, f: Spore<Anywhere, (T, T), T>) -> Reduced<T> {
        let f = f.untyped();
        let folded: Vec<SiloRef<Folded>> =
            self.parts.iter().map(|part| part.apply(fp::fold_part(f.clone())).named("fold")).collect();
        let silo = match folded.split_first() {
            None => SiloRef::here(&None),
            Some((first, rest)) => first.apply(fp::fold_on(f, rest.to_vec(), None)).named("reduce"),
        };
        Reduced { silo, _value: PhantomData }
    }

    /// Every element, partition after partition (each partition sent for).
    pub async fn collect(&self, ctx: &Here<Master>) -> Result<Vec<T>, FpError> {
        let mut values = Vec::new();
        for part in &self.parts {
            for element in part.send(ctx).await? {
                values.push(postcard::from_bytes(&element).map_err(|error| FpError::Codec(error.to_string()))?);
            }
        }
        Ok(values)
    }
}

/// The result of `reduce`: a silo holding the folded value.
pub struct Reduced<T> {
    silo: SiloRef<Folded>,
    _value: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Reduced<T> {
    /// The silo, whose lineage is the whole reduction.
    pub fn silo(&self) -> &SiloRef<Folded> {
        &self.silo
    }

    /// Runs the reduction and answers with the folded value.
    pub async fn send(&self, ctx: &Here<Master>) -> Result<Option<T>, FpError> {
        let value = self.silo.send(ctx).await?;
        value.map(|bytes| postcard::from_bytes(&bytes).map_err(|error| FpError::Codec(error.to_string()))).transpose()
    }
}

/// For `buckets` buckets: every partition's elements of that bucket, gathered by a chain of
/// spores that starts where partition `bucket` is (so buckets spread like the partitions).
fn shuffle(parts: &[SiloRef<Part>], key: &UntypedSpore<Anywhere>, buckets: usize) -> Vec<SiloRef<Keyed>> {
    (0..buckets)
        .map(|bucket| {
            let mut mine: Vec<SiloRef<Keyed>> = parts
                .iter()
                .map(|part| part.apply(fp::bucket(key.clone(), bucket as u32, buckets as u32)).named("bucket"))
                .collect();
            let count = mine.len().max(1);
            mine.rotate_left(bucket % count);
            match mine.split_first() {
                None => SiloRef::here(&Keyed::new()),
                Some((first, rest)) => first.apply(fp::gather(rest.to_vec(), Keyed::new())).named("gather"),
            }
        })
        .collect()
}

// --- What the operations' spores do ------------------------------------------------------------

/// Each value encoded on its own, as a partition.
pub(crate) fn encode_each<T: Serialize>(values: &[T]) -> SiloRef<Part> {
    let part: Result<Part, _> = values.iter().map(postcard::to_allocvec).collect();
    match part {
        Ok(part) => SiloRef::here(&part),
        Err(error) => SiloRef::failed(error),
    }
}

/// `f` applied to each element of `part`.
pub(crate) fn map(w: &Here<Worker>, f: &UntypedSpore<Anywhere>, part: &Part) -> SiloRef<Part> {
    let mapped: Result<Part, _> = part.iter().map(|element| f.apply_encoded(w, element)).collect();
    match mapped {
        Ok(mapped) => SiloRef::here(&mapped),
        Err(error) => SiloRef::failed(error),
    }
}

/// Which bucket of `buckets` an encoded key falls in.
fn bucket_of(key: &[u8], buckets: u32) -> u32 {
    let hash = SiloId::of(&[key]);
    let [a, b, c, d, ..] = *hash.bytes();
    u32::from_le_bytes([a, b, c, d]) % buckets.max(1)
}

/// The elements of `part` whose key is in bucket `bucket`, with their keys.
pub(crate) fn bucket(
    w: &Here<Worker>,
    key: &UntypedSpore<Anywhere>,
    part: &Part,
    bucket: u32,
    buckets: u32,
) -> SiloRef<Keyed> {
    let mut keyed = Keyed::new();
    for element in part {
        match key.apply_encoded(w, element) {
            Ok(k) if bucket_of(&k, buckets) == bucket => keyed.push((k, element.clone())),
            Ok(_) => {}
            Err(error) => return SiloRef::failed(error),
        }
    }
    SiloRef::here(&keyed)
}

/// The elements grouped by key, each group encoded as `(K, Vec<T>)`, by key encoding.
pub(crate) fn group(keyed: Keyed) -> SiloRef<Part> {
    let mut groups: BTreeMap<Vec<u8>, Vec<Vec<u8>>> = BTreeMap::new();
    for (key, element) in keyed {
        groups.entry(key).or_default().push(element);
    }
    let mut part = Part::new();
    for (key, elements) in groups {
        let Ok(count) = postcard::to_allocvec(&elements.len()) else {
            return SiloRef::failed("a group's size does not encode");
        };
        part.push([key, count, elements.concat()].concat());
    }
    SiloRef::here(&part)
}

/// Each left element with each right element of the same key, encoded as `(T, U)`.
pub(crate) fn join(left: &Keyed, right: &Keyed) -> SiloRef<Part> {
    let mut by_key: HashMap<&[u8], Vec<&[u8]>> = HashMap::new();
    for (key, element) in right {
        by_key.entry(key).or_default().push(element);
    }
    let mut part = Part::new();
    for (key, element) in left {
        for other in by_key.get(key.as_slice()).into_iter().flatten() {
            part.push([element.as_slice(), other].concat());
        }
    }
    SiloRef::here(&part)
}

/// `carried` and then `elements` folded with `f`.
pub(crate) fn fold(
    w: &Here<Worker>,
    f: &UntypedSpore<Anywhere>,
    carried: Folded,
    elements: Vec<Vec<u8>>,
) -> SiloRef<Folded> {
    let mut folded = carried;
    for element in elements {
        folded = match folded {
            None => Some(element),
            // The bytes of a pair are those of its two values side by side.
            Some(acc) => match f.apply_encoded(w, &[acc, element].concat()) {
                Ok(value) => Some(value),
                Err(error) => return SiloRef::failed(error),
            },
        };
    }
    SiloRef::here(&folded)
}

/// The value of a silo a spore just made here (`SiloRef::here`), or the failed silo it is.
pub(crate) fn made_value(silo: &SiloRef<Folded>) -> Result<Folded, SiloRef<Folded>> {
    match &silo.lineage().source {
        Source::Made(bytes) => postcard::from_bytes(bytes).map_err(SiloRef::failed),
        _ => Err(silo.clone()),
    }
}
