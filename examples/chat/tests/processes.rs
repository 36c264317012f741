//! The chat's executables as separate processes over QUIC on loopback.

use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use loci_tests::credentials;
use loci_tests::process::Proc;

const REGISTRY: &str = env!("CARGO_BIN_EXE_registry");
const NODE: &str = env!("CARGO_BIN_EXE_node");

/// Starts a registry on a free port; returns it and its address.
fn registry(creds: &Path) -> (Proc, String) {
    let registry = Proc::spawn(
        REGISTRY,
        &["--listen", "127.0.0.1:0", "--name", "registry", "--credentials", creds.to_str().unwrap()],
    );
    let line = registry.wait_for("listening");
    let addr = line.rsplit("local_addr=").next().unwrap().trim().to_owned();
    (registry, addr)
}

fn node(name: &str, addr: &str, creds: &Path) -> Proc {
    let connect = format!("registry={addr}");
    Proc::spawn(NODE, &["--connect", &connect, "--name", name, "--credentials", creds.to_str().unwrap()])
}

/// A registry and three joined nodes.
fn chat_of_three(tag: &str) -> (PathBuf, Proc, String, Vec<Proc>) {
    let creds = credentials(tag);
    let (registry, addr) = registry(&creds);
    let nodes: Vec<Proc> = ["alice", "bob", "carol"].iter().map(|name| node(name, &addr, &creds)).collect();
    for node in &nodes {
        node.wait_for("joined the chat as");
    }
    registry.wait_for_count("remote joined", 3);
    // The registry subscribes to each node's `message` as it joins; give those frames a moment.
    thread::sleep(Duration::from_millis(300));
    (creds, registry, addr, nodes)
}

#[test]
fn registry_and_three_nodes_exchange_messages() {
    let (_creds, _registry, _addr, mut nodes) = chat_of_three("exchange");
    let lines = [("alice", "first line from alice"), ("bob", "bob says hi"), ("carol", "carol: here too")];
    for (node, (_, line)) in nodes.iter_mut().zip(lines) {
        node.say(line);
    }
    for (index, node) in nodes.iter().enumerate() {
        for (_, (name, line)) in lines.iter().enumerate().filter(|(other, _)| *other != index) {
            node.wait_for(&format!("{name}: {line}"));
        }
    }
    // Each node has now seen both other lines; its own must never come back (subjective value).
    thread::sleep(Duration::from_millis(300));
    for (node, (name, line)) in nodes.iter().zip(lines) {
        assert!(node.find(&format!("{name}: {line}")).is_none(), "{name} got its own line echoed:\n{}", node.output());
    }
    nodes[0].say("/who");
    let online = nodes[0].wait_for("online:");
    for name in ["alice", "bob", "carol"] {
        assert!(online.contains(name), "{online}");
    }
}

#[test]
fn killed_node_is_reported_left_and_the_others_carry_on() {
    let (_creds, registry, _addr, mut nodes) = chat_of_three("kill");
    let killed_at = Instant::now();
    nodes[1].child.kill().unwrap(); // SIGKILL: no goodbye on the wire
    let left = registry.wait_for("remote left");
    let noticed = killed_at.elapsed();
    assert!(left.contains("\"bob\""), "{left}");
    // The idle timeout is 4 s; a keep-alive sent after the last packet restarts it once.
    assert!(noticed < Duration::from_millis(5000), "the registry took {noticed:?} to notice");

    nodes[0].say("still alive");
    nodes[2].wait_for("alice: still alive");
    nodes[2].say("/who");
    let online = nodes[2].wait_for("online:");
    assert!(online.contains("alice") && online.contains("carol") && !online.contains("bob"), "{online}");
}

#[test]
fn losing_the_registry_for_good_ends_a_node_with_a_clear_error() {
    let creds = credentials("lost");
    let (mut registry, addr) = registry(&creds);
    let connect = format!("registry={addr}");
    let dir = creds.to_str().unwrap();
    let args = ["--connect", &connect, "--name", "alice", "--credentials", dir, "--reconnect-give-up-ms", "1000"];
    let mut alice = Proc::spawn(NODE, &args);
    alice.wait_for("joined the chat as");
    registry.child.kill().unwrap();
    let status = alice.wait_exit();
    assert!(!status.success());
    let message = alice.wait_for("did not come back within 1000 ms");
    assert!(message.contains("lost the Registry this Node is tied to as Single"), "{message}");
    assert!(!alice.output().contains("LostSingle"), "the error is printed in words, not as a struct");
}

