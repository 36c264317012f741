//! The chat's executables as separate processes over QUIC on loopback, started with the
//! launcher (`loci::launch`).

use std::thread;
use std::time::{Duration, Instant};

use loci::launch::Launch;

const REGISTRY: &str = env!("CARGO_BIN_EXE_registry");
const NODE: &str = env!("CARGO_BIN_EXE_node");
const WAIT: Duration = Duration::from_secs(15);

/// A launch with fresh credentials and a registry on a free port; the registry's address.
fn with_registry() -> (Launch, String) {
    let mut launch = Launch::new().quiet();
    launch.credentials().unwrap();
    launch.start("registry", REGISTRY, &["--listen", "127.0.0.1:0"]).unwrap();
    let addr = launch.listen_addr("registry").unwrap().to_string();
    (launch, addr)
}

/// Starts node `name` connected to the registry at `addr`, with extra `args`.
fn node(launch: &mut Launch, name: &str, addr: &str, args: &[&str]) {
    let connect = format!("registry={addr}");
    let mut all = vec!["--connect", connect.as_str()];
    all.extend_from_slice(args);
    launch.start(name, NODE, &all).unwrap();
}

/// A registry and the named nodes, all joined.
fn chat(names: &[&str]) -> (Launch, String) {
    let (mut launch, addr) = with_registry();
    for name in names {
        node(&mut launch, name, &addr, &[]);
    }
    for name in names {
        launch.wait_for(name, "joined the chat as", WAIT).unwrap();
    }
    launch.wait_for_count("registry", "remote joined", names.len(), WAIT).unwrap();
    // The registry subscribes to each node's `message` as it joins; give those frames a moment.
    thread::sleep(Duration::from_millis(300));
    (launch, addr)
}

fn say_and_wait(launch: &mut Launch, name: &str, line: &str, answer: &str) -> String {
    let before = launch.count(name, answer);
    launch.say(name, line).unwrap();
    launch.wait_for_count(name, answer, before + 1, WAIT).unwrap()
}

#[test]
fn registry_and_three_nodes_exchange_messages() {
    let (mut launch, _addr) = chat(&["alice", "bob", "carol"]);
    let lines = [("alice", "first line from alice"), ("bob", "bob says hi"), ("carol", "carol: here too")];
    for (name, line) in lines {
        launch.say(name, line).unwrap();
    }
    for (reader, _) in lines {
        for (name, line) in lines.iter().filter(|(writer, _)| *writer != reader) {
            launch.wait_for(reader, &format!("{name}: {line}"), WAIT).unwrap();
        }
    }
    // Each node has now seen both other lines; its own must never come back (subjective value).
    thread::sleep(Duration::from_millis(300));
    for (name, line) in lines {
        assert_eq!(launch.count(name, &format!("{name}: {line}")), 0, "{name} got its own line echoed");
    }
    let online = say_and_wait(&mut launch, "alice", "/who", "online:");
    for name in ["alice", "bob", "carol"] {
        assert!(online.contains(name), "{online}");
    }
}

#[test]
fn killed_node_is_reported_left_and_the_others_carry_on() {
    let (mut launch, _addr) = chat(&["alice", "bob", "carol"]);
    let killed_at = Instant::now();
    launch.kill("bob").unwrap(); // SIGKILL: no goodbye on the wire
    let left = launch.wait_for("registry", "remote left", WAIT).unwrap();
    let noticed = killed_at.elapsed();
    assert!(left.contains("\"bob\""), "{left}");
    // The idle timeout is 4 s; a keep-alive sent after the last packet restarts it once.
    assert!(noticed < Duration::from_millis(5000), "the registry took {noticed:?} to notice");

    launch.say("alice", "still alive").unwrap();
    launch.wait_for("carol", "alice: still alive", WAIT).unwrap();
    let online = say_and_wait(&mut launch, "carol", "/who", "online:");
    assert!(online.contains("alice") && online.contains("carol") && !online.contains("bob"), "{online}");
}

