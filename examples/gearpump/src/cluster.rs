//! Starting a Gearpump cluster as processes with the launcher: shared by the demo and the tests.

use std::io;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::time::Duration;

use loci::launch::Launch;
use serde::de::DeserializeOwned;

/// How long a process may take to print what it is waited for.
pub const WAIT: Duration = Duration::from_secs(90);

/// Where the executables are (the Workers find the AppMaster's and Executor's next to theirs).
#[derive(Debug, Clone)]
pub struct Executables {
    /// The directory.
    pub dir: PathBuf,
}

impl Executables {
    /// The executables next to the running one, built if they are missing or stale.
    pub fn siblings() -> io::Result<Self> {
        Ok(Executables { dir: loci::launch::sibling_executables("gearpump", "gearpump-client")? })
    }

    fn exe(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// A MasterProxy (`proxy`), a Master (`master`, on a fixed port so that it can be restarted
/// there) and Workers.
pub struct Cluster {
    /// The processes.
    pub launch: Launch,
    exes: Executables,
    proxy: String,
}

impl Cluster {
    /// Starts the proxy, the Master, and `workers` Workers `w1`.. with `slots` slots each.
    pub fn start(exes: &Executables, workers: usize, slots: u32) -> io::Result<Self> {
        let mut launch =
            if std::env::var_os("GEARPUMP_SHOW").is_some() { Launch::new() } else { Launch::new().quiet() };
        launch.credentials()?;
        launch.start("proxy", exes.exe("gearpump-proxy"), &["--listen", "127.0.0.1:0"])?;
        let proxy = format!("masterproxy={}", launch.listen_addr("proxy")?);
        let port = UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port();
        let listen = format!("127.0.0.1:{port}");
        launch.start("master", exes.exe("gearpump-master"), &["--listen", &listen, "--connect", &proxy])?;
        launch.wait_for("proxy", "master master joined", WAIT)?;
        let mut cluster = Cluster { launch, exes: exes.clone(), proxy };
        for i in 1..=workers {
            cluster.add_worker(&format!("w{i}"), slots)?;
        }
        Ok(cluster)
    }

    /// Starts Worker `name` with `slots` slots, and waits until it registered.
    pub fn add_worker(&mut self, name: &str, slots: u32) -> io::Result<()> {
        let slots = slots.to_string();
        let args = ["--listen", "127.0.0.1:0", "--connect", &self.proxy, "--slots", &slots];
        // A Worker starts AppMasters and Executors under its name, with its credentials.
        self.launch.grant(name, &["AppMaster", "Executor"]);
        self.launch.start(name, self.exes.exe("gearpump-worker"), &args)?;
        self.launch.wait_for("master", &format!("worker {name} registered"), WAIT)?;
        Ok(())
    }

    /// Starts client `name` counting `text`, with more flags.
    pub fn client(&mut self, name: &str, text: &Path, flags: &[&str]) -> io::Result<()> {
        let text = text.to_string_lossy().into_owned();
        let proxy = self.proxy.clone();
        let mut args = vec!["--connect", proxy.as_str(), "--text", text.as_str()];
        args.extend_from_slice(flags);
        self.launch.start(name, self.exes.exe("gearpump-client"), &args)
    }

    /// Waits until process `name` prints a line that starts with `prefix`; the rest of it.
    pub fn line(&self, name: &str, prefix: &str) -> io::Result<String> {
        self.launch.wait_for_line_starting(name, prefix, WAIT)
    }

    /// Client `name`'s result line `result RESULT JSON`, parsed.
    pub fn result<T: DeserializeOwned>(&self, name: &str, result: &str) -> io::Result<T> {
        let json = self.line(name, &format!("result {result} "))?;
        serde_json::from_str(&json).map_err(io::Error::other)
    }

    /// Lines of process `name` that contain `needle`.
    pub fn lines(&self, name: &str, needle: &str) -> Vec<String> {
        self.launch.output(name).into_iter().filter(|line| line.contains(needle)).collect()
    }
}

/// The text the word count reads: loci's guide, every page of `docs/` in name order, written
/// to `dir`; its path and text.
pub fn bundled_text(dir: &Path) -> io::Result<(PathBuf, String)> {
    example_support::write_guide(dir)
}