#[test]
fn a_registry_that_shuts_down_ends_its_nodes_cleanly() {
    let creds = credentials("clean-end");
    let (registry, addr) = registry(&creds);
    let mut alice = node("alice", &addr, &creds);
    alice.wait_for("joined the chat as");
    let terminated = std::process::Command::new("kill").args(["-TERM", &registry.child.id().to_string()]).status();
    assert!(terminated.unwrap().success());
    let status = alice.wait_exit();
    assert!(status.success(), "a node whose registry shut down exits with 0, got {status}");
    let output = alice.output();
    let ended: Vec<&str> =
        output.lines().filter(|line| line.contains("Registry") && line.contains("shut down")).collect();
    assert_eq!(ended.len(), 1, "one line says why the node stopped:\n{output}");
    assert!(!output.contains("Error") && !output.contains("LostSingle"), "{output}");
}

#[test]
fn help_starts_with_the_peer_and_its_ties() {
    let help = std::process::Command::new(NODE).arg("--help").output().unwrap();
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    let first = text.lines().next().unwrap_or_default();
    assert_eq!(first, "The `Node` peer of the `chat` multitier module (ties: Registry (Single)).");
    assert!(text.contains("--call-timeout-ms"), "{text}");
}

#[test]
fn a_registry_and_a_node_configured_only_by_environment_chat() {
    let creds = credentials("environment");
    let dir = creds.to_str().unwrap();
    let registry = Proc::spawn_with_env(
        REGISTRY,
        &[],
        &[("LOCI_LISTEN", "127.0.0.1:0"), ("LOCI_NAME", "registry"), ("LOCI_CREDENTIALS", dir)],
    );
    let line = registry.wait_for("listening");
    let port = line.rsplit(':').next().unwrap().trim().to_owned();
    let connect = format!("registry=localhost:{port}");
    let nodes: Vec<Proc> = ["alice", "bob"]
        .iter()
        .map(|name| {
            let env = [("LOCI_CONNECT", connect.as_str()), ("LOCI_NAME", name), ("LOCI_CREDENTIALS", dir)];
            Proc::spawn_with_env(NODE, &[], &env)
        })
        .collect();
    for node in &nodes {
        node.wait_for("joined the chat as");
    }
    registry.wait_for_count("remote joined", 2);
    thread::sleep(Duration::from_millis(300));
    let mut alice = nodes.into_iter().next().unwrap();
    alice.say("/who");
    let online = alice.wait_for("online:");
    assert!(online.contains("alice") && online.contains("bob"), "{online}");
    let help = std::process::Command::new(NODE).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for variable in ["LOCI_CONNECT", "LOCI_LISTEN", "LOCI_NAME", "LOCI_IDLE_TIMEOUT_MS", "LOCI_RECONNECT_GIVE_UP_MS"] {
        assert!(help.contains(&format!("[env: {variable}=")), "--help does not show {variable}:\n{help}");
    }
}

#[test]
fn node_without_the_cluster_credentials_is_refused() {
    let creds = credentials("refuse");
    let (registry, addr) = registry(&creds);
    let connect = format!("registry={addr}");

    let mut insecure = Proc::spawn(NODE, &["--connect", &connect, "--insecure", "--connect-timeout-ms", "3000"]);
    assert!(!insecure.wait_exit().success());
    let error = insecure.wait_for("could not connect to Registry");
    assert!(error.contains("TLS"), "{error}");
    registry.wait_for("TLS handshake failed");

    let other_cluster = credentials("other-cluster");
    let mut stranger = node("stranger", &addr, &other_cluster);
    assert!(!stranger.wait_exit().success());
    stranger.wait_for("could not connect to Registry");
    registry.wait_for_count("TLS handshake failed", 2);
    assert!(registry.find("remote joined").is_none(), "{}", registry.output());
}

#[test]
fn a_second_registry_is_refused_by_the_single_tie() {
    let creds = credentials("single");
    let (_first, first_addr) = registry(&creds);
    let (_second, second_addr) = registry(&creds);
    let alice = Proc::spawn(
        NODE,
        &[
            "--connect",
            &format!("registry={first_addr}"),
            "--connect",
            &format!("registry={second_addr}"),
            "--credentials",
            creds.to_str().unwrap(),
        ],
    );
    let error = alice.wait_for("could not connect to Registry");
    assert!(error.contains("tie `Node -> Registry = Single` already has its one remote"), "{error}");
}

/// The same module with one placed signature changed: a different build.
mod mismatched {
    #[loci::multitier]
    pub mod chat {
        use loci::{Event, Here};

        #[peer(ties(Node = Multiple))]
        pub struct Registry;

        #[peer(ties(Registry = Single))]
        pub struct Node;

        #[on(Node)]
        pub fn message() -> Event<u64> {
            Event::new()
        }

        #[on(Registry)]
        pub fn public_message(ctx: &Here<Registry>) -> Event<String> {
            ctx.remote(message).from_all_seq().map(|(_, n)| n.to_string())
        }

        #[on(Registry)]
        pub fn online(ctx: &Here<Registry>) -> Vec<String> {
            ctx.remotes::<Node>().connected().iter().map(|n| n.name().to_owned()).collect()
        }
    }
}

