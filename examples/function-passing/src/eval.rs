//! Materializing a lineage on a worker: what a worker does when a `send` reaches it.
//!
//! The worker walks the DAG from the silo asked for towards its source, stopping at the first
//! silo it holds; it applies each spore to its parent's data, here, where the data is. A spore's
//! result that lives on another worker (a nested spore's `SiloRef`) is asked of that worker,
//! which answers with the data. Silos whose host was lost are evaluated on the worker that took
//! the host's silos over, from their lineage.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use loci::{Here, Remote, RemoteError};
use tokio::io::AsyncReadExt;

use crate::error::FpError;
use crate::fp::{self, Worker};
use crate::lineage::{Keep, Lineage, Materialized, Plan, SiloId, Source, MAX_NESTING};
use crate::trace::{How, Step};

/// Futures of the evaluator, which recurses through the DAG.
type Boxed<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// The silos a worker holds in memory: immutable data, by id, up to a number of bytes.
pub struct SiloStore {
    silos: Mutex<HashMap<SiloId, Arc<Vec<u8>>>>,
    /// The bytes it may hold.
    limit: usize,
}

/// What a worker holds at most unless told otherwise (`fp-worker --max-silo-bytes`).
pub const DEFAULT_SILO_BYTES: usize = 1 << 30;

impl Default for SiloStore {
    fn default() -> Self {
        SiloStore::with_limit(DEFAULT_SILO_BYTES)
    }
}

impl SiloStore {
    /// A store that holds at most `limit` bytes of silos.
    pub fn with_limit(limit: usize) -> Self {
        SiloStore { silos: Mutex::default(), limit }
    }

    fn silos(&self) -> std::sync::MutexGuard<'_, HashMap<SiloId, Arc<Vec<u8>>>> {
        self.silos.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The data of silo `id`, if held here.
    pub fn get(&self, id: SiloId) -> Option<Arc<Vec<u8>>> {
        self.silos().get(&id).cloned()
    }

    /// Holds `data` as silo `id`, if it fits. A silo's data never changes: holding an id again
    /// keeps the first data.
    pub fn insert(&self, worker: &str, id: SiloId, data: Arc<Vec<u8>>) -> Result<(), FpError> {
        let mut silos = self.silos();
        if silos.contains_key(&id) {
            return Ok(());
        }
        let held: usize = silos.values().map(|data| data.len()).sum();
        if held.saturating_add(data.len()) > self.limit {
            return Err(FpError::Full {
                worker: worker.to_owned(),
                silo: id,
                bytes: data.len(),
                held,
                limit: self.limit,
            });
        }
        silos.insert(id, data);
        Ok(())
    }

    /// Lets silo `id` go.
    pub fn remove(&self, id: SiloId) {
        self.silos().remove(&id);
    }

    /// How many silos are held, and their bytes.
    pub fn held(&self) -> (usize, usize) {
        let silos = self.silos();
        (silos.len(), silos.values().map(|data| data.len()).sum())
    }
}

/// Materializes the silo of `plan` here, and answers with its data if asked to.
pub(crate) async fn materialize(ctx: &Here<Worker>, plan: Plan) -> Result<Materialized, FpError> {
    let mut steps = Vec::new();
    let value = evaluate(ctx, &plan, &plan.lineage, &mut steps).await?;
    let value = if plan.answer { value.to_vec() } else { Vec::new() };
    Ok(Materialized { value, steps })
}

/// A worker's name for traces: `--name`, or its instance id.
fn step(ctx: &Here<Worker>, node: &Lineage, how: How) -> Step {
    Step { silo: node.id, label: node.label.clone(), worker: ctx.name().to_owned(), instance: ctx.instance(), how }
}

