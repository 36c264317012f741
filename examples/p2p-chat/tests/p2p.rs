//! The P2P chat as separate processes: a registry and three nodes that connect to each other
//! directly; lines go node to node; a node that leaves and comes back is connected again.

use std::thread;
use std::time::Duration;

use loci_tests::credentials;
use loci_tests::process::Proc;

const REGISTRY: &str = env!("CARGO_BIN_EXE_p2p-registry");
const NODE: &str = env!("CARGO_BIN_EXE_p2p-node");

fn node(name: &str, registry: &str, creds: &str) -> Proc {
    let connect = format!("registry={registry}");
    let node =
        Proc::spawn(NODE, &["--listen", "127.0.0.1:0", "--connect", &connect, "--name", name, "--credentials", creds]);
    node.wait_for("joined the chat as");
    node
}

fn peers(node: &mut Proc) -> String {
    let before = node.count("peers:");
    node.say("/peers");
    node.wait_for_count("peers:", before + 1);
    node.output().lines().filter(|line| line.starts_with("peers:")).nth(before).unwrap().to_owned()
}

fn wait_for_peers(node: &mut Proc, expected: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let listed = peers(node);
        if listed == expected {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "peers stayed `{listed}`, expected `{expected}`:\n{}",
            node.output()
        );
        thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn nodes_introduced_by_the_registry_chat_directly_and_meet_a_returning_node_again() {
    let creds = credentials("chat");
    let dir = creds.to_str().unwrap();
    let registry = Proc::spawn(REGISTRY, &["--listen", "127.0.0.1:0", "--name", "registry", "--credentials", dir]);
    let line = registry.wait_for("listening");
    let addr = line.rsplit("local_addr=").next().unwrap().trim().to_owned();
    let mut alice = node("alice", &addr, dir);
    let mut bob = node("bob", &addr, dir);
    let mut carol = node("carol", &addr, dir);
    wait_for_peers(&mut alice, "peers: bob, carol");
    wait_for_peers(&mut bob, "peers: alice, carol");
    wait_for_peers(&mut carol, "peers: alice, bob");
    thread::sleep(Duration::from_millis(300));

    alice.say("hello from alice");
    bob.wait_for("alice: hello from alice");
    carol.wait_for("alice: hello from alice");
    // Lines travel node to node: the registry never sees them.
    assert!(registry.find("hello from alice").is_none());

    // Bob leaves and comes back as a new process: the others connect to it again.
    bob.child.kill().unwrap();
    alice.wait_for("bob left");
    let mut bob = node("bob", &addr, dir);
    wait_for_peers(&mut bob, "peers: alice, carol");
    wait_for_peers(&mut alice, "peers: bob, carol");
    thread::sleep(Duration::from_millis(300));
    carol.say("welcome back bob");
    bob.wait_for("carol: welcome back bob");
}
