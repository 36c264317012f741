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
//! Every process gets `LOCI_NAME` (its name), `LOCI_CREDENTIALS` (once [`Launch::credentials`]
//! made them) and `LOCI_LOG=info` unless given otherwise. On Linux each process also gets a
//! parent-death signal: if the thread that started it ends without dropping the `Launch` (the
//! launcher was killed, a test thread panicked), the process is killed, so no orphans stay.

use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// Every line the processes printed, as `(process, line)`, in arrival order.
type History = Arc<Mutex<Vec<(String, String)>>>;

/// One process of a launch, and how to start it again.
struct Process {
    name: String,
    exe: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    child: Child,
    stdin: Option<ChildStdin>,
}

/// A topology of running peer executables; see the [module](self) documentation.
pub struct Launch {
    processes: Vec<Process>,
    history: History,
    echo: bool,
    credentials: Option<PathBuf>,
}

impl Default for Launch {
    fn default() -> Self {
        Self::new()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn not_found(name: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("no process named `{name}` in this launch"))
}

impl Launch {
    /// A launch that shows every line as it arrives, as `    name | line`.
    pub fn new() -> Self {
        Launch { processes: Vec::new(), history: Arc::default(), echo: true, credentials: None }
    }

    /// The same, collecting the output without showing it (for tests).
    pub fn quiet(mut self) -> Self {
        self.echo = false;
        self
    }

    /// Fresh cluster credentials in a temporary directory (made once, removed on drop); the
    /// processes started afterwards use them.
    pub fn credentials(&mut self) -> io::Result<PathBuf> {
        if let Some(dir) = &self.credentials {
            return Ok(dir.clone());
        }
        static LAUNCHES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let launch = LAUNCHES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("loci-launch-{}-{launch}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        crate::credentials::create_cluster(&dir).map_err(|error| io::Error::other(error.to_string()))?;
        self.credentials = Some(dir.clone());
        Ok(dir)
    }

    /// The credentials directory [`Launch::credentials`] made, if it made one.
    pub fn credentials_dir(&self) -> Option<PathBuf> {
        self.credentials.clone()
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
        let args = args.iter().map(|arg| (*arg).to_owned()).collect();
        let env = env.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())).collect();
        let process = self.spawn(name.to_owned(), exe.as_ref().to_owned(), args, env)?;
        self.processes.push(process);
        Ok(())
    }

    fn spawn(&self, name: String, exe: PathBuf, args: Vec<String>, env: Vec<(String, String)>) -> io::Result<Process> {
        let mut command = Command::new(&exe);
        command.args(&args).env("LOCI_NAME", &name).env("LOCI_LOG", "info");
        if let Some(dir) = &self.credentials {
            command.env("LOCI_CREDENTIALS", dir);
        }
        command.envs(env.iter().map(|(key, value)| (key, value)));
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: `prctl` is async-signal-safe; the closure allocates nothing.
            unsafe {
                command.pre_exec(|| {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                        return Err(io::Error::last_os_error());
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
        for output in outputs {
            let (history, echo, name) = (Arc::clone(&self.history), self.echo, name.clone());
            thread::spawn(move || {
                for line in BufReader::new(output).lines().map_while(Result::ok) {
                    if echo {
                        println!("{name:>8} | {line}");
                    }
                    lock(&history).push((name.clone(), line));
                }
            });
        }
        let stdin = child.stdin.take();
        Ok(Process { name, exe, args, env, child, stdin })
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

    /// Every line process `name` printed so far.
    pub fn output(&self, name: &str) -> Vec<String> {
        lock(&self.history).iter().filter(|(who, _)| who == name).map(|(_, line)| line.clone()).collect()
    }

    /// How many lines of process `name` so far contain `needle`.
    pub fn count(&self, name: &str, needle: &str) -> usize {
        self.output(name).iter().filter(|line| line.contains(needle)).count()
    }

    /// Waits until process `name` has printed `count` lines containing `needle`; the last.
    pub fn wait_for_count(&self, name: &str, needle: &str, count: usize, timeout: Duration) -> io::Result<String> {
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

    /// The address process `name` listens on, from its `listening` log line.
    pub fn listen_addr(&self, name: &str) -> io::Result<SocketAddr> {
        let line = self.wait_for(name, "local_addr=", Duration::from_secs(15))?;
        let addr = line.rsplit("local_addr=").next().unwrap_or_default().trim();
        addr.parse().map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("no address in `{line}`")))
    }

    fn signal(&mut self, name: &str, signal: libc::c_int) -> io::Result<()> {
        let pid = self.process(name)?.child.id();
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

    /// Resumes a paused process (SIGCONT).
    pub fn cont(&mut self, name: &str) -> io::Result<()> {
        self.signal(name, libc::SIGCONT)
    }

    /// Kills the process if it still runs and starts it again with the same executable,
    /// arguments and environment.
    pub fn restart(&mut self, name: &str) -> io::Result<()> {
        let index = self.processes.iter().position(|process| process.name == name).ok_or_else(|| not_found(name))?;
        let old = self.processes.remove(index);
        let (exe, args, env) = (old.exe.clone(), old.args.clone(), old.env.clone());
        drop(old);
        let process = self.spawn(name.to_owned(), exe, args, env)?;
        self.processes.insert(index, process);
        Ok(())
    }

    /// Waits until the process exits; its status.
    pub fn wait_exit(&mut self, name: &str, timeout: Duration) -> io::Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        let process = self.process(name)?;
        loop {
            if let Some(status) = process.child.try_wait()? {
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
