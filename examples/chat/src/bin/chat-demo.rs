//! Runs the chat demo: creates cluster credentials, starts a registry and three nodes as
//! separate processes over QUIC on loopback, types a few lines into the nodes and shows what
//! every process prints, then kills one node and shows the others carry on.

use std::io::{BufRead, BufReader, Write};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

struct Process {
    name: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Process {
    fn say(&mut self, line: &str) {
        println!("{:>8} < {line}", self.name);
        if let Some(stdin) = &mut self.stdin {
            let _ = writeln!(stdin, "{line}");
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every line any process prints, tagged with the process name.
type Lines = mpsc::Receiver<(&'static str, String)>;

fn spawn(exe: &Path, name: &'static str, args: &[String], tx: &mpsc::Sender<(&'static str, String)>) -> Process {
    let mut child = Command::new(exe)
        .args(args)
        .env("LOCI_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
    for stream in [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child.stderr.take().map(|s| Box::new(s) as _),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send((name, line));
            }
        });
    }
    let stdin = child.stdin.take();
    Process { name, child, stdin }
}

/// Prints lines until one from `who` contains `needle`, or the timeout passes.
fn show_until(lines: &Lines, who: &str, needle: &str, timeout: Duration) -> bool {
    show_until_all(lines, &[(who, needle)], timeout)
}

/// Prints lines until, for every `(who, needle)`, a line from `who` contained `needle`.
fn show_until_all(lines: &Lines, wanted: &[(&str, &str)], timeout: Duration) -> bool {
    let mut missing = wanted.to_vec();
    let deadline = Instant::now() + timeout;
    while !missing.is_empty() {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else { return false };
        match lines.recv_timeout(left) {
            Ok((name, line)) => {
                println!("{name:>8} | {line}");
                missing.retain(|(who, needle)| !(name == *who && line.contains(needle)));
            }
            Err(_) => return false,
        }
    }
    true
}

fn show_for(lines: &Lines, duration: Duration) {
    let deadline = Instant::now() + duration;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match lines.recv_timeout(left) {
            Ok((name, line)) => println!("{name:>8} | {line}"),
            Err(_) => break,
        }
    }
}

/// The peer executables sit next to this one. Under `cargo run` they are brought up to date
/// (a no-op when they are), so the demo never runs stale peers; otherwise they are built only
/// if missing.
fn peer_executables() -> (PathBuf, PathBuf) {
    let dir = std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_path_buf)).unwrap_or_default();
    let (registry, node) = (dir.join("registry"), dir.join("node"));
    let under_cargo = std::env::var_os("CARGO").is_some();
    if under_cargo || !registry.exists() || !node.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut build = Command::new(cargo);
        build.args(["build", "-p", "chat", "--bins"]);
        // Variables `cargo run` sets for this process would make the nested build look different
        // to dependencies' build scripts and rebuild them, back and forth.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("CARGO_") && !matches!(key.as_ref(), "CARGO_HOME" | "CARGO_TARGET_DIR") {
                build.env_remove(key.as_ref());
            }
        }
        if dir.ends_with("release") {
            build.arg("--release");
        }
        let status = build.status().expect("cannot run cargo to build the chat executables");
        assert!(status.success(), "building the chat executables failed");
    }
    (registry, node)
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).map(|a| a.port()).expect("no free UDP port on loopback")
}

fn main() {
    let (registry_exe, node_exe) = peer_executables();
    let credentials = std::env::temp_dir().join(format!("loci-chat-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&credentials);
    loci::credentials::create_cluster(&credentials).expect("cannot create demo credentials");
    println!("created cluster credentials in {}", credentials.display());

    let addr = format!("127.0.0.1:{}", free_port());
    let creds = credentials.display().to_string();
    let (tx, lines) = mpsc::channel();
    let _registry = spawn(
        &registry_exe,
        "registry",
        &["--listen".into(), addr.clone(), "--credentials".into(), creds.clone(), "--name".into(), "registry".into()],
        &tx,
    );
    assert!(show_until(&lines, "registry", "listening", Duration::from_secs(10)), "the registry did not start");

    let mut nodes: Vec<Process> = ["alice", "bob", "carol"]
        .into_iter()
        .map(|name| {
            let args = [
                "--connect".into(),
                format!("registry={addr}"),
                "--credentials".into(),
                creds.clone(),
                "--name".into(),
                name.to_owned(),
            ];
            spawn(&node_exe, name, &args, &tx)
        })
        .collect();
    let joins: Vec<(&str, &str)> = nodes.iter().map(|node| (node.name, "joined the chat")).collect();
    assert!(show_until_all(&lines, &joins, Duration::from_secs(10)), "not every node joined");
    thread::sleep(Duration::from_millis(300));

    nodes[0].say("hi everyone, alice here");
    show_for(&lines, Duration::from_millis(600));
    nodes[1].say("hello alice! bob speaking");
    show_for(&lines, Duration::from_millis(600));
    nodes[2].say("/who");
    show_for(&lines, Duration::from_millis(600));

    println!("--- killing bob (SIGKILL); the registry notices within the idle timeout ---");
    let _ = nodes[1].child.kill();
    show_until(&lines, "registry", "remote left", Duration::from_secs(5));
    nodes[2].say("carol still here");
    show_for(&lines, Duration::from_millis(600));
    nodes[0].say("/who");
    show_for(&lines, Duration::from_millis(600));

    drop(nodes);
    let _ = std::fs::remove_dir_all(&credentials);
    println!("demo finished");
}
