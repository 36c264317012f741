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

/// Ports free right now, held together so that they differ.
fn free_ports(n: usize) -> Vec<u16> {
    let sockets: Vec<std::net::UdpSocket> = (0..n).map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap()).collect();
    sockets.iter().map(|socket| socket.local_addr().unwrap().port()).collect()
}

#[test]
fn two_nodes_that_dial_each_other_end_with_one_connection_and_both_keep_running() {
    let mut launch = Launch::new().quiet();
    launch.credentials().unwrap();
    launch.start("registry", REGISTRY, &["--listen", "127.0.0.1:0"]).unwrap();
    let registry = format!("registry={}", launch.listen_addr("registry").unwrap());
    let ports = free_ports(2);
    let [alice, bob] = [ports[0], ports[1]].map(|port| format!("127.0.0.1:{port}"));
    // Each names the other as a `--connect` target, so both dial at once.
    let (to_bob, to_alice) = (format!("node={bob}"), format!("node={alice}"));
    launch.start("alice", NODE, &["--listen", &alice, "--connect", &registry, "--connect", &to_bob]).unwrap();
    launch.start("bob", NODE, &["--listen", &bob, "--connect", &registry, "--connect", &to_alice]).unwrap();
    launch.wait_for("alice", "joined the chat as", WAIT).unwrap();
    launch.wait_for("bob", "joined the chat as", WAIT).unwrap();
    wait_for_peers(&mut launch, "alice", "peers: bob");
    wait_for_peers(&mut launch, "bob", "peers: alice");
    thread::sleep(Duration::from_millis(500));

    launch.say("alice", "hi bob").unwrap();
    launch.wait_for("bob", "alice: hi bob", WAIT).unwrap();
    launch.say("bob", "hi alice").unwrap();
    launch.wait_for("alice", "bob: hi alice", WAIT).unwrap();
    // One connection, each line once, and nobody gave up or was refused.
    wait_for_peers(&mut launch, "alice", "peers: bob");
    assert_eq!(launch.count("bob", "alice: hi bob"), 1);
    assert_eq!(launch.count("alice", "bob: hi alice"), 1);
    for name in ["alice", "bob"] {
        assert_eq!(launch.count(name, "refused"), 0, "{name}: {:?}", launch.output(name));
        assert_eq!(launch.count(name, "Error"), 0, "{name}: {:?}", launch.output(name));
    }
}
