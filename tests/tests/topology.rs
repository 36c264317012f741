//! Topology that changes, over real QUIC on loopback: reconnection to a restarted instance with
//! subscriptions that resume, a mutual dial, remotes sent to other peers and reached there,
//! connecting and disconnecting at run time, host names.

use std::time::{Duration, Instant};

use loci_tests::cluster::{current_job, log_lines, JobManager, Monitor, TaskManager};
use loci_tests::{block_on, credentials, issued, wait_until, Spawned};

#[loci::multitier]
pub mod p2p {
    use loci::{Here, Remote, RemoteError};

    /// Nodes talk to nodes.
    #[peer(ties(Node = Multiple))]
    pub struct Node;

    /// Who answers.
    #[on(Node)]
    pub fn whoami(ctx: &Here<Node>) -> String {
        ctx.name().to_owned()
    }

    /// Someone tells this node about `other`; it connects there and asks who it is.
    #[on(Node)]
    pub async fn introduce(ctx: &Here<Node>, other: Remote<Node>) -> Result<String, String> {
        let reached = ctx.remotes::<Node>().reach(&other).await.map_err(|e| e.to_string())?;
        ctx.remote(whoami).from(&reached).await.map_err(|e: RemoteError| e.to_string())
    }
}

use p2p::Node;

fn node(creds: &std::path::Path, name: &str) -> Spawned<Node> {
    Spawned::start(loci_tests::listening::<Node>(creds, name))
}

#[test]
fn a_restarted_instance_is_reconnected_and_subscriptions_resume() {
    let creds = credentials("topo-restart");
    let jm = Spawned::start(loci_tests::listening::<JobManager>(&creds, "jm"));
    let port = jm.addr.port();
    let tm = Spawned::start(loci_tests::connecting::<TaskManager>(&creds, "tm", "jobmanager", jm.addr));
    let (lines_tx, lines) = std::sync::mpsc::channel();
    let job = block_on(async {
        let _ = tm.here.remote(log_lines).as_local().observe(move |line| {
            let _ = lines_tx.send(line.clone());
        });
        tm.here.remote(current_job).as_local().await.unwrap()
    });
    wait_until(|| jm.here.remotes::<TaskManager>().connected().len() == 1);
    std::thread::sleep(Duration::from_millis(100));
    jm.here.local(log_lines).fire("before".to_owned());
    assert_eq!(lines.recv_timeout(Duration::from_secs(5)).unwrap(), "before");

    jm.kill();
    let restarted_at = Instant::now();
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    // Under its name, with its credentials: the remotes of the killed one are reset at once.
    let jm = Spawned::start(
        loci::Instance::<JobManager>::builder()
            .credentials(issued::<JobManager>(&creds, "jm"))
            .name("jm/again")
            .listen(addr),
    );
    wait_until(|| jm.here.remotes::<TaskManager>().connected().len() == 1);
    let reconnected = restarted_at.elapsed();
    assert!(reconnected < Duration::from_secs(2), "reconnected {reconnected:?} after the restart");
    wait_until(|| tm.here.remotes::<JobManager>().connected().len() == 1);
    assert_eq!(tm.here.remotes::<JobManager>().connected()[0].name(), "jm/again");

    // The subscriptions made before are served by the new instance, into the same local values.
    wait_until(|| job.get() == "idle");
    std::thread::sleep(Duration::from_millis(200));
    jm.here.local(log_lines).fire("after".to_owned());
    assert_eq!(lines.recv_timeout(Duration::from_secs(5)).unwrap(), "after");
    jm.here.local(current_job).set("word-count".to_owned());
    wait_until(|| job.get() == "word-count");
}

#[test]
fn two_instances_that_dial_each_other_keep_one_connection() {
    let creds = credentials("topo-mutual");
    let a = node(&creds, "a");
    let b = node(&creds, "b");
    let (a_here, b_here) = (a.here.clone(), b.here.clone());
    let (a_to_b, b_to_a) = (b.addr, a.addr);
    let dial_ab = std::thread::spawn(move || block_on(a_here.remotes::<Node>().connect(a_to_b)));
    let dial_ba = std::thread::spawn(move || block_on(b_here.remotes::<Node>().connect(b_to_a)));
    let (ab, ba) = (dial_ab.join().unwrap(), dial_ba.join().unwrap());
    assert_eq!(ab.map(|remote| remote.name().to_owned()), Ok("b".to_owned()));
    assert_eq!(ba.map(|remote| remote.name().to_owned()), Ok("a".to_owned()));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(a.here.remotes::<Node>().connected().len(), 1);
    assert_eq!(b.here.remotes::<Node>().connected().len(), 1);
    let to_b = a.here.remotes::<Node>().connected().remove(0);
    let to_a = b.here.remotes::<Node>().connected().remove(0);
    assert_eq!(block_on(a.here.remote(p2p::whoami).from(&to_b)), Ok("b".to_owned()));
    assert_eq!(block_on(b.here.remote(p2p::whoami).from(&to_a)), Ok("a".to_owned()));
}

