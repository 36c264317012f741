//! Runs the chat demo: creates cluster credentials, starts a registry and three nodes as
//! separate processes over QUIC on loopback, types a few lines into the nodes and shows what
//! every process prints, then kills one node and shows the others carry on.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::Duration;

use loci::launch::Launch;

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

fn pause() {
    thread::sleep(Duration::from_millis(600));
}

fn main() -> std::io::Result<()> {
    let (registry_exe, node_exe) = peer_executables();
    let mut launch = Launch::new();
    let credentials = launch.credentials()?;
    println!("created cluster credentials in {}", credentials.display());

    launch.start("registry", &registry_exe, &["--listen", "127.0.0.1:0"])?;
    let connect = format!("registry={}", launch.listen_addr("registry")?);
    let nodes = ["alice", "bob", "carol"];
    for name in nodes {
        launch.start(name, &node_exe, &["--connect", &connect])?;
    }
    for name in nodes {
        launch.wait_for(name, "joined the chat", Duration::from_secs(10))?;
    }
    // The registry subscribes to each node's lines as it joins; give those frames a moment.
    thread::sleep(Duration::from_millis(300));

    launch.say("alice", "hi everyone, alice here")?;
    pause();
    launch.say("bob", "hello alice! bob speaking")?;
    pause();
    launch.say("carol", "/who")?;
    pause();

    println!("--- killing bob (SIGKILL); the registry notices within the idle timeout ---");
    launch.kill("bob")?;
    launch.wait_for("registry", "remote left", Duration::from_secs(6))?;
    launch.say("carol", "carol still here")?;
    pause();
    launch.say("alice", "/who")?;
    pause();

    drop(launch);
    println!("demo finished");
    Ok(())
}
