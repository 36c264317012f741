//! How a Worker starts AppMasters and Executors as child processes: a thread of its own owns
//! the launcher, so that the children's parent-death signal is tied to a thread that lives as
//! long as the Worker (a child dies with its Worker, as Gearpump's executors do).

use std::io;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Mutex;

use loci::launch::Launch;
use tokio::sync::oneshot;

enum Command {
    Start { name: String, exe: PathBuf, args: Vec<String>, done: oneshot::Sender<io::Result<()>> },
    Kill { name: String, done: oneshot::Sender<io::Result<()>> },
    Exited { names: Vec<String>, done: oneshot::Sender<Vec<String>> },
}

/// Starts and kills the Worker's child processes.
pub struct Spawner {
    commands: Mutex<mpsc::Sender<Command>>,
}

impl Default for Spawner {
    fn default() -> Self {
        Spawner::new()
    }
}

impl Spawner {
    /// A spawner whose children print their lines through this process, each prefixed with
    /// its name.
    pub fn new() -> Self {
        let (commands, received) = mpsc::channel::<Command>();
        std::thread::spawn(move || {
            let mut launch = Launch::new();
            for command in received {
                match command {
                    Command::Start { name, exe, args, done } => {
                        let args: Vec<&str> = args.iter().map(String::as_str).collect();
                        // Children say what they do; their connection logs would drown it.
                        let _ = done.send(launch.start_with_env(&name, &exe, &args, &[("LOCI_LOG", "warn")]));
                    }
                    Command::Kill { name, done } => {
                        let _ = done.send(launch.kill(&name));
                    }
                    Command::Exited { names, done } => {
                        let exited = names
                            .into_iter()
                            .filter(|name| launch.wait_exit(name, std::time::Duration::ZERO).is_ok())
                            .collect();
                        let _ = done.send(exited);
                    }
                }
            }
        });
        Spawner { commands: Mutex::new(commands) }
    }

    fn send(&self, command: Command) -> io::Result<()> {
        let commands = self.commands.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        commands.send(command).map_err(|_| io::Error::other("the spawner thread ended"))
    }

    /// Starts `exe` with `args` as child `name`.
    pub async fn start(&self, name: &str, exe: PathBuf, args: Vec<String>) -> io::Result<()> {
        let (done, started) = oneshot::channel();
        self.send(Command::Start { name: name.to_owned(), exe, args, done })?;
        started.await.map_err(|_| io::Error::other("the spawner thread ended"))?
    }

    /// Which of the children `names` have ended.
    pub async fn exited(&self, names: Vec<String>) -> Vec<String> {
        let (done, exited) = oneshot::channel();
        if self.send(Command::Exited { names, done }).is_err() {
            return Vec::new();
        }
        exited.await.unwrap_or_default()
    }

    /// Kills child `name`.
    pub async fn kill(&self, name: &str) -> io::Result<()> {
        let (done, killed) = oneshot::channel();
        self.send(Command::Kill { name: name.to_owned(), done })?;
        killed.await.map_err(|_| io::Error::other("the spawner thread ended"))?
    }
}

/// The executable `name` next to this one.
pub fn sibling(name: &str) -> io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().ok_or_else(|| io::Error::other("the executable has no directory"))?;
    Ok(dir.join(name))
}
