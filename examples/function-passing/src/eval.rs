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

use crate::fp::{self, Worker};
use crate::lineage::{FpError, How, Keep, Lineage, Materialized, Plan, SiloId, Source, Step};

/// Futures of the evaluator, which recurses through the DAG.
type Boxed<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// The silos a worker holds in memory: immutable data, by id.
#[derive(Default)]
pub struct SiloStore {
    silos: Mutex<HashMap<SiloId, Arc<Vec<u8>>>>,
}

impl SiloStore {
    fn silos(&self) -> std::sync::MutexGuard<'_, HashMap<SiloId, Arc<Vec<u8>>>> {
        self.silos.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The data of silo `id`, if held here.
    pub fn get(&self, id: SiloId) -> Option<Arc<Vec<u8>>> {
        self.silos().get(&id).cloned()
    }

    /// Holds `data` as silo `id`. A silo's data never changes: holding an id again keeps the
    /// first data.
    pub fn insert(&self, id: SiloId, data: Arc<Vec<u8>>) {
        self.silos().entry(id).or_insert(data);
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

/// Materializes the silo of `plan` here and answers with its data.
pub(crate) async fn materialize(ctx: &Here<Worker>, plan: Plan) -> Result<Materialized, FpError> {
    let mut steps = Vec::new();
    let value = evaluate(ctx, &plan, &plan.lineage, &mut steps).await?;
    Ok(Materialized { value: value.to_vec(), steps })
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
            data = evaluate(ctx, plan, &result, steps).await?;
            keep(&store, node, &data);
            steps.push(step(ctx, node, How::Computed));
        }
        Ok(data)
    })
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
        if node.keep == Keep::Unpersist {
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
    keep(store, node, &data);
    steps.push(step(ctx, node, How::Read));
    Ok(Some(data))
}

/// Holds a silo just had if it is to be kept: persisted ones, and text files (sources).
fn keep(store: &SiloStore, node: &Lineage, data: &Arc<Vec<u8>>) {
    let kept = match node.keep {
        Keep::Persist => true,
        Keep::Unpersist => false,
        Keep::Default => matches!(node.source, Source::TextFile { .. }),
    };
    if kept {
        store.insert(node.id, Arc::clone(data));
    }
}

/// The data of `node`, which lives on `host`: asked of it.
async fn ask(
    ctx: &Here<Worker>,
    plan: &Plan,
    node: &Lineage,
    host: &Remote<Worker>,
    steps: &mut Vec<Step>,
) -> Result<Arc<Vec<u8>>, FpError> {
    let lost = |reason: String| FpError::HostLost { name: host.name().to_owned(), instance: host.instance(), reason };
    let remote = ctx.remotes::<Worker>().reach(host).await.map_err(|error| lost(error.to_string()))?;
    let there = Plan { lineage: Arc::new(node.clone()), rebuilt_on: plan.rebuilt_on.clone() };
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

/// Part `part` of `parts` of the lines of the text file at `path`, encoded as a `Vec<String>`.
pub(crate) async fn read_lines(path: &std::path::Path, part: u32, parts: u32) -> Result<Vec<u8>, FpError> {
    let failed = |reason: String| FpError::TextFile { path: path.display().to_string(), reason };
    if parts == 0 || part >= parts {
        return Err(failed(format!("there is no part {part} of {parts}")));
    }
    let text = tokio::fs::read_to_string(path).await.map_err(|error| failed(error.to_string()))?;
    let lines: Vec<&str> = text
        .lines()
        .enumerate()
        .filter(|(number, _)| number % parts as usize == part as usize)
        .map(|(_, line)| line)
        .collect();
    postcard::to_allocvec(&lines).map_err(|error| failed(error.to_string()))
}
