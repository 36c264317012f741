//! Starting a master silo, slave silos and clients as processes with the launcher: shared by
//! the demo, the measurement and the process tests.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use loci::launch::Launch;
use serde::de::DeserializeOwned;

/// How long a process may take to print what it is waited for.
pub const WAIT: Duration = Duration::from_secs(60);

/// Where the executables are.
#[derive(Debug, Clone)]
pub struct Executables {
    /// `orleans-master`.
    pub master: PathBuf,
    /// `orleans-silo`.
    pub silo: PathBuf,
    /// `orleans-client`.
    pub client: PathBuf,
}

impl Executables {
    /// The executables in directory `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Executables {
            master: dir.join("orleans-master"),
            silo: dir.join("orleans-silo"),
            client: dir.join("orleans-client"),
        }
    }

    /// The executables next to the running one, built if they are missing or stale.
    pub fn siblings() -> io::Result<Self> {
        Ok(Executables::in_dir(&loci::launch::sibling_executables("orleans", "orleans-client")?))
    }
}

/// A master silo (`master`) and slave silos sharing one SQLite database.
pub struct Cluster {
    /// The processes.
    pub launch: Launch,
    exes: Executables,
    master: String,
    db: PathBuf,
    idle_ms: u64,
}

impl Cluster {
    /// Starts the master and `silos` slave silos `s1`..`sN`, which deactivate grains idle for
    /// `idle_ms`.
    pub fn start(exes: &Executables, silos: usize, idle_ms: u64) -> io::Result<Self> {
        let mut launch = if std::env::var_os("ORLEANS_SHOW").is_some() { Launch::new() } else { Launch::new().quiet() };
        let dir = launch.credentials()?;
        launch.start("master", &exes.master, &["--listen", "127.0.0.1:0"])?;
        let master = format!("master={}", launch.listen_addr("master")?);
        let mut cluster = Cluster { launch, exes: exes.clone(), master, db: dir.join("grains.db"), idle_ms };
        for i in 1..=silos {
            cluster.add_silo(&format!("s{i}"))?;
        }
        Ok(cluster)
    }

    /// Starts one more slave silo, and waits until the master sees it.
    pub fn add_silo(&mut self, name: &str) -> io::Result<()> {
        let db = self.db.to_string_lossy().into_owned();
        let idle = self.idle_ms.to_string();
        let args = ["--listen", "127.0.0.1:0", "--connect", &self.master, "--db", &db, "--idle-ms", &idle];
        self.launch.start(name, &self.exes.silo, &args)?;
        self.launch.wait_for("master", &format!("slave silo {name} joined"), WAIT)?;
        Ok(())
    }

    /// Starts client `name` running `scenario` with more flags.
    pub fn client(&mut self, name: &str, scenario: &str, flags: &[&str]) -> io::Result<()> {
        let master = self.master.clone();
        let mut args = vec!["--connect", master.as_str(), "--scenario", scenario];
        args.extend_from_slice(flags);
        self.launch.start(name, &self.exes.client, &args)
    }

    /// Waits until process `name` prints a line that starts with `prefix` (other lines may
    /// contain it anywhere); that line without the prefix.
    pub fn line(&self, name: &str, prefix: &str) -> io::Result<String> {
        self.launch.wait_for_line_starting(name, prefix, WAIT)
    }

    /// Waits for client `name`'s result line `result RESULT JSON` and parses it.
    pub fn result<T: DeserializeOwned>(&self, name: &str, result: &str) -> io::Result<T> {
        let json = self.line(name, &format!("result {result} "))?;
        serde_json::from_str(&json).map_err(io::Error::other)
    }

    /// Waits until client `name` paused.
    pub fn wait_paused(&self, name: &str) -> io::Result<()> {
        self.line(name, crate::scenarios::PAUSED).map(drop)
    }

    /// Lets paused client `name` go on.
    pub fn resume(&mut self, name: &str) -> io::Result<()> {
        self.launch.say(name, "")
    }

    /// How many lines of process `name` contain `needle`.
    pub fn count(&self, name: &str, needle: &str) -> usize {
        self.launch.count(name, needle)
    }
}
