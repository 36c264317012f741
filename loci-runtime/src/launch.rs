//! Starting a whole topology of peer executables on one machine, for demos and process tests:
//! cluster credentials, named processes whose output is collected (and shown, each line
//! prefixed with the process's name), typing lines into them, stopping, continuing, killing
//! and restarting them by name, and tearing everything down when the [`Launch`] is dropped.
//!
//! ```no_run
//! use std::time::Duration;
//! # fn main() -> std::io::Result<()> {
//! let mut launch = loci::launch::Launch::new();
//! launch.credentials()?;
//! launch.start("registry", "target/release/registry", &["--listen", "127.0.0.1:0"])?;
//! let registry = launch.listen_addr("registry")?;
//! let connect = format!("registry={registry}");
//! launch.start("alice", "target/release/node", &["--connect", &connect])?;
//! launch.wait_for("alice", "joined the chat", Duration::from_secs(10))?;
//! launch.say("alice", "hello")?;
//! launch.kill("alice")?;
//! # Ok(())
//! # }
//! ```
//!
//! A library, not a description file: demos and tests are Rust already, and describe the
//! order of starting, what to wait for between steps and what to check with the same code.
//!
//! Every process gets `LOCI_NAME` (its name), `LOCI_CREDENTIALS` and `LOCI_LOG=info` unless
//! given otherwise. Once [`Launch::credentials`] made a cluster CA, every process gets a
//! certificate of its own, issued for its name and for the peer kind its executable runs
//! (which the launch asks it, see [`DESCRIBE_PEER_VAR`]), plus the kinds [`Launch::grant`]
//! adds. On Linux each process also gets a
//! parent-death signal: if the thread that started it ends without dropping the `Launch` (the
//! launcher was killed, a test thread panicked), the process is killed, so no orphans stay.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// Every line the processes printed, as `(process, run, line)`, in arrival order; `run` counts
/// the starts of a process, so a restarted one's output is its own.
type History = Arc<Mutex<Vec<(String, u64, String)>>>;

/// One process of a launch, and how to start it again.
struct Process {
    name: String,
    run: u64,
    exe: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    child: Child,
    stdin: Option<ChildStdin>,
    /// The threads reading its stdout and stderr; they end at the end of its output.
    readers: Vec<thread::JoinHandle<()>>,
}

/// A topology of running peer executables; see the [module](self) documentation.
pub struct Launch {
    processes: Vec<Process>,
    history: History,
    echo: bool,
    credentials: Option<PathBuf>,
    /// The peer kind each executable runs, as it said.
    peers: HashMap<PathBuf, String>,
    /// Peer kinds granted to processes besides their executable's, by process name.
    grants: HashMap<String, Vec<String>>,
}

/// The environment variable that makes a peer executable print the peer kind it runs, as
/// `loci peer <Peer> of module <module>`, and exit: how a launcher learns which certificate
/// to issue it.
pub const DESCRIBE_PEER_VAR: &str = "LOCI_DESCRIBE_PEER";

/// How long an executable may take to say which peer it runs.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a launch keeps its cluster CA, beside the processes' credentials directories.
const CA_DIR: &str = "ca";

impl Default for Launch {
    fn default() -> Self {
        Self::new()
    }
}

/// The directory of the running executable, with the executables of cargo package `package`
/// in it brought up to date: a demo's peers sit next to the demo. Under `cargo run` they are
/// built (a no-op when they are current), so a demo never runs stale peers; otherwise only
/// when `needed` is missing there.
pub fn sibling_executables(package: &str, needed: &str) -> io::Result<PathBuf> {
    let dir = std::env::current_exe()?.parent().map(Path::to_path_buf).unwrap_or_default();
    if std::env::var_os("CARGO").is_some() || !dir.join(needed).exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut build = Command::new(cargo);
        build.args(["build", "-p", package, "--bins"]);
        // Variables `cargo run` sets for this process would make the nested build look
        // different to dependencies' build scripts and rebuild them, back and forth.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("CARGO_") && !matches!(key.as_ref(), "CARGO_HOME" | "CARGO_TARGET_DIR") {
                build.env_remove(key.as_ref());
            }
        }
        if dir.ends_with("release") {
            build.arg("--release");
        }
        if !build.status()?.success() {
            return Err(io::Error::other(format!("building the executables of `{package}` failed")));
        }
    }
    Ok(dir)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Replaces a `--listen HOST:0` (or `--listen=HOST:0`) in `args` with the address the port