#[test]
fn losing_the_registry_for_good_ends_a_node_with_a_clear_error() {
    let (mut launch, addr) = with_registry();
    node(&mut launch, "alice", &addr, &["--reconnect-give-up-ms", "1000"]);
    launch.wait_for("alice", "joined the chat as", WAIT).unwrap();
    launch.kill("registry").unwrap();
    let status = launch.wait_exit("alice", WAIT).unwrap();
    assert!(!status.success());
    let message = launch.wait_for("alice", "did not come back within 1000 ms", WAIT).unwrap();
    assert!(message.contains("lost the Registry this Node is tied to as Single"), "{message}");
    assert_eq!(launch.count("alice", "LostSingle"), 0, "the error is printed in words, not as a struct");
}

#[test]
fn a_registry_that_shuts_down_ends_its_nodes_cleanly() {
    let (mut launch, _addr) = chat(&["alice"]);
    launch.terminate("registry").unwrap();
    let status = launch.wait_exit("alice", WAIT).unwrap();
    assert!(status.success(), "a node whose registry shut down exits with 0, got {status}");
    let output = launch.output("alice");
    let ended = output.iter().filter(|line| line.contains("Registry") && line.contains("shut down")).count();
    assert_eq!(ended, 1, "one line says why the node stopped:\n{}", output.join("\n"));
    assert!(output.iter().all(|line| !line.contains("Error") && !line.contains("LostSingle")), "{output:?}");
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
    // The launch gives every process its name and credentials in the environment already.
    let mut launch = Launch::new().quiet();
    launch.credentials().unwrap();
    launch.start_with_env("registry", REGISTRY, &[], &[("LOCI_LISTEN", "127.0.0.1:0")]).unwrap();
    let port = launch.listen_addr("registry").unwrap().port();
    let connect = format!("registry=localhost:{port}");
    for name in ["alice", "bob"] {
        launch.start_with_env(name, NODE, &[], &[("LOCI_CONNECT", connect.as_str())]).unwrap();
    }
    for name in ["alice", "bob"] {
        launch.wait_for(name, "joined the chat as", WAIT).unwrap();
    }
    launch.wait_for_count("registry", "remote joined", 2, WAIT).unwrap();
    thread::sleep(Duration::from_millis(300));
    let online = say_and_wait(&mut launch, "alice", "/who", "online:");
    assert!(online.contains("alice") && online.contains("bob"), "{online}");
    let help = std::process::Command::new(NODE).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for variable in ["LOCI_CONNECT", "LOCI_LISTEN", "LOCI_NAME", "LOCI_IDLE_TIMEOUT_MS", "LOCI_RECONNECT_GIVE_UP_MS"] {
        assert!(help.contains(&format!("[env: {variable}=")), "--help does not show {variable}:\n{help}");
    }
}

#[test]
fn node_without_the_cluster_credentials_is_refused() {
    let (mut launch, addr) = with_registry();
    node(&mut launch, "insecure", &addr, &["--insecure", "--connect-timeout-ms", "3000"]);
    assert!(!launch.wait_exit("insecure", WAIT).unwrap().success());
    let error = launch.wait_for("insecure", "could not connect to Registry", WAIT).unwrap();
    assert!(error.contains("TLS"), "{error}");
    launch.wait_for("registry", "TLS handshake failed", WAIT).unwrap();

    let other_cluster = loci_tests::issued::<chat::Node>(&loci_tests::credentials("other-cluster"), "stranger");
    node(&mut launch, "stranger", &addr, &["--credentials", other_cluster.to_str().unwrap()]);
    assert!(!launch.wait_exit("stranger", WAIT).unwrap().success());
    launch.wait_for("stranger", "could not connect to Registry", WAIT).unwrap();
    launch.wait_for_count("registry", "TLS handshake failed", 2, WAIT).unwrap();
    assert_eq!(launch.count("registry", "remote joined"), 0);
}

