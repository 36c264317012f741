//! The chat's processes on separate hosts: Linux network namespaces, each with its own
//! address, joined by a veth pair. A link taken down and brought back (2 s, which QUIC rides
//! out; 5 s, after which the nodes dial again), and a path through a relay that loses 5 % of
//! the datagrams each way and delays each by 50 ms (this kernel has no `netem`).
//!
//! Needs root and `ip` (iproute2); CI runs as root with `LOCI_REQUIRE_NETNS=1`, so there they
//! fail rather than skip. Elsewhere they say why they do nothing. The namespaces (and the
//! veth pair made inside them) are removed when a test ends, passed or failed, and before it
//! starts, in case an earlier run of the same process id was killed.

use std::process::Command;
use std::thread;
use std::time::Duration;

use loci::launch::Launch;

const REGISTRY: &str = env!("CARGO_BIN_EXE_registry");
const NODE: &str = env!("CARGO_BIN_EXE_node");
const RELAY: &str = env!("CARGO_BIN_EXE_udp-relay");
const WAIT: Duration = Duration::from_secs(20);

/// Runs `ip` with `args`; panics with its error output if it fails.
fn ip(args: &[&str]) {
    let output = Command::new("ip").args(args).output().expect("`ip` from iproute2");
    assert!(output.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr));
}

/// Whether this process may make network namespaces: it tries. Where it may not, the test
/// says so and does nothing, unless `LOCI_REQUIRE_NETNS` is set (CI sets it), which makes it
/// fail instead.
/// `subnet` tells the tests apart, which run at once.
fn can_make_namespaces(subnet: u8) -> bool {
    let probe = format!("lprobe{}s{subnet}", std::process::id() % 100_000);
    let made = Command::new("ip").args(["netns", "add", &probe]).output();
    if made.as_ref().is_ok_and(|out| out.status.success()) {
        let _ = Command::new("ip").args(["netns", "del", &probe]).output();
        return true;
    }
    let said = match made {
        Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        Err(error) => error.to_string(),
    };
    let why = format!("network namespaces need root and `ip` (iproute2); `ip netns add` said: {said}");
    assert!(std::env::var_os("LOCI_REQUIRE_NETNS").is_none(), "LOCI_REQUIRE_NETNS is set, but {why}");
    eprintln!("SKIPPED: {why}");
    false
}

/// Two hosts, `registry` (`10.213.N.1`) and `nodes` (`10.213.N.2`), joined by a veth pair;
/// removed on drop.
struct Hosts {
    registry: String,
    nodes: String,
    link: String,
    subnet: u8,
}

