//! Runs the chat demo: creates cluster credentials, starts a registry and three nodes as
//! separate processes over QUIC on loopback, types a few lines into the nodes and shows what
//! every process prints, then kills one node and shows the others carry on.

use std::path::PathBuf;
use std::thread;
use std::time::Duration;

use loci::launch::Launch;

/// The registry and node executables, next to this one and up to date.
fn peer_executables() -> std::io::Result<(PathBuf, PathBuf)> {
    let dir = loci::launch::sibling_executables("chat", "node")?;
    Ok((dir.join("registry"), dir.join("node")))
}

fn pause() {
    thread::sleep(Duration::from_millis(600));
}

fn main() -> std::io::Result<()> {
    let (registry_exe, node_exe) = peer_executables()?;
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
