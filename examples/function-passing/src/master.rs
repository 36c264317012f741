//! The master's side of function passing: creating silos on workers, sending lineages to the
//! data, and rebuilding the silos of lost workers elsewhere.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use loci::{Here, Remote};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::FpError;
use crate::eval::host_answer;
use crate::fp::{self, Master, Worker};
use crate::lineage::{resolve, Keep, Lineage, Plan, SiloId, SiloRef, Source};
use crate::trace::Trace;

/// How many times a single `send` tries again (after losing a worker, or finding a populated
/// value missing) before it gives up.
const MAX_ATTEMPTS: usize = 32;

/// What the master knows to rebuild lost silos: the values it populated, and which workers
/// took over the silos of lost ones.
#[derive(Default)]
pub struct Recovery {
    state: Mutex<RecoveryState>,
}

#[derive(Default)]
struct RecoveryState {
    /// Every populated silo: its original host and its value.
    populated: HashMap<SiloId, (Remote<Worker>, Arc<Vec<u8>>)>,
    /// Populated values given to workers that took over lost ones: (silo, worker instance).
    given: HashSet<(SiloId, u64)>,
    /// Lost worker instance → the worker that holds its silos now.
    rebuilt_on: BTreeMap<u64, Remote<Worker>>,
    /// Silos created so far, for fresh ids.
    created: u64,
}

impl Recovery {
    fn state(&self) -> std::sync::MutexGuard<'_, RecoveryState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A plan to materialize `lineage` with what is known of lost workers now.
    fn plan(&self, lineage: &Arc<Lineage>, answer: bool) -> Plan {
        Plan { lineage: Arc::clone(lineage), rebuilt_on: self.state().rebuilt_on.clone(), nesting: 0, answer }
    }

    /// Which workers were lost, and where their silos are now: (lost, replacement).
    pub fn rebuilt_on(&self) -> Vec<(u64, String)> {
        self.state().rebuilt_on.iter().map(|(lost, now)| (*lost, now.name().to_owned())).collect()
    }
}

/// Creates a silo holding `value` on `host` (the slides' `SiloRef.populate(host, value)`). The
/// value travels to the host once; the master keeps it to rebuild the silo if the host is lost.
pub async fn populate<T>(ctx: &Here<Master>, host: &Remote<Worker>, value: &T) -> Result<SiloRef<T>, FpError>
where
    T: Serialize + DeserializeOwned + Send + 'static,
{
    let data = Arc::new(postcard::to_allocvec(value).map_err(|error| FpError::Codec(error.to_string()))?);
    let recovery = ctx.local(fp::recovery);
    let (id, target) = {
        let mut state = recovery.state();
        state.created += 1;
        let id = SiloId::of(&[b"populate", &ctx.instance().to_le_bytes(), &state.created.to_le_bytes()]);
        state.populated.insert(id, (host.clone(), Arc::clone(&data)));
        (id, resolve(&state.rebuilt_on, host))
    };
    if let Err(error) = give(ctx, &target, id, &data).await {
        // No SiloRef names it: nothing will rebuild it.
        recovery.state().populated.remove(&id);
        return Err(error);
    }
    Ok(SiloRef::from_lineage(Lineage {
        id,
        host: Some(host.clone()),
        label: "populated".to_owned(),
        keep: Keep::Default,
        source: Source::Populated,
        parent: None,
    }))
}

/// Creates a silo of the lines of the text file at `path` on `host` (the slides'
/// `SiloRef.fromTextFile(host, file)`). The host reads the file now; a worker that rebuilds the
/// silo reads it again, so the path must be readable there too (shared storage).
pub async fn from_text_file(
    ctx: &Here<Master>,
    host: &Remote<Worker>,
    path: &Path,
) -> Result<SiloRef<Vec<String>>, FpError> {
    from_text_file_part(ctx, host, path, 0, 1).await
}

/// Like [`from_text_file`], with every `parts`-th line from line `part` only: one partition of
/// a file spread over several workers.
pub async fn from_text_file_part(
    ctx: &Here<Master>,
    host: &Remote<Worker>,
    path: &Path,
    part: u32,
    parts: u32,
) -> Result<SiloRef<Vec<String>>, FpError> {
    let path = std::path::absolute(path)
        .map_err(|error| FpError::TextFile { path: path.display().to_string(), reason: error.to_string() })?;
    let text = path.to_string_lossy();
    let id = SiloId::of(&[
        b"text",
        &host.instance().to_le_bytes(),
        text.as_bytes(),
        &part.to_le_bytes(),
        &parts.to_le_bytes(),
    ]);
    let silo = SiloRef::from_lineage(Lineage {
        id,
        host: Some(host.clone()),
        label: format!("lines {part}/{parts}"),
        keep: Keep::Default,
        source: Source::TextFile { path, part, parts },
        parent: None,
    });
    // Read now, as the factory does; the lines stay on the host (only that they were read comes back).
    send_with_recovery(ctx, silo.lineage(), false).await?;
    Ok(silo)
}

/// Gives populated silo `id` its value on `target`.
async fn give(ctx: &Here<Master>, target: &Remote<Worker>, id: SiloId, data: &Arc<Vec<u8>>) -> Result<(), FpError> {
    let answer = ctx.remote(fp::store).from(target).no_timeout().call((id, data.to_vec())).await;
    host_answer(answer, target)
}

impl<T: DeserializeOwned> SiloRef<T> {
    /// Materializes the silo where its data is and answers with its value (the slides' eager
    /// `send()`). Silos of lost workers are rebuilt from their lineage on live ones.
    pub async fn send(&self, ctx: &Here<Master>) -> Result<T, FpError> {
        Ok(self.send_traced(ctx).await?.0)
    }