/// The data of `top`: the chain of its lineage is walked down to the first silo had without
/// its parent (held here, living on another worker, or a source), then its spores are applied
/// back up, one after the other.
fn evaluate<'a>(
    ctx: &'a Here<Worker>,
    plan: &'a Plan,
    top: &'a Lineage,
    steps: &'a mut Vec<Step>,
) -> Boxed<'a, Result<Arc<Vec<u8>>, FpError>> {
    Box::pin(async move {
        let store = ctx.local(fp::silos);
        let chain: Vec<&Lineage> = top.chain().collect();
        let mut had = None;
        for (index, node) in chain.iter().enumerate() {
            if let Some(data) = base(ctx, plan, node, &store, steps).await? {
                had = Some((index, data));
                break;
            }
        }
        // A lineage that arrived ends in a source (checked when decoded), which `base` has.
        let (below, mut data) = had.ok_or_else(|| FpError::Codec("a lineage without a source".to_owned()))?;
        for node in chain[..below].iter().rev() {
            let Source::Apply { spore } = &node.source else {
                return Err(FpError::Codec("a source above another silo in a lineage".to_owned()));
            };
            let spore_error = |reason: String| FpError::Spore { label: node.label.clone(), reason };
            let output = spore.apply_encoded(ctx, &data).map_err(|error| spore_error(error.to_string()))?;
            // The spore gives a `SiloRef`, which travels as its lineage; its data is this silo's.
            let result: Lineage = postcard::from_bytes(&output).map_err(|error| spore_error(error.to_string()))?;
            drop(output);
            if plan.nesting >= MAX_NESTING {
                return Err(FpError::TooDeep { label: node.label.clone() });
            }
            let inner = Plan { nesting: plan.nesting + 1, ..plan.clone() };
            data = evaluate_owned(ctx, inner, result, steps).await?;
            let how = if keep(ctx, &store, node, &data) { How::Computed } else { How::NotKept };
            steps.push(step(ctx, node, how));
        }
        Ok(data)
    })
}

/// [`evaluate`] of a lineage a spore just gave, with the plan one nesting deeper.
fn evaluate_owned<'a>(
    ctx: &'a Here<Worker>,
    plan: Plan,
    top: Lineage,
    steps: &'a mut Vec<Step>,
) -> Boxed<'a, Result<Arc<Vec<u8>>, FpError>> {
    Box::pin(async move { evaluate(ctx, &plan, &top, steps).await })
}

/// The data of `node` if it is had without applying its spore: held here, asked of the worker
/// it lives on, or read from its source. `None` for a silo to derive from its parent here.
async fn base(
    ctx: &Here<Worker>,
    plan: &Plan,
    node: &Lineage,
    store: &SiloStore,
    steps: &mut Vec<Step>,
) -> Result<Option<Arc<Vec<u8>>>, FpError> {
    if let Some(host) = &node.host {
        let host = plan.resolve(host);
        if host.instance() != ctx.instance() {
            return ask(ctx, plan, node, &host, steps).await.map(Some);
        }
    }
    if let Some(data) = store.get(node.id) {
        // Sources stay: they are what derived silos are rebuilt from.
        if node.keep == Keep::Unpersist && matches!(node.source, Source::Apply { .. }) {
            store.remove(node.id);
        }
        steps.push(step(ctx, node, How::Held));
        return Ok(Some(data));
    }
    let data = match &node.source {
        Source::Apply { .. } => return Ok(None),
        Source::Made(data) => return Ok(Some(Arc::clone(data))),
        Source::Failed(reason) => return Err(FpError::Spore { label: node.label.clone(), reason: reason.clone() }),
        Source::Populated => return Err(FpError::Missing { silo: node.id, host: ctx.instance() }),
        Source::TextFile { path, part, parts } => Arc::new(read_lines(path, *part, *parts).await?),
    };
    let how = if keep(ctx, store, node, &data) { How::Read } else { How::NotKept };
    steps.push(step(ctx, node, how));
    Ok(Some(data))
}

/// Holds a silo just had if it is to be kept (persisted ones, and text files); `false` if it
/// was to be kept and does not fit: it is then had again from its lineage next time.
fn keep(ctx: &Here<Worker>, store: &SiloStore, node: &Lineage, data: &Arc<Vec<u8>>) -> bool {
    let wanted = match node.keep {
        Keep::Persist => true,
        Keep::Unpersist => false,
        Keep::Default => matches!(node.source, Source::TextFile { .. }),
    };
    !wanted || store.insert(ctx.name(), node.id, Arc::clone(data)).is_ok()
}

/// The data of `node`, which lives on `host`: asked of it.
async fn ask(
    ctx: &Here<Worker>,
    plan: &Plan,
    node: &Lineage,
    host: &Remote<Worker>,
    steps: &mut Vec<Step>,
) -> Result<Arc<Vec<u8>>, FpError> {
    let remotes = ctx.remotes::<Worker>();
    let connected = remotes.connected().iter().any(|worker| worker.instance() == host.instance());
    if !connected && host.listen_addr().is_none() {
        // Not lost: it cannot be reached from here at all.
        return Err(FpError::Remote(format!(
            "worker {} holds a silo other workers need but does not listen: start workers with --listen",
            host.name()
        )));
    }
    let lost = |reason: String| FpError::HostLost { name: host.name().to_owned(), instance: host.instance(), reason };
    let remote = remotes.reach(host).await.map_err(|error| lost(error.to_string()))?;
    let there = Plan { lineage: Arc::new(node.clone()), answer: true, ..plan.clone() };
    let answer = ctx.remote(fp::materialize).from(&remote).no_timeout().call(there).await;
    let materialized = host_answer(answer, host)?;
    steps.extend(materialized.steps);
    Ok(Arc::new(materialized.value))
}