#[test]
fn a_build_with_another_fingerprint_is_refused() {
    let creds = credentials("fingerprint");
    let (registry, addr) = registry(&creds);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let outcome = runtime.block_on(
        loci::Instance::<mismatched::chat::Node>::builder().credentials(&creds).connect("registry", addr).start(),
    );
    let error = outcome.expect_err("a mismatched build must be refused").to_string();
    assert!(error.contains("mismatched build"), "{error}");
    let logged = registry.wait_for("refused a connection");
    assert!(logged.contains("mismatched build") && logged.contains("fingerprint"), "{logged}");
}

#[test]
fn registry_code_is_absent_from_the_node_executable() {
    let marker: &[u8] = b"relays every node's lines to every node";
    let contains = |path: &str| std::fs::read(path).unwrap().windows(marker.len()).any(|window| window == marker);
    assert!(contains(REGISTRY), "the marker must be in the registry, or this test proves nothing");
    assert!(!contains(NODE), "the node executable contains code placed only on the registry");
}

/// Sends `signal` (`STOP`, `CONT`) to a process.
fn signal(proc: &Proc, signal: &str) {
    let sent = std::process::Command::new("kill").args([&format!("-{signal}"), &proc.child.id().to_string()]).status();
    assert!(sent.unwrap().success(), "kill -{signal} failed");
}

/// A registry on a port chosen by the first one, and two nodes.
fn chat_of_two(tag: &str) -> (PathBuf, Proc, String, Vec<Proc>) {
    let creds = credentials(tag);
    let (registry, addr) = registry(&creds);
    let nodes: Vec<Proc> = ["alice", "bob"].iter().map(|name| node(name, &addr, &creds)).collect();
    for node in &nodes {
        node.wait_for("joined the chat as");
    }
    registry.wait_for_count("remote joined", 2);
    thread::sleep(Duration::from_millis(300));
    (creds, registry, addr, nodes)
}

#[test]
fn a_killed_and_restarted_registry_gets_its_nodes_back_and_the_chat_resumes() {
    let (creds, mut registry, addr, mut nodes) = chat_of_two("restart");
    registry.child.kill().unwrap();
    let _ = registry.wait_exit();
    let restarted_at = Instant::now();
    let registry =
        Proc::spawn(REGISTRY, &["--listen", &addr, "--name", "registry-2", "--credentials", creds.to_str().unwrap()]);
    registry.wait_for_count("remote joined", 2);
    let back = restarted_at.elapsed();
    assert!(back < Duration::from_secs(3), "the nodes were back {back:?} after the restart");
    thread::sleep(Duration::from_millis(300));
    nodes[0].say("after the restart");
    nodes[1].wait_for("alice: after the restart");
    for node in &mut nodes {
        assert!(node.child.try_wait().unwrap().is_none(), "a node exited:\n{}", node.output());
    }
}

#[test]
fn a_registry_stalled_for_three_seconds_costs_nothing() {
    let (_creds, registry, _addr, mut nodes) = chat_of_two("stall-3s");
    signal(&registry, "STOP");
    for i in 0..5 {
        nodes[0].say(&format!("line {i} during the stall"));
        thread::sleep(Duration::from_millis(500));
    }
    thread::sleep(Duration::from_millis(500));
    signal(&registry, "CONT");
    for i in 0..5 {
        nodes[1].wait_for(&format!("alice: line {i} during the stall"));
    }
    thread::sleep(Duration::from_millis(500));
    assert!(registry.find("remote left").is_none(), "the registry lost a node:\n{}", registry.output());
    for node in &nodes {
        assert!(node.find("lost the Registry").is_none(), "a node noticed the stall:\n{}", node.output());
    }
}

#[test]
fn a_registry_stalled_for_ten_seconds_is_noticed_then_reconnected() {
    let (_creds, registry, _addr, mut nodes) = chat_of_two("stall-10s");
    signal(&registry, "STOP");
    for node in &nodes {
        node.wait_for("lost the Registry this Node is tied to as Single; waiting for it to come back");
    }
    thread::sleep(Duration::from_secs(5));
    signal(&registry, "CONT");
    for node in &nodes {
        node.wait_for("the Registry is back");
    }
    thread::sleep(Duration::from_millis(500));
    nodes[0].say("after the long stall");
    nodes[1].wait_for("alice: after the long stall");
    for node in &mut nodes {
        assert!(node.child.try_wait().unwrap().is_none(), "a node exited:\n{}", node.output());
    }
}

#[test]
fn a_node_connects_by_host_name() {
    let creds = credentials("hostname");
    let (_registry, addr) = registry(&creds);
    let port = addr.rsplit(':').next().unwrap();
    let connect = format!("registry=localhost:{port}");
    let node = Proc::spawn(NODE, &["--connect", &connect, "--name", "alice", "--credentials", creds.to_str().unwrap()]);
    node.wait_for("joined the chat as alice");
}