    /// [`send`](Self::send), with what it did: which silos were had on which workers, how, and
    /// which lost workers' silos were rebuilt where.
    pub async fn send_traced(&self, ctx: &Here<Master>) -> Result<(T, Trace), FpError> {
        let (data, trace) = send_with_recovery(ctx, self.lineage(), true).await?;
        let value = postcard::from_bytes(&data).map_err(|error| FpError::Codec(error.to_string()))?;
        Ok((value, trace))
    }
}

/// Materializes `lineage` on the worker its silo lives on now (answering with its data if
/// `answer`), rebuilding lost workers' silos on live ones as often as workers are lost.
async fn send_with_recovery(ctx: &Here<Master>, lineage: &Lineage, answer: bool) -> Result<(Vec<u8>, Trace), FpError> {
    let recovery = ctx.local(fp::recovery);
    let lineage = Arc::new(lineage.clone());
    let mut trace = Trace::default();
    for _ in 0..MAX_ATTEMPTS {
        let plan = recovery.plan(&lineage, answer);
        let target = match &lineage.host {
            Some(host) => plan.resolve(host),
            None => live_workers(ctx, &recovery).into_iter().next().ok_or(FpError::NoWorkers("a made value".into()))?,
        };
        let materialized = ctx.remote(fp::materialize).from(&target).no_timeout().call(plan).await;
        match host_answer(materialized, &target) {
            Ok(materialized) => {
                trace.steps = materialized.steps;
                return Ok((materialized.value, trace));
            }
            Err(FpError::HostLost { name, instance, reason }) => {
                eprintln!("{name} is lost ({reason})");
                let replacement = hand_over(ctx, &recovery, instance, &name)?;
                trace.rebuilt_on.push((name, replacement.name().to_owned()));
                match give_held(ctx, &recovery, &replacement).await {
                    // A replacement lost in turn is found so by the next attempt, and replaced.
                    Ok(()) | Err(FpError::HostLost { .. }) => {}
                    Err(other) => return Err(other),
                }
            }
            Err(FpError::Missing { silo, host }) => match give_again(ctx, &recovery, silo, host).await {
                Ok(()) | Err(FpError::HostLost { .. }) => {}
                Err(other) => return Err(other),
            },
            Err(other) => return Err(other),
        }
    }
    Err(FpError::GaveUp { label: lineage.label.clone(), attempts: MAX_ATTEMPTS })
}

/// Connected workers that have not been lost, by name.
fn live_workers(ctx: &Here<Master>, recovery: &Recovery) -> Vec<Remote<Worker>> {
    let lost: Vec<u64> = recovery.state().rebuilt_on.keys().copied().collect();
    let mut live: Vec<Remote<Worker>> =
        ctx.remotes::<Worker>().connected().into_iter().filter(|worker| !lost.contains(&worker.instance())).collect();
    live.sort_by(|a, b| a.name().cmp(b.name()));
    live
}

/// Hands the silos of lost worker `instance` to a live worker, the one that took over the fewest
/// so far (or to the one another send already handed them to); that worker.
fn hand_over(ctx: &Here<Master>, recovery: &Recovery, instance: u64, name: &str) -> Result<Remote<Worker>, FpError> {
    let live: Vec<Remote<Worker>> =
        live_workers(ctx, recovery).into_iter().filter(|worker| worker.instance() != instance).collect();
    let mut state = recovery.state();
    if let Some(now) = state.rebuilt_on.get(&instance) {
        return Ok(now.clone());
    }
    let load = |worker: &Remote<Worker>| state.rebuilt_on.values().filter(|now| *now == worker).count();
    let replacement = live.iter().min_by_key(|worker| load(worker)).cloned();
    let replacement = replacement.ok_or_else(|| FpError::NoWorkers(name.to_owned()))?;
    for now in state.rebuilt_on.values_mut().filter(|now| now.instance() == instance) {
        *now = replacement.clone();
    }
    state.rebuilt_on.insert(instance, replacement.clone());
    eprintln!("the silos of {name} are rebuilt on {} from their lineage", replacement.name());
    Ok(replacement)
}

/// Gives `replacement` the populated values of the lost workers it took over that it does not
/// have yet.
async fn give_held(ctx: &Here<Master>, recovery: &Recovery, replacement: &Remote<Worker>) -> Result<(), FpError> {
    let values: Vec<(SiloId, Arc<Vec<u8>>)> = {
        let state = recovery.state();
        state
            .populated
            .iter()
            .filter(|(id, (host, _))| {
                host != replacement
                    && resolve(&state.rebuilt_on, host) == *replacement
                    && !state.given.contains(&(**id, replacement.instance()))
            })
            .map(|(id, (_, data))| (*id, Arc::clone(data)))
            .collect()
    };
    for (id, data) in values {
        give(ctx, replacement, id, &data).await?;
        recovery.state().given.insert((id, replacement.instance()));
    }
    Ok(())
}

/// Gives populated silo `silo` its value again on the worker that reported it missing (`host`).
async fn give_again(ctx: &Here<Master>, recovery: &Recovery, silo: SiloId, host: u64) -> Result<(), FpError> {
    let data = recovery.state().populated.get(&silo).map(|(_, data)| Arc::clone(data));
    let data = data.ok_or(FpError::Missing { silo, host })?;
    let target = ctx.remotes::<Worker>().connected().into_iter().find(|worker| worker.instance() == host);
    let target = target.ok_or_else(|| FpError::HostLost {
        name: format!("{host:x}"),
        instance: host,
        reason: "not connected".to_owned(),
    })?;
    give(ctx, &target, silo, &data).await?;
    recovery.state().given.insert((silo, host));
    Ok(())
}