#[test]
fn a_second_registry_is_refused_by_the_single_tie() {
    let (mut launch, first_addr) = with_registry();
    launch.start("second", REGISTRY, &["--listen", "127.0.0.1:0"]).unwrap();
    let second_addr = launch.listen_addr("second").unwrap().to_string();
    let (first, second) = (format!("registry={first_addr}"), format!("registry={second_addr}"));
    launch.start("alice", NODE, &["--connect", &first, "--connect", &second]).unwrap();
    let error = launch.wait_for("alice", "could not connect to Registry", WAIT).unwrap();
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
    let (launch, addr) = with_registry();
    let creds = launch.issue("mismatched", &["Node"]).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let outcome = runtime.block_on(
        loci::Instance::<mismatched::chat::Node>::builder().credentials(&creds).connect("registry", addr).start(),
    );
    let error = outcome.expect_err("a mismatched build must be refused").to_string();
    assert!(error.contains("mismatched build"), "{error}");
    let logged = launch.wait_for("registry", "refused a connection", WAIT).unwrap();
    assert!(logged.contains("mismatched build") && logged.contains("fingerprint"), "{logged}");
}

#[test]
fn registry_code_is_absent_from_the_node_executable() {
    let marker: &[u8] = b"relays every node's lines to every node";
    let contains = |path: &str| std::fs::read(path).unwrap().windows(marker.len()).any(|window| window == marker);
    assert!(contains(REGISTRY), "the marker must be in the registry, or this test proves nothing");
    assert!(!contains(NODE), "the node executable contains code placed only on the registry");
}

#[test]
fn a_killed_and_restarted_registry_gets_its_nodes_back_and_the_chat_resumes() {
    let (mut launch, addr) = chat(&["alice", "bob"]);
    launch.kill("registry").unwrap();
    let _ = launch.wait_exit("registry", WAIT).unwrap();
    let restarted_at = Instant::now();
    // The same instance again, on its address and with its credentials (from which its QUIC
    // resets are derived, so the nodes notice the old connection is gone at once), under a
    // name its certificate covers.
    let registry = launch.credentials_dir().unwrap().join("registry");
    let env = [("LOCI_CREDENTIALS", registry.to_str().unwrap())];
    launch.start_with_env("registry-2", REGISTRY, &["--listen", &addr, "--name", "registry/2"], &env).unwrap();
    launch.wait_for_count("registry-2", "remote joined", 2, WAIT).unwrap();
    let back = restarted_at.elapsed();
    assert!(back < Duration::from_secs(3), "the nodes were back {back:?} after the restart");
    thread::sleep(Duration::from_millis(300));
    launch.say("alice", "after the restart").unwrap();
    launch.wait_for("bob", "alice: after the restart", WAIT).unwrap();
    for name in ["alice", "bob"] {
        assert!(launch.wait_exit(name, Duration::from_millis(10)).is_err(), "{name} exited");
    }
}

#[test]
fn a_registry_stalled_for_three_seconds_costs_nothing() {
    let (mut launch, _addr) = chat(&["alice", "bob"]);
    launch.stop("registry").unwrap();
    for i in 0..5 {
        launch.say("alice", &format!("line {i} during the stall")).unwrap();
        thread::sleep(Duration::from_millis(500));
    }
    thread::sleep(Duration::from_millis(500));
    launch.cont("registry").unwrap();
    for i in 0..5 {
        launch.wait_for("bob", &format!("alice: line {i} during the stall"), WAIT).unwrap();
    }
    thread::sleep(Duration::from_millis(500));
    assert_eq!(launch.count("registry", "remote left"), 0, "the registry lost a node");
    for name in ["alice", "bob"] {
        assert_eq!(launch.count(name, "lost the Registry"), 0, "{name} noticed the stall");
    }
}