impl Hosts {
    fn new(subnet: u8) -> Self {
        let tag = format!("l{}s{subnet}", std::process::id() % 100_000);
        let hosts = Hosts { registry: format!("{tag}r"), nodes: format!("{tag}n"), link: format!("{tag}a"), subnet };
        hosts.remove();
        let peer = format!("{tag}b");
        ip(&["netns", "add", &hosts.registry]);
        ip(&["netns", "add", &hosts.nodes]);
        // Made inside the namespaces, so removing them removes the pair, whatever happened.
        ip(&[
            "link",
            "add",
            &hosts.link,
            "netns",
            &hosts.registry,
            "type",
            "veth",
            "peer",
            "name",
            &peer,
            "netns",
            &hosts.nodes,
        ]);
        ip(&["-n", &hosts.registry, "addr", "add", &format!("{}/24", hosts.registry_ip()), "dev", &hosts.link]);
        ip(&["-n", &hosts.nodes, "addr", "add", &format!("10.213.{subnet}.2/24"), "dev", &peer]);
        for (ns, dev) in [(&hosts.registry, &hosts.link), (&hosts.nodes, &peer)] {
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        hosts
    }

    fn registry_ip(&self) -> String {
        format!("10.213.{}.1", self.subnet)
    }

    /// Takes the registry's end of the link down or up.
    fn link(&self, up: bool) {
        ip(&["-n", &self.registry, "link", "set", &self.link, if up { "up" } else { "down" }]);
    }

    fn remove(&self) {
        for ns in [&self.registry, &self.nodes] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Starts `exe` with `args` as process `name` inside namespace `ns`, with credentials for
/// `peer` (issued here: the launcher cannot ask `ip` which peer it runs).
fn start_in(launch: &mut Launch, ns: &str, name: &str, peer: &str, exe: &str, args: &[&str]) {
    launch.issue(name, &[peer]).unwrap();
    let mut all = vec!["netns", "exec", ns, exe];
    all.extend_from_slice(args);
    launch.start(name, "ip", &all).unwrap();
}

/// A registry on the registry host listening on `listen`, and alice and bob on the nodes'
/// host connecting to `target`, all joined.
fn chat(hosts: &Hosts, listen: &str, target: &str) -> Launch {
    let mut launch = Launch::new().quiet();
    launch.credentials().unwrap();
    start_in(&mut launch, &hosts.registry, "registry", "Registry", REGISTRY, &["--listen", listen]);
    let connect = format!("registry={target}");
    for name in ["alice", "bob"] {
        start_in(&mut launch, &hosts.nodes, name, "Node", NODE, &["--connect", &connect]);
    }
    for name in ["alice", "bob"] {
        launch.wait_for(name, "joined the chat as", WAIT).unwrap();
    }
    launch.wait_for_count("registry", "remote joined", 2, WAIT).unwrap();
    // Lines reach bob once the registry subscribed to alice's and bob to the registry's (over
    // a lossy path that takes a few round trips).
    heard(&mut launch, "alice", "bob", "probe");
    launch
}

/// Has `from` say `text` (numbered) until `to` shows it: subscriptions made after a (re)join
/// are in place then.
fn heard(launch: &mut Launch, from: &str, to: &str, text: &str) {
    for attempt in 0.. {
        let line = format!("{text} {attempt}");
        launch.say(from, &line).unwrap();
        if launch.wait_for(to, &format!("{from}: {line}"), Duration::from_secs(2)).is_ok() {
            return;
        }
        assert!(attempt < 10, "no line of {from} reached {to}");
    }
}

#[test]
fn a_link_down_for_2_s_costs_nothing_and_after_5_s_the_nodes_dial_again() {
    if !can_make_namespaces(1) {
        return;
    }
    let hosts = Hosts::new(1);
    let at = format!("{}:4000", hosts.registry_ip());
    let mut launch = chat(&hosts, &at, &at);
    launch.say("alice", "before the cut").unwrap();
    launch.wait_for("bob", "alice: before the cut", WAIT).unwrap();

    // 2 s: well within the idle timeout (4 s; QUIC's probes during a cut come at growing
    // intervals, so a cut near the timeout may or may not be noticed). A line typed meanwhile
    // arrives once the link is back.
    hosts.link(false);
    thread::sleep(Duration::from_millis(500));
    launch.say("alice", "during a short cut").unwrap();
    thread::sleep(Duration::from_millis(1500));
    hosts.link(true);
    launch.wait_for("bob", "alice: during a short cut", WAIT).unwrap();
    assert_eq!(launch.count("registry", "remote left"), 0, "nobody noticed a 2 s cut");

    // 5 s: past the idle timeout. Both sides count the other as gone; the nodes dial again
    // after the heal, their subscriptions come back, and the chat goes on.
    hosts.link(false);
    thread::sleep(Duration::from_secs(5));
    hosts.link(true);
    launch.wait_for_count("registry", "remote joined", 4, WAIT).unwrap();
    heard(&mut launch, "bob", "alice", "after the long cut");
    for name in ["alice", "bob"] {
        assert!(launch.wait_exit(name, Duration::ZERO).is_err(), "{name} ended");
    }
}

#[test]
fn a_path_that_loses_5_percent_and_delays_50_ms_delivers_every_line_in_order() {
    if !can_make_namespaces(2) {
        return;
    }
    let hosts = Hosts::new(2);
    // The registry on the registry host's loopback, reached only through the relay there.
    let mut launch = Launch::new().quiet();
    let relay = format!("{}:5000", hosts.registry_ip());
    launch
        .start(
            "relay",
            "ip",
            &[
                "netns",
                "exec",
                &hosts.registry,
                RELAY,
                "--listen",
                &relay,
                "--to",
                "127.0.0.1:4000",
                "--loss",
                "0.05",
                "--delay-ms",
                "50",
            ],
        )
        .unwrap();
    launch.wait_for("relay", "relaying", WAIT).unwrap();
    let mut chat_launch = chat(&hosts, "127.0.0.1:4000", &relay);
    let lines: Vec<String> = (0..40).map(|n| format!("lossy line {n}")).collect();
    for line in &lines {
        chat_launch.say("alice", line).unwrap();
    }
    let last = format!("alice: {}", lines.last().unwrap());
    chat_launch.wait_for("bob", &last, Duration::from_secs(30)).unwrap();
    let received: Vec<String> = chat_launch
        .output("bob")
        .into_iter()
        .filter_map(|line| line.split_once("alice: ").map(|(_, text)| text.to_owned()))
        .filter(|text| text.starts_with("lossy line"))
        .collect();
    assert_eq!(received, lines, "every line, once, in order");
    drop(launch);
}