/// 0 turned into, `given`.
fn listen_again_on(args: &mut [String], given: SocketAddr) {
    let any_port = |value: &str| value.parse::<SocketAddr>().is_ok_and(|addr| addr.port() == 0);
    for index in 0..args.len() {
        if args[index] == "--listen" && args.get(index + 1).is_some_and(|value| any_port(value)) {
            args[index + 1] = given.to_string();
        } else if args[index].strip_prefix("--listen=").is_some_and(any_port) {
            args[index] = format!("--listen={given}");
        }
    }
}

fn not_found(name: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("no process named `{name}` in this launch"))
}

impl Launch {
    /// A launch that shows every line as it arrives, as `    name | line`.
    pub fn new() -> Self {
        Launch {
            processes: Vec::new(),
            history: Arc::default(),
            echo: true,
            credentials: None,
            peers: HashMap::new(),
            grants: HashMap::new(),
        }
    }

    /// The same, collecting the output without showing it (for tests).
    pub fn quiet(mut self) -> Self {
        self.echo = false;
        self
    }

    /// A fresh cluster CA in a temporary directory (made once, removed on drop): the processes
    /// started afterwards get certificates of their own, issued by it. Returns the directory,
    /// which holds the CA in `ca/` and each process's credentials in a directory named after
    /// it; put scratch files of a launch there too.
    pub fn credentials(&mut self) -> io::Result<PathBuf> {
        if let Some(dir) = &self.credentials {
            return Ok(dir.clone());
        }
        // A fresh directory of our own (not one someone else made first), readable by us only.
        let unguessable = {
            use std::hash::{BuildHasher, Hasher};
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u32(std::process::id());
            hasher.finish()
        };
        let dir = std::env::temp_dir().join(format!("loci-launch-{}-{unguessable:016x}", std::process::id()));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir)?;
        crate::credentials::ClusterCa::create(&dir.join(CA_DIR))
            .map_err(|error| io::Error::other(error.to_string()))?;
        self.credentials = Some(dir.clone());
        Ok(dir)
    }

    /// The directory [`Launch::credentials`] made, if it made one.
    pub fn credentials_dir(&self) -> Option<PathBuf> {
        self.credentials.clone()
    }

    /// Grants process `name` the peer kinds `peers` besides its executable's, in the
    /// certificate it gets when it first starts (call it before): for a process that starts
    /// instances of other kinds under its name (`name/child`), which use its credentials.
    pub fn grant(&mut self, name: &str, peers: &[&str]) {
        self.grants.entry(name.to_owned()).or_default().extend(peers.iter().map(|peer| (*peer).to_owned()));
    }

    /// Issues credentials for an instance named `name` of the peer kinds `peers` (for an
    /// instance the caller runs itself); returns the directory to pass with `--credentials`
    /// or [`crate::Builder::credentials`]. Needs [`Launch::credentials`] first.
    pub fn issue(&self, name: &str, peers: &[&str]) -> io::Result<PathBuf> {
        let root = self.credentials.as_ref().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, "the launch has no cluster CA; call `Launch::credentials` first")
        })?;
        let ca =
            crate::credentials::ClusterCa::open(&root.join(CA_DIR)).map_err(|e| io::Error::other(e.to_string()))?;
        let dir = root.join(name.replace(['/', '\\'], "_"));
        ca.issue(peers, name, &dir).map_err(|e| io::Error::other(e.to_string()))?;
        Ok(dir)
    }

    /// The peer kind executable `exe` runs, as it says when asked: with the arguments it is
    /// about to be started with, which its own flags may require.
    fn peer_of(&mut self, exe: &Path, args: &[String]) -> io::Result<String> {
        if let Some(peer) = self.peers.get(exe) {
            return Ok(peer.clone());
        }
        let scratch = self.credentials.clone().unwrap_or_else(std::env::temp_dir);
        let child = Command::new(exe)
            .args(args)
            .env(DESCRIBE_PEER_VAR, "1")
            .current_dir(scratch)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| io::Error::new(error.kind(), format!("cannot start {}: {error}", exe.display())))?;
        // A loci peer answers at once; anything else must not hold the launch up. Its output is
        // read meanwhile (on a thread), so a talkative child cannot block on a full pipe.
        let pid = child.id();
        let (done, finished) = std::sync::mpsc::channel();
        thread::spawn(move || {
            let _ = done.send(child.wait_with_output());
        });
        let output = match finished.recv_timeout(DESCRIBE_TIMEOUT) {
            Ok(output) => output?,
            Err(_) => {
                // SAFETY: `kill` only takes a pid and a signal. The child still runs (it did not
                // answer), so the pid is its; it could be reused only if the child ended and
                // was reaped in the instant since the timeout.
                unsafe {
                    libc::kill(pid as libc::pid_t, libc::SIGKILL);
                }
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "{} did not say which peer it runs within {DESCRIBE_TIMEOUT:?}: is it a loci peer executable that parses its flags with `loci::InstanceArgs`?",
                        exe.display()
                    ),
                ));
            }
        };
        let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        let peer = said
            .lines()
            .find_map(|line| line.strip_prefix("loci peer "))
            .and_then(|rest| rest.split(' ').next())
            .ok_or_else(|| {
                io::Error::other(format!(
                    "{} did not say which peer it runs (is it a loci peer executable?); it printed: {said}",
                    exe.display()
                ))
            })?
            .to_owned();
        self.peers.insert(exe.to_owned(), peer.clone());
        Ok(peer)
    }

    /// The credentials directory of process `name`, issued on its first start.
    fn credentials_of(&mut self, name: &str, exe: &Path, args: &[String]) -> io::Result<Option<PathBuf>> {
        let Some(root) = self.credentials.clone() else { return Ok(None) };
        let dir = root.join(name.replace(['/', '\\'], "_"));
        if dir.join(crate::credentials::INSTANCE_CERT_FILE).is_file() {
            return Ok(Some(dir));
        }
        let mut peers = vec![self.peer_of(exe, args)?];
        peers.extend(self.grants.get(name).into_iter().flatten().cloned());
        let peers: Vec<&str> = peers.iter().map(String::as_str).collect();
        self.issue(name, &peers).map(Some)
    }

    /// Starts executable `exe` with `args` as process `name`.
    pub fn start(&mut self, name: &str, exe: impl AsRef<Path>, args: &[&str]) -> io::Result<()> {
        self.start_with_env(name, exe, args, &[])
    }

    /// Starts executable `exe` with `args` and environment `env` as process `name`.
    pub fn start_with_env(
        &mut self,
        name: &str,
        exe: impl AsRef<Path>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> io::Result<()> {
        if self.processes.iter().any(|process| process.name == name) {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("a process named `{name}` runs already")));
        }
        let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
        let env = env.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())).collect();
        let credentials = self.credentials_of(name, exe.as_ref(), &args)?;
        let process = self.spawn(name.to_owned(), 0, exe.as_ref().to_owned(), args, env, credentials)?;
        self.processes.push(process);
        Ok(())
    }

    fn spawn(
        &self,
        name: String,
        run: u64,
        exe: PathBuf,
        args: Vec<String>,
        env: Vec<(String, String)>,
        credentials: Option<PathBuf>,
    ) -> io::Result<Process> {
        let mut command = Command::new(&exe);
        command.args(&args).env("LOCI_NAME", &name).env("LOCI_LOG", "info");
        if let Some(dir) = &credentials {
            command.env("LOCI_CREDENTIALS", dir);
        }
        command.envs(env.iter().map(|(key, value)| (key, value)));
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;
            let parent = std::process::id();
            // SAFETY: `prctl` and `getppid` are async-signal-safe; the closure allocates nothing.
            unsafe {
                command.pre_exec(move || {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                        return Err(io::Error::last_os_error());
                    }
                    // The launcher died between the fork and the line above: do not run.
                    if u32::try_from(libc::getppid()).ok() != Some(parent) {
                        return Err(io::Error::other("the launcher is gone"));
                    }
                    Ok(())
                });
            }
        }
        let mut child = command
            .spawn()
            .map_err(|error| io::Error::new(error.kind(), format!("cannot start {}: {error}", exe.display())))?;
        let outputs: Vec<Box<dyn io::Read + Send>> = [
            child.stdout.take().map(|out| Box::new(out) as Box<dyn io::Read + Send>),
            child.stderr.take().map(|err| Box::new(err) as Box<dyn io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        .collect();
        let mut readers = Vec::new();
        for output in outputs {
            let (history, echo, name) = (Arc::clone(&self.history), self.echo, name.clone());
            readers.push(thread::spawn(move || {
                // Read to the end whatever comes (a child whose pipe is not read would block).
                let mut output = BufReader::new(output);
                let mut bytes = Vec::new();
                while matches!(output.read_until(b'\n', &mut bytes), Ok(read) if read > 0) {
                    let line = String::from_utf8_lossy(&bytes).trim_end_matches(['\n', '\r']).to_owned();
                    bytes.clear();
                    if echo {
                        let _ = writeln!(io::stdout().lock(), "{name:>8} | {line}");
                    }
                    lock(&history).push((name.clone(), run, line));
                }
            }));
        }
        let stdin = child.stdin.take();
        Ok(Process { name, run, exe, args, env, child, stdin, readers })
    }

    fn process(&mut self, name: &str) -> io::Result<&mut Process> {
        self.processes.iter_mut().find(|process| process.name == name).ok_or_else(|| not_found(name))
    }

    /// The process's id.
    pub fn pid(&mut self, name: &str) -> io::Result<u32> {
        Ok(self.process(name)?.child.id())
    }

    /// Types `line` into the process's stdin (shown as `    name < line`).
    pub fn say(&mut self, name: &str, line: &str) -> io::Result<()> {
        let echo = self.echo;
        let process = self.process(name)?;
        if echo {
            println!("{name:>8} < {line}");
        }
        let stdin = process.stdin.as_mut().ok_or_else(|| not_found(name))?;
        writeln!(stdin, "{line}")?;
        stdin.flush()
    }

    /// Every line process `name` printed so far (since it was last started).
    pub fn output(&self, name: &str) -> Vec<String> {
        let Some(run) = self.processes.iter().find(|process| process.name == name).map(|process| process.run) else {
            return Vec::new();
        };
        lock(&self.history)
            .iter()
            .filter(|(who, of, _)| who == name && *of == run)
            .map(|(_, _, line)| line.clone())
            .collect()
    }

    /// How many lines of process `name` so far contain `needle`.
    pub fn count(&self, name: &str, needle: &str) -> usize {
        self.output(name).iter().filter(|line| line.contains(needle)).count()
    }

    /// Waits until process `name` has printed `count` lines containing `needle`; the last.
    pub fn wait_for_count(&self, name: &str, needle: &str, count: usize, timeout: Duration) -> io::Result<String> {
        let count = count.max(1);
        let deadline = Instant::now() + timeout;
        loop {
            let found: Vec<String> = self.output(name).into_iter().filter(|line| line.contains(needle)).collect();
            if found.len() >= count {
                return Ok(found[count - 1].clone());
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "`{name}` printed {count}× `{needle}` not within {timeout:?}; its output:\n{}",
                        self.output(name).join("\n")
                    ),
                ));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until process `name` prints a line containing `needle`; that line.
    pub fn wait_for(&self, name: &str, needle: &str, timeout: Duration) -> io::Result<String> {
        self.wait_for_count(name, needle, 1, timeout)
    }

    /// Waits until process `name` prints a line that starts with `prefix`; the rest of that
    /// line. Lines that hold `prefix` elsewhere (a printed result that carries text) do not count.
    pub fn wait_for_line_starting(&self, name: &str, prefix: &str, timeout: Duration) -> io::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let lines = self.output(name);
            if let Some(line) = lines.iter().find(|line| line.starts_with(prefix)) {
                return Ok(line[prefix.len()..].to_owned());
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "`{name}` printed no line starting with `{prefix}` within {timeout:?}; its output:\n{}",
                        lines.join("\n")
                    ),
                ));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// The address process `name` listens on, from its `listening` log line.
    pub fn listen_addr(&self, name: &str) -> io::Result<SocketAddr> {
        let line = self.wait_for(name, "local_addr=", Duration::from_secs(15))?;
        let addr = line.rsplit("local_addr=").next().unwrap_or_default().trim();
        addr.parse().map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("no address in `{line}`")))
    }

    /// The address process `name` logged that it listens on, if it has by now.
    fn given_listen_addr(&self, name: &str) -> Option<SocketAddr> {
        let output = self.output(name);
        let line = output.iter().find(|line| line.contains("local_addr="))?;
        line.rsplit("local_addr=").next()?.trim().parse().ok()
    }

    fn signal(&mut self, name: &str, signal: libc::c_int) -> io::Result<()> {
        let process = self.process(name)?;
        // An exited child keeps its id until reaped; once reaped, the id may be another's.
        if process.child.try_wait()?.is_some() {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("`{name}` has exited")));
        }
        let pid = process.child.id();
        let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::other("process id out of range"))?;
        // SAFETY: sends a signal to a child this launch started and has not reaped.
        if unsafe { libc::kill(pid, signal) } == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Kills the process at once (SIGKILL), as a crash would; it stays in the launch, to be
    /// restarted or waited for.
    pub fn kill(&mut self, name: &str) -> io::Result<()> {
        self.process(name)?.child.kill()
    }

    /// Asks the process to stop (SIGTERM): a peer shuts down cleanly.
    pub fn terminate(&mut self, name: &str) -> io::Result<()> {
        self.signal(name, libc::SIGTERM)
    }

    /// Pauses the process (SIGSTOP), as a stall would.
    pub fn stop(&mut self, name: &str) -> io::Result<()> {
        self.signal(name, libc::SIGSTOP)
    }

    /// Sends the process SIGHUP: a loci instance loads its credentials again.
    pub fn hangup(&mut self, name: &str) -> io::Result<()> {
        self.signal(name, libc::SIGHUP)
    }

    /// Resumes a paused process (SIGCONT).
    pub fn cont(&mut self, name: &str) -> io::Result<()> {
        self.signal(name, libc::SIGCONT)
    }

    /// Kills the process if it still runs and starts it again with the same executable,
    /// arguments and environment; its output is then the new process's. A process started
    /// with `--listen IP:0` (or `--listen=IP:0`) that has logged its address is started again
    /// on the port it was given, so that its remotes find it where it was; a port 0 given
    /// otherwise (a host name, `LOCI_LISTEN`) stays 0.
    pub fn restart(&mut self, name: &str) -> io::Result<()> {
        let index = self.processes.iter().position(|process| process.name == name).ok_or_else(|| not_found(name))?;
        let given = self.given_listen_addr(name);
        let old = &mut self.processes[index];
        let _ = old.child.kill();
        let _ = old.child.wait();
        let (run, exe, mut args, env) = (old.run + 1, old.exe.clone(), old.args.clone(), old.env.clone());
        if let Some(given) = given {
            listen_again_on(&mut args, given);
        }
        // The same credentials as before: a restarted instance is the same instance.
        let credentials = self.credentials_of(name, &exe, &args)?;
        let process = self.spawn(name.to_owned(), run, exe, args, env, credentials)?;
        self.processes[index] = process;
        Ok(())
    }

    /// Waits until the process exits; its status.
    pub fn wait_exit(&mut self, name: &str, timeout: Duration) -> io::Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        let process = self.process(name)?;
        loop {
            if let Some(status) = process.child.try_wait()? {
                // Its last lines are still on their way through the readers.
                let readers_deadline = Instant::now() + Duration::from_secs(1);
                while process.readers.iter().any(|reader| !reader.is_finished()) && Instant::now() < readers_deadline {
                    thread::sleep(Duration::from_millis(5));
                }
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("`{name}` did not exit within {timeout:?}"),
                ));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Launch {
    fn drop(&mut self) {
        self.processes.clear();
        if let Some(dir) = &self.credentials {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::listen_again_on;

    #[test]
    fn a_restart_listens_on_the_port_that_port_0_became() {
        let given = "127.0.0.1:40123".parse().unwrap();
        let mut args: Vec<String> =
            ["--listen", "127.0.0.1:0", "--connect", "a=127.0.0.1:0"].iter().map(|arg| arg.to_string()).collect();
        listen_again_on(&mut args, given);
        assert_eq!(args, ["--listen", "127.0.0.1:40123", "--connect", "a=127.0.0.1:0"]);
        let mut args = vec!["--listen=0.0.0.0:0".to_owned()];
        listen_again_on(&mut args, given);
        assert_eq!(args, ["--listen=127.0.0.1:40123"]);
        // A fixed port stays as it was.
        let mut args = vec!["--listen".to_owned(), "127.0.0.1:7000".to_owned()];
        listen_again_on(&mut args, given);
        assert_eq!(args, ["--listen", "127.0.0.1:7000"]);
    }
}