#[test]
fn a_registry_stalled_for_ten_seconds_is_noticed_then_reconnected() {
    let (mut launch, _addr) = chat(&["alice", "bob"]);
    launch.stop("registry").unwrap();
    for name in ["alice", "bob"] {
        launch
            .wait_for(name, "lost the Registry this Node is tied to as Single; waiting for it to come back", WAIT)
            .unwrap();
    }
    thread::sleep(Duration::from_secs(5));
    launch.cont("registry").unwrap();
    for name in ["alice", "bob"] {
        launch.wait_for(name, "the Registry is back", WAIT).unwrap();
    }
    thread::sleep(Duration::from_millis(500));
    launch.say("alice", "after the long stall").unwrap();
    launch.wait_for("bob", "alice: after the long stall", WAIT).unwrap();
    for name in ["alice", "bob"] {
        assert!(launch.wait_exit(name, Duration::from_millis(10)).is_err(), "{name} exited");
    }
}

#[test]
fn a_node_connects_by_host_name() {
    let (mut launch, addr) = with_registry();
    let port = addr.rsplit(':').next().unwrap();
    node(&mut launch, "alice", &format!("localhost:{port}"), &[]);
    launch.wait_for("alice", "joined the chat as alice", WAIT).unwrap();
}

#[test]
fn sighup_loads_the_deny_list_again_and_the_node_it_names_is_cut_off() {
    let mut launch = Launch::new().quiet();
    let root = launch.credentials().unwrap();
    // The registry's credentials, with an empty deny list, before it starts.
    let registry = launch.issue("registry", &["Registry"]).unwrap();
    let deny = registry.join(loci::credentials::DENY_FILE);
    std::fs::write(&deny, "# nobody yet\n").unwrap();
    launch.start("registry", REGISTRY, &["--listen", "127.0.0.1:0"]).unwrap();
    let addr = launch.listen_addr("registry").unwrap().to_string();
    for name in ["alice", "bob"] {
        node(&mut launch, name, &addr, &[]);
        launch.wait_for(name, "joined the chat as", WAIT).unwrap();
    }
    launch.wait_for_count("registry", "remote joined", 2, WAIT).unwrap();

    // Bob's certificate goes on the list, with the file's time left as it was: only SIGHUP
    // makes the registry read it.
    let bob = loci::credentials::CertificateIdentity::of_pem_file(&root.join("bob").join("instance.pem")).unwrap();
    // (Written beside it with the old time, then renamed over it: the registry never sees
    // the file with another time.)
    let unchanged = std::fs::metadata(&deny).unwrap().modified().unwrap();
    let next = registry.join("deny.next");
    std::fs::write(&next, format!("{}\n", bob.fingerprint)).unwrap();
    std::fs::File::options().write(true).open(&next).unwrap().set_modified(unchanged).unwrap();
    std::fs::rename(&next, &deny).unwrap();
    thread::sleep(Duration::from_millis(2500));
    assert_eq!(launch.count("registry", "loaded its credentials again"), 0, "nothing changed that it checks");
    assert_eq!(launch.count("registry", "remote left"), 0);

    launch.hangup("registry").unwrap();
    launch.wait_for("registry", "loaded its credentials again", WAIT).unwrap();
    let closed = launch.wait_for("registry", "its certificate is on the deny list", WAIT).unwrap();
    assert!(closed.contains("bob"), "{closed}");
    launch.wait_for("bob", "its certificate is on the deny list", WAIT).unwrap();
    // Alice is not on the list and chats on; bob, dialling again, is refused at TLS.
    let online = say_and_wait(&mut launch, "alice", "/who", "online:");
    assert!(online.contains("alice") && !online.contains("bob"), "{online}");
    launch.wait_for("registry", "TLS handshake failed", WAIT).unwrap();
    assert_eq!(launch.count("registry", "remote joined"), 2, "bob cannot come back");
}
