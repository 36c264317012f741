//! Starting a master and workers as processes with the launcher: shared by the demo, the
//! lineage-driven fault injection and the process tests.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use loci::launch::Launch;
use serde::de::DeserializeOwned;

/// How long a process may take to say what it is waited for.
pub const WAIT: Duration = Duration::from_secs(60);

/// Where the executables are.
#[derive(Debug, Clone)]
pub struct Executables {
    /// `fp-master`.
    pub master: PathBuf,
    /// `fp-worker`.
    pub worker: PathBuf,
}

impl Executables {
    /// The executables in directory `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Executables { master: dir.join("fp-master"), worker: dir.join("fp-worker") }
    }

    /// The executables next to the running one, built if they are missing or stale.
    pub fn siblings() -> io::Result<Self> {
        Ok(Executables::in_dir(&loci::launch::sibling_executables("function-passing", "fp-master")?))
    }
}

/// A master (`master`) running `scenario`, and workers `w1`..`wN`, all started; the master has
/// printed its workers when this returns. With `pause`, the master waits for a line between its
/// two runs (see [`Cluster::resume`]).
pub struct Cluster {
    /// The processes.
    pub launch: Launch,
    /// The workers' names.
    pub workers: Vec<String>,
}

impl Cluster {
    /// Starts the cluster.
    pub fn start(
        exes: &Executables,
        scenario: &str,
        workers: usize,
        pause: bool,
        text: Option<&Path>,
    ) -> io::Result<Self> {
        let mut launch = if std::env::var_os("FP_SHOW").is_some() { Launch::new() } else { Launch::new().quiet() };
        launch.credentials()?;
        let count = workers.to_string();
        let mut args = vec!["--listen", "127.0.0.1:0", "--scenario", scenario, "--workers", &count];
        if pause {
            args.push("--pause");
        }
        let text = text.map(|text| text.to_string_lossy().into_owned());
        if let Some(text) = &text {
            args.extend(["--text", text]);
        }
        launch.start("master", &exes.master, &args)?;
        let connect = format!("master={}", launch.listen_addr("master")?);
        let names: Vec<String> = (1..=workers).map(|i| format!("w{i}")).collect();
        for name in &names {
            launch.start(name, &exes.worker, &["--listen", "127.0.0.1:0", "--connect", &connect])?;
        }
        let cluster = Cluster { launch, workers: names };
        cluster.master_line("workers: ")?;
        Ok(cluster)
    }

    /// Waits until the master prints a line that starts with `prefix` (other lines may contain
    /// it anywhere: results carry text); the first such line, without the prefix.
    pub fn master_line(&self, prefix: &str) -> io::Result<String> {
        self.launch.wait_for_line_starting("master", prefix, WAIT)
    }

    /// Waits for the master's result line `result NAME JSON` and parses it.
    pub fn result<T: DeserializeOwned>(&self, name: &str) -> io::Result<T> {
        let json = self.master_line(&format!("result {name} "))?;
        serde_json::from_str(&json).map_err(io::Error::other)
    }

    /// The workers the master said `what` depends on (`WHAT depends on: w1,w2`), the first
    /// time it said so.
    pub fn depends_on(&self, what: &str) -> io::Result<Vec<String>> {
        let line = self.master_line(&format!("{what} depends on: "))?;
        Ok(line.split(',').filter(|name| !name.is_empty()).map(str::to_owned).collect())
    }

    /// Waits until the master paused between its runs.
    pub fn wait_paused(&self) -> io::Result<()> {
        self.master_line(crate::scenarios::PAUSED).map(drop)
    }

    /// Lets a paused master run again.
    pub fn resume(&mut self) -> io::Result<()> {
        self.launch.say("master", "")
    }

    /// The master's output lines that contain `needle`.
    pub fn master_lines(&self, needle: &str) -> Vec<String> {
        self.launch.output("master").into_iter().filter(|line| line.contains(needle)).collect()
    }
}

/// The text the word count reads: loci's guide, every page of `docs/` in name order, written
/// to `dir`; its path and text.
pub fn bundled_text(dir: &Path) -> io::Result<(PathBuf, String)> {
    example_support::write_guide(dir)
}