#[test]
fn a_remote_sent_to_another_peer_is_reached_there() {
    let creds = credentials("topo-send");
    let a = node(&creds, "a");
    let b = node(&creds, "b");
    let c = node(&creds, "c");
    let to_b = block_on(a.here.remotes::<Node>().connect(b.addr)).unwrap();
    let to_c = block_on(a.here.remotes::<Node>().connect(c.addr)).unwrap();
    assert_eq!(to_c.listen_addr(), Some(c.addr));
    // `a` tells `b` about `c`; `b` connects to `c` and asks it.
    let answer = block_on(a.here.remote(p2p::introduce).from(&to_b).call(to_c.clone()));
    assert_eq!(answer, Ok(Ok("c".to_owned())));
    wait_until(|| c.here.remotes::<Node>().connected().iter().any(|remote| remote.name() == "b"));
    let seen_by_b = b.here.remotes::<Node>().connected().into_iter().find(|remote| remote.name() == "c").unwrap();
    assert_eq!(seen_by_b.instance(), to_c.instance(), "the instance identity holds across the cluster");
}

#[test]
fn connecting_by_host_name_and_disconnecting_at_run_time() {
    let creds = credentials("topo-runtime");
    let a = node(&creds, "a");
    let b = node(&creds, "b");
    let to_b = block_on(a.here.remotes::<Node>().connect(format!("localhost:{}", b.addr.port()))).unwrap();
    assert_eq!(to_b.name(), "b");
    wait_until(|| b.here.remotes::<Node>().connected().len() == 1);
    let left = b.here.remotes::<Node>().left();
    let (left_tx, left_rx) = std::sync::mpsc::channel();
    let _ = left.observe(move |remote| {
        let _ = left_tx.send(remote.name().to_owned());
    });
    assert!(a.here.remotes::<Node>().disconnect(&to_b, "done talking"));
    assert_eq!(left_rx.recv_timeout(Duration::from_secs(3)).unwrap(), "a");
    assert!(a.here.remotes::<Node>().connected().is_empty());
    let unreachable = block_on(a.here.remotes::<Node>().connect("127.0.0.1:9"));
    assert!(matches!(unreachable, Err(loci::RemoteError::Unreachable { .. })), "{unreachable:?}");
}

#[test]
fn connecting_again_keeps_the_connection_and_dialling_oneself_is_refused() {
    let creds = credentials("topo-again");
    let a = node(&creds, "a");
    let b = node(&creds, "b");
    let first = block_on(a.here.remotes::<Node>().connect(b.addr)).unwrap();
    let again = block_on(a.here.remotes::<Node>().connect(b.addr)).unwrap();
    assert_eq!(first, again, "the same instance");
    assert_eq!(first.id(), again.id(), "over the same connection");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(block_on(a.here.remote(p2p::whoami).from(&first)), Ok("b".to_owned()));
    assert_eq!(a.here.remotes::<Node>().connected().len(), 1);
    assert_eq!(b.here.remotes::<Node>().connected().len(), 1);

    let itself = block_on(a.here.remotes::<Node>().connect(a.addr));
    assert!(
        matches!(&itself, Err(loci::RemoteError::Unreachable { reason, .. }) if reason.contains("itself")),
        "{itself:?}"
    );
}

#[test]
fn a_remote_signal_that_nobody_reads_any_more_stops_being_followed() {
    let creds = credentials("topo-signal-drop");
    let jm = Spawned::start(loci_tests::listening::<JobManager>(&creds, "jm"));
    let tm = Spawned::start(loci_tests::connecting::<TaskManager>(&creds, "tm", "jobmanager", jm.addr));
    let kept = block_on(tm.here.remote(current_job).as_local()).unwrap();
    for _ in 0..50 {
        let dropped = block_on(tm.here.remote(current_job).as_local()).unwrap();
        assert_eq!(dropped.get(), "idle");
    }
    // Each new follower asks for the current value, which finds the dropped copies gone: their
    // interests are withdrawn as it goes, so following in a loop holds constant memory.
    wait_until(|| tm.here.__interests() <= 2);
    jm.here.local(current_job).set("word-count".to_owned());
    wait_until(|| kept.get() == "word-count");
    wait_until(|| tm.here.__interests() == 1);
    jm.here.local(current_job).set("reduce".to_owned());
    wait_until(|| kept.get() == "reduce");
}