/// The answer of a worker asked for a silo, with a lost connection told apart from other
/// failures: a lost host's silos are rebuilt elsewhere.
pub(crate) fn host_answer<T>(
    answer: Result<Result<T, FpError>, RemoteError>,
    host: &Remote<Worker>,
) -> Result<T, FpError> {
    match answer {
        Ok(answer) => answer,
        Err(
            error @ (RemoteError::Disconnected { .. }
            | RemoteError::NotConnected { .. }
            | RemoteError::Unreachable { .. }),
        ) => Err(FpError::HostLost {
            name: host.name().to_owned(),
            instance: host.instance(),
            reason: error.to_string(),
        }),
        Err(error) => Err(FpError::Remote(error.to_string())),
    }
}

/// The largest text file a silo is read from: a larger one is refused rather than read into
/// memory (and only regular files are read, not devices that never end).
pub const MAX_TEXT_FILE_BYTES: u64 = 256 << 20;

/// Part `part` of `parts` of the lines of the text file at `path`, encoded as a `Vec<String>`.
pub(crate) async fn read_lines(path: &std::path::Path, part: u32, parts: u32) -> Result<Vec<u8>, FpError> {
    let failed = |reason: String| FpError::TextFile { path: path.display().to_string(), reason };
    if parts == 0 || part >= parts {
        return Err(failed(format!("there is no part {part} of {parts}")));
    }
    let file = tokio::fs::File::open(path).await.map_err(|error| failed(error.to_string()))?;
    let metadata = file.metadata().await.map_err(|error| failed(error.to_string()))?;
    if !metadata.is_file() {
        return Err(failed("not a regular file".to_owned()));
    }
    let mut text = String::new();
    file.take(MAX_TEXT_FILE_BYTES + 1).read_to_string(&mut text).await.map_err(|error| failed(error.to_string()))?;
    if text.len() as u64 > MAX_TEXT_FILE_BYTES {
        return Err(failed(format!("over the {MAX_TEXT_FILE_BYTES} bytes a text-file silo may have")));
    }
    let lines: Vec<&str> = text
        .lines()
        .enumerate()
        .filter(|(number, _)| number % parts as usize == part as usize)
        .map(|(_, line)| line)
        .collect();
    postcard::to_allocvec(&lines).map_err(|error| failed(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> SiloId {
        SiloId::of(&[&[n]])
    }

    #[test]
    fn a_store_holds_silos_up_to_its_limit_and_keeps_the_first_data_of_an_id() {
        let store = SiloStore::with_limit(10);
        store.insert("w1", id(1), Arc::new(vec![1; 6])).unwrap();
        let refused = store.insert("w1", id(2), Arc::new(vec![2; 5]));
        assert!(matches!(refused, Err(FpError::Full { bytes: 5, held: 6, limit: 10, .. })), "{refused:?}");
        // Holding an id again keeps the first data, and costs nothing.
        store.insert("w1", id(1), Arc::new(vec![9; 100])).unwrap();
        assert_eq!(store.get(id(1)).as_deref(), Some(&vec![1; 6]));
        store.insert("w1", id(3), Arc::new(vec![3; 4])).unwrap();
        assert_eq!(store.held(), (2, 10));
        store.remove(id(1));
        store.insert("w1", id(2), Arc::new(vec![2; 5])).unwrap();
        assert_eq!(store.held(), (2, 9));
    }

    #[tokio::test]
    async fn a_text_file_is_read_in_parts_and_only_a_regular_one() {
        let path = std::env::temp_dir().join(format!("fp-lines-{}.txt", std::process::id()));
        std::fs::write(&path, "a\nb\nc\nd\ne\n").unwrap();
        let part = |bytes: Vec<u8>| postcard::from_bytes::<Vec<String>>(&bytes).unwrap();
        assert_eq!(part(read_lines(&path, 0, 2).await.unwrap()), ["a", "c", "e"]);
        assert_eq!(part(read_lines(&path, 1, 2).await.unwrap()), ["b", "d"]);
        assert!(matches!(read_lines(&path, 2, 2).await, Err(FpError::TextFile { .. })));
        std::fs::remove_file(&path).unwrap();
        let device = read_lines(std::path::Path::new("/dev/zero"), 0, 1).await;
        assert!(matches!(&device, Err(FpError::TextFile { reason, .. }) if reason.contains("regular")), "{device:?}");
    }
}
