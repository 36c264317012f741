//! An Executor's tasks: the source reading the text, splitters, and counters, sending data to
//! the tasks downstream directly (to other Executors, or within this one).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use loci::{Here, Remote};

use crate::app::{counter_of, words, Application, Counts, Kind, Message, TaskId, TaskSpec, WordCount, MAX_TEXT_BYTES};
use crate::program::gearpump::{self, Executor};

/// The tasks of one Executor, and where every task of the application is.
#[derive(Default)]
pub struct Tasks {
    state: Mutex<TasksState>,
}

#[derive(Default)]
struct TasksState {
    app: Option<Arc<Application>>,
    mine: BTreeMap<TaskId, TaskSpec>,
    counts: BTreeMap<TaskId, Counts>,
    routes: BTreeMap<TaskId, Remote<Executor>>,
    /// Bumped to restart the source from line 0 (a replay).
    source_run: u64,
}

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl Tasks {
    fn state(&self) -> std::sync::MutexGuard<'_, TasksState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Where every task is now.
    pub fn set_routes(&self, routes: Vec<(TaskId, Remote<Executor>)>) {
        self.state().routes = routes.into_iter().collect();
    }

    /// Takes task `spec` of `app`; a source starts reading (returns its run number).
    pub fn start(&self, spec: TaskSpec, app: Application) -> Option<u64> {
        let mut state = self.state();
        state.app = Some(Arc::new(app));
        state.mine.insert(spec.id, spec);
        match spec.kind {
            Kind::Count => {
                state.counts.entry(spec.id).or_default();
                None
            }
            Kind::Split => None,
            Kind::Source => {
                state.source_run += 1;
                Some(state.source_run)
            }
        }
    }

    /// The source task here, to read the text again from line 0: its new run number.
    pub fn replay(&self) -> Option<(TaskId, u64)> {
        let mut state = self.state();
        let source = state.mine.values().find(|task| task.kind == Kind::Source).map(|task| task.id)?;
        state.source_run += 1;
        Some((source, state.source_run))
    }

    /// Counter `task`'s clock and counts, if it runs here.
    pub fn counts(&self, task: TaskId) -> Option<(u64, WordCount)> {
        self.state().counts.get(&task).map(|counts| (counts.clock, counts.counts.clone()))
    }

    /// Counter `task`'s clock, if it runs here.
    pub fn clock(&self, task: TaskId) -> Option<u64> {
        self.state().counts.get(&task).map(|counts| counts.clock)
    }
}

/// Handles `message` for task `to`, which runs here.
pub fn deliver<'a>(ctx: &'a Here<Executor>, to: TaskId, message: Message) -> Boxed<'a, Result<(), String>> {
    Box::pin(async move {
        let tasks = ctx.local(gearpump::tasks);
        let (spec, app) = {
            let state = tasks.state();
            let spec = state.mine.get(&to).copied().ok_or_else(|| format!("task {to} does not run here"))?;
            (spec, state.app.clone().ok_or("no application here")?)
        };
        match (spec.kind, message) {
            (Kind::Split, Message::Lines(lines)) => {
                let counters = app.tasks_of(Kind::Count);
                if counters.is_empty() {
                    return Err("the application has no counter".to_owned());
                }
                let mut out: Vec<Vec<(u64, Vec<String>)>> = vec![Vec::new(); counters.len()];
                for (number, line) in lines {
                    let mut per_counter: Vec<Vec<String>> = vec![Vec::new(); counters.len()];
                    for word in words(&line) {
                        per_counter[counter_of(&word, counters.len())].push(word);
                    }
                    // Every counter hears of every line, with or without words: its clock moves.
                    for (counter, words) in per_counter.into_iter().enumerate() {
                        out[counter].push((number, words));
                    }
                }
                // The source's call returns once every counter has the words: nothing is in
                // flight here when it does.
                for (counter, words) in counters.into_iter().zip(out) {
                    send(ctx, counter, Message::Words(words)).await?;
                }
                Ok(())
            }
            (Kind::Count, Message::Words(lines)) => {
                tasks.state().counts.entry(to).or_default().add(lines);
                Ok(())
            }
            (kind, message) => Err(format!("task {to} ({kind:?}) cannot take {message:?}")),
        }
    })
}

/// Sends `message` to task `to`, wherever it runs.
async fn send(ctx: &Here<Executor>, to: TaskId, message: Message) -> Result<(), String> {
    let route = ctx.local(gearpump::tasks).state().routes.get(&to).cloned();
    let route = route.ok_or_else(|| format!("no route to task {to}"))?;
    if route.instance() == ctx.instance() {
        return deliver(ctx, to, message).await;
    }
    let executor = ctx.remotes::<Executor>().reach(&route).await.map_err(|error| error.to_string())?;
    let answer = ctx.remote(gearpump::push).from(&executor).no_timeout().call((to, message)).await;
    answer.map_err(|error| error.to_string())?
}

/// The text at `path`: a regular file of at most [`MAX_TEXT_BYTES`].
pub async fn read_text(path: &std::path::Path) -> Result<String, String> {
    let metadata = tokio::fs::metadata(path).await.map_err(|error| error.to_string())?;
    if !metadata.is_file() || metadata.len() > MAX_TEXT_BYTES {
        return Err(format!("not a regular file of at most {MAX_TEXT_BYTES} bytes"));
    }
    tokio::fs::read_to_string(path).await.map_err(|error| error.to_string())
}

/// The source: reads the text and sends it, a batch of numbered lines at a time, to the
/// splitters in turn. A batch that cannot be sent (its splitter is lost) is sent again until it
/// can, or until this run is replaced by a replay.
pub async fn run_source(ctx: Here<Executor>, task: TaskId, run: u64) {
    let tasks = ctx.local(gearpump::tasks);
    let Some(app) = tasks.state().app.clone() else { return };
    let text = match read_text(&app.text).await {
        Ok(text) => text,
        Err(error) => {
            eprintln!("source {task}: cannot read {}: {error}", app.text.display());
            return;
        }
    };
    let lines: Vec<(u64, String)> = text.lines().enumerate().map(|(n, line)| (n as u64, line.to_owned())).collect();
    let splitters = app.tasks_of(Kind::Split);
    if splitters.is_empty() {
        eprintln!("source {task}: the application has no splitter");
        return;
    }
    println!("source {task} reads {} lines (run {run})", lines.len());
    for (batch, chunk) in lines.chunks(app.batch.max(1)).enumerate() {
        let splitter = splitters[batch % splitters.len()];
        loop {
            if tasks.state().source_run != run {
                return; // Replaced by a replay.
            }
            match send(&ctx, splitter, Message::Lines(chunk.to_vec())).await {
                Ok(()) => break,
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
        if app.pace_ms > 0 {
            tokio::time::sleep(Duration::from_millis(app.pace_ms)).await;
        }
    }
    println!("source {task} sent every line (run {run})");
}
