//! Lineage-driven fault injection: for a result, read which workers its lineage depends on,
//! then kill each of them in turn (one run per worker) and check the result every time.
//!
//! A result's dependencies are read from its provenance: the trace of a fault-free `send`
//! names every worker that had a silo of the DAG, including workers reached through nested
//! spores, which the lineage alone does not show (their `SiloRef`s travel inside spores).
//! Only those workers can matter to the result, so only they are worth killing; killing any
//! other is a run that cannot fail.
//!
//! The master runs its DAG, pauses, and runs it again; a worker is killed during the pause, so
//! the second run needs silos the worker held (populated values, persisted results) and must
//! rebuild them from their lineage. The tool works on any scenario of the master executable:
//! add a scenario for your own DAG and name its results and traces in a [`Probe`].
//!
//! One fault per run, injected between two sends: a worker lost in the middle of a send is
//! handled the same way (the send finds it lost), but this tool does not time faults that way.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::cluster::{Cluster, Executables};

/// What to run and what to check.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The master's scenario (`--scenario`).
    pub scenario: String,
    /// How many workers to start.
    pub workers: usize,
    /// The text file it reads, if any.
    pub text: Option<PathBuf>,
    /// The results to compare: each run prints `result first-NAME` and `result second-NAME`
    /// (or `result first` and `result second` for the name "").
    pub results: Vec<String>,
    /// The traces whose workers the results depend on (`NAME depends on: ...`).
    pub traces: Vec<String>,
}

impl Probe {
    fn result_name(run: &str, name: &str) -> String {
        if name.is_empty() {
            run.to_owned()
        } else {
            format!("{run}-{name}")
        }
    }

    /// The results of one run (`first` or `second`).
    fn results(&self, cluster: &Cluster, run: &str) -> io::Result<Vec<serde_json::Value>> {
        self.results.iter().map(|name| cluster.result(&Probe::result_name(run, name))).collect()
    }
}

/// One run with a worker killed.
#[derive(Debug, Clone)]
pub struct Injection {
    /// The worker killed.
    pub killed: String,
    /// Whether every result equalled the fault-free one.
    pub same: bool,
    /// Whether the fault was met: the second run found the worker lost and rebuilt its silos
    /// (a run that never noticed the kill tested nothing).
    pub exercised: bool,
    /// What the master said about rebuilding the lost silos.
    pub recovery: Vec<String>,
}

/// What the exploration found.
#[derive(Debug, Clone)]
pub struct Report {
    /// The workers the results depend on, from the fault-free run's provenance.
    pub depends_on: Vec<String>,
    /// Workers that were started but had no part in the results.
    pub independent: Vec<String>,
    /// One run per worker the results depend on.
    pub injections: Vec<Injection>,
}

impl Report {
    /// Whether every injected fault was met and left the results as they were.
    pub fn all_same(&self) -> bool {
        self.injections.iter().all(|injection| injection.same && injection.exercised)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "the result depends on: {}", self.depends_on.join(", "))?;
        if !self.independent.is_empty() {
            writeln!(f, "not on: {} (not killed: it cannot matter)", self.independent.join(", "))?;
        }
        for injection in &self.injections {
            let verdict = match (injection.same, injection.exercised) {
                (true, true) => "same result",
                (false, _) => "DIFFERENT RESULT",
                (true, false) => "NOT EXERCISED (the kill was not noticed)",
            };
            writeln!(f, "killed {}: {verdict}", injection.killed)?;
            for line in &injection.recovery {
                writeln!(f, "    {line}")?;
            }
        }
        Ok(())
    }
}

/// Runs the probe once without faults, then once per worker its results depend on, killing
/// that worker between the master's two runs.
pub fn explore(exes: &Executables, probe: &Probe) -> io::Result<Report> {
    let start = || Cluster::start(exes, &probe.scenario, probe.workers, true, probe.text.as_deref());
    let mut clean = start()?;
    let mut depends_on = Vec::new();
    for trace in &probe.traces {
        depends_on.extend(clean.depends_on(trace)?);
    }
    depends_on.sort();
    depends_on.dedup();
    let expected = probe.results(&clean, "first")?;
    clean.wait_paused()?;
    clean.resume()?;
    if probe.results(&clean, "second")? != expected {
        return Err(io::Error::other("without faults, the second run differs from the first"));
    }
    let independent = clean.workers.iter().filter(|name| !depends_on.contains(name)).cloned().collect();
    drop(clean);

    let mut injections = Vec::new();
    for worker in &depends_on {
        let mut cluster = start()?;
        cluster.wait_paused()?;
        cluster.launch.kill(worker)?;
        cluster.resume()?;
        let same = probe.results(&cluster, "second")? == expected;
        let recovery = cluster.master_lines("rebuilt on");
        let exercised = !cluster.master_lines(&format!("{worker} was lost")).is_empty();
        injections.push(Injection { killed: worker.clone(), same, exercised, recovery });
    }
    Ok(Report { depends_on, independent, injections })
}