#[test]
fn an_observed_remote_signal_keeps_being_followed_without_handles() {
    let creds = credentials("topo-signal-observed");
    let jm = Spawned::start(loci_tests::listening::<JobManager>(&creds, "jm"));
    let tm = Spawned::start(loci_tests::connecting::<TaskManager>(&creds, "tm", "jobmanager", jm.addr));
    let (seen_tx, seen) = std::sync::mpsc::channel();
    block_on(async {
        let job = tm.here.remote(current_job).as_local().await.unwrap();
        let _ = job.observe(move |value| {
            let _ = seen_tx.send(value.clone());
        });
        // The handle goes out of scope here; the observer stays.
    });
    for name in ["map", "reduce"] {
        jm.here.local(current_job).set(name.to_owned());
        assert_eq!(seen.recv_timeout(Duration::from_secs(5)).unwrap(), name);
    }
    assert_eq!(tm.here.__interests(), 1);
}

#[test]
fn a_process_restarted_on_its_address_takes_its_tie_over_at_once() {
    let creds = credentials("topo-takeover");
    let jm = Spawned::start(loci_tests::listening::<JobManager>(&creds, "jm"));
    // The monitor is the job manager's one `Optional` remote; it dials from its own address.
    let monitor = Spawned::start(loci_tests::listening::<Monitor>(&creds, "monitor").connect("jobmanager", jm.addr));
    let addr = monitor.addr;
    wait_until(|| jm.here.remotes::<Monitor>().connected().len() == 1);
    monitor.kill();
    // Before the job manager can notice that the old process is gone, a new one dials from the
    // same address: the tie is not held against it.
    let again = Spawned::start(
        loci::Instance::<Monitor>::builder()
            .credentials(issued::<Monitor>(&creds, "monitor"))
            .name("monitor/again")
            .listen(addr)
            .connect("jobmanager", jm.addr),
    );
    wait_until(|| jm.here.remotes::<Monitor>().connected().iter().any(|m| m.name() == "monitor/again"));
    assert_eq!(jm.here.remotes::<Monitor>().connected().len(), 1);
    assert_eq!(again.here.remotes::<JobManager>().connected().len(), 1);
}

#[test]
fn a_dialler_refused_for_a_full_tie_at_start_tries_again_until_its_connect_timeout() {
    let creds = credentials("topo-full");
    let jm =
        Spawned::start(loci_tests::listening::<JobManager>(&creds, "jm").idle_timeout(Duration::from_millis(3000)));
    let monitor = Spawned::start(loci_tests::connecting::<Monitor>(&creds, "monitor", "jobmanager", jm.addr));
    wait_until(|| jm.here.remotes::<Monitor>().connected().len() == 1);
    // Gone without a word, from an address nobody dials from again: the job manager holds its
    // one `Optional` monitor until the connection times out.
    monitor.crash();
    let crashed_at = Instant::now();

    // Within a short connect timeout the tie stays full, and the error says so.
    let refused = Spawned::try_start(
        loci_tests::connecting::<Monitor>(&creds, "monitor2", "jobmanager", jm.addr)
            .connect_timeout(Duration::from_millis(100)),
    )
    .err()
    .expect("the tie is still full");
    let refused = refused.to_string();
    assert!(refused.contains("already has its one remote"), "{refused}");

    // With the default connect timeout (10 s) the new monitor waits for the old connection to
    // time out, and takes the tie.
    let again = Spawned::start(loci_tests::connecting::<Monitor>(&creds, "monitor3", "jobmanager", jm.addr));
    let waited = crashed_at.elapsed();
    assert!(waited >= Duration::from_millis(500), "connected after {waited:?}, before the old connection timed out");
    let monitors = jm.here.remotes::<Monitor>().connected();
    assert_eq!(monitors.len(), 1);
    assert_eq!(monitors[0].name(), "monitor3");
    assert_eq!(again.here.remotes::<JobManager>().connected().len(), 1);
}
