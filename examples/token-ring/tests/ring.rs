//! The token ring as separate processes, started with the launcher: four nodes pass the token
//! in order over their named ties, and a member killed and restarted rejoins while the token
//! keeps going.

use std::net::UdpSocket;
use std::time::Duration;

use loci::launch::Launch;

const NODE: &str = env!("CARGO_BIN_EXE_ring-node");
const WAIT: Duration = Duration::from_secs(20);
const MEMBERS: usize = 4;

/// Ports free right now, one per node (held together, so they differ).
fn free_ports(n: usize) -> Vec<u16> {
    let sockets: Vec<UdpSocket> = (0..n).map(|_| UdpSocket::bind("127.0.0.1:0").unwrap()).collect();
    sockets.iter().map(|socket| socket.local_addr().unwrap().port()).collect()
}

/// The hops node `name` has reported, in order.
fn hops(launch: &Launch, name: &str) -> Vec<u64> {
    launch
        .output(name)
        .iter()
        .filter_map(|line| line.split("token hop ").nth(1)?.split(' ').next()?.parse().ok())
        .collect()
}

/// Node `index` sees hops `index + 1`, `index + 1 + MEMBERS`, ...: in order, each once.
fn assert_in_turn(launch: &Launch, index: usize, consecutive: bool) {
    let name = format!("n{index}");
    let seen = hops(launch, &name);
    for hop in &seen {
        assert_eq!((hop - 1) as usize % MEMBERS, index, "{name} got hop {hop}, which is not its turn: {seen:?}");
    }
    for pair in seen.windows(2) {
        assert!(pair[0] < pair[1], "{name} saw the token out of order: {seen:?}");
        if consecutive {
            assert_eq!(pair[1] - pair[0], MEMBERS as u64, "{name} missed a round: {seen:?}");
        }
    }
}

#[test]
fn four_nodes_pass_the_token_in_order_and_a_restarted_member_rejoins() {
    let mut launch = Launch::new().quiet();
    launch.credentials().unwrap();
    let ports = free_ports(MEMBERS);
    for (index, port) in ports.iter().enumerate() {
        let listen = format!("127.0.0.1:{port}");
        let next = format!("next=127.0.0.1:{}", ports[(index + 1) % MEMBERS]);
        let mut args = vec!["--listen", &listen, "--connect", &next, "--hold-ms", "20", "--members", "4"];
        if index == 0 {
            args.push("--starts");
        }
        launch.start(&format!("n{index}"), NODE, &args).unwrap();
    }

    // Ten rounds, in order: hop 41 starts the eleventh at n0.
    launch.wait_for("n0", "token hop 41 round 11", WAIT).unwrap();
    for index in 0..MEMBERS {
        assert_in_turn(&launch, index, true);
    }

    // n2 dies and comes back as a new process on its address: the ring closes again and the
    // token keeps going round, in turn.
    launch.kill("n2").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    launch.restart("n2").unwrap();
    launch.wait_for("n2", "is in the ring", WAIT).unwrap();
    let before = hops(&launch, "n0").last().copied().unwrap();
    let later = before + 3 * MEMBERS as u64;
    launch.wait_for("n0", &format!("token hop {later} "), WAIT).unwrap();
    assert!(!hops(&launch, "n2").is_empty(), "the restarted n2 never got the token");
    for index in 0..MEMBERS {
        assert_in_turn(&launch, index, false);
    }
    // The others waited for n2 and carried on: none gave up on its tie.
    for name in ["n0", "n1", "n3"] {
        assert_eq!(launch.count(name, "did not come back"), 0, "{name} gave up on a tie: {:?}", launch.output(name));
    }
    // A node's `prev` and `next` are told apart: the token is only taken from `prev`.
    for index in 0..MEMBERS {
        assert_eq!(launch.count(&format!("n{index}"), "refused a token"), 0);
    }
}
