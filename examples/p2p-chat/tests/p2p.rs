//! The P2P chat as separate processes, started with the launcher: a registry and three nodes
//! that connect to each other directly; lines go node to node; a node that leaves and comes
//! back is connected again.

use std::thread;
use std::time::{Duration, Instant};

use loci::launch::Launch;

const REGISTRY: &str = env!("CARGO_BIN_EXE_p2p-registry");
const NODE: &str = env!("CARGO_BIN_EXE_p2p-node");
const WAIT: Duration = Duration::from_secs(15);

fn node(launch: &mut Launch, name: &str, connect: &str) {
    launch.start(name, NODE, &["--listen", "127.0.0.1:0", "--connect", connect]).unwrap();
    launch.wait_for(name, "joined the chat as", WAIT).unwrap();
}

/// Asks `name` for its peers until it lists `expected`.
fn wait_for_peers(launch: &mut Launch, name: &str, expected: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let before = launch.count(name, "peers:");
        launch.say(name, "/peers").unwrap();
        let listed = launch.wait_for_count(name, "peers:", before + 1, WAIT).unwrap();
        if listed == expected {
            return;
        }
        assert!(Instant::now() < deadline, "{name} lists `{listed}`, expected `{expected}`");
        thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn nodes_introduced_by_the_registry_chat_directly_and_meet_a_returning_node_again() {
    let mut launch = Launch::new().quiet();
    launch.credentials().unwrap();
    launch.start("registry", REGISTRY, &["--listen", "127.0.0.1:0"]).unwrap();
    let connect = format!("registry={}", launch.listen_addr("registry").unwrap());
    for name in ["alice", "bob", "carol"] {
        node(&mut launch, name, &connect);
    }
    wait_for_peers(&mut launch, "alice", "peers: bob, carol");
    wait_for_peers(&mut launch, "bob", "peers: alice, carol");
    wait_for_peers(&mut launch, "carol", "peers: alice, bob");
    thread::sleep(Duration::from_millis(300));

    launch.say("alice", "hello from alice").unwrap();
    launch.wait_for("bob", "alice: hello from alice", WAIT).unwrap();
    launch.wait_for("carol", "alice: hello from alice", WAIT).unwrap();
    // Lines travel node to node: the registry never sees them.
    assert_eq!(launch.count("registry", "hello from alice"), 0);

    // Bob leaves and comes back as a new process: the others connect to it again.
    launch.kill("bob").unwrap();
    launch.wait_for("alice", "bob left", WAIT).unwrap();
    launch.restart("bob").unwrap();
    launch.wait_for("bob", "joined the chat as", WAIT).unwrap();
    wait_for_peers(&mut launch, "bob", "peers: alice, carol");
    wait_for_peers(&mut launch, "alice", "peers: bob, carol");
    thread::sleep(Duration::from_millis(300));
    launch.say("carol", "welcome back bob").unwrap();
    launch.wait_for("bob", "carol: welcome back bob", WAIT).unwrap();
}
