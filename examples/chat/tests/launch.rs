//! The launcher (`loci::launch`) on the chat's executables: starting by name, typing, stopping,
//! continuing, restarting, and leaving no process behind.

use std::thread;
use std::time::Duration;

use loci::launch::Launch;

const REGISTRY: &str = env!("CARGO_BIN_EXE_registry");
const NODE: &str = env!("CARGO_BIN_EXE_node");
const WAIT: Duration = Duration::from_secs(15);

/// Whether process `pid` still runs (a zombie waiting to be reaped does not).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit(')').next().map(|rest| rest.trim_start().to_owned()))
        .is_some_and(|state| !state.starts_with('Z'))
}

fn chat(launch: &mut Launch) -> std::io::Result<String> {
    launch.credentials()?;
    launch.start("registry", REGISTRY, &["--listen", "127.0.0.1:0"])?;
    let connect = format!("registry={}", launch.listen_addr("registry")?);
    for name in ["alice", "bob"] {
        launch.start(name, NODE, &["--connect", &connect])?;
        launch.wait_for(name, "joined the chat", WAIT)?;
    }
    launch.wait_for_count("registry", "remote joined", 2, WAIT)?;
    thread::sleep(Duration::from_millis(300));
    Ok(connect)
}

#[test]
fn a_launch_types_stops_continues_and_restarts_processes_by_name() -> std::io::Result<()> {
    let mut launch = Launch::new().quiet();
    chat(&mut launch)?;
    launch.say("alice", "hello bob")?;
    launch.wait_for("bob", "alice: hello bob", WAIT)?;

    launch.stop("registry")?;
    launch.say("alice", "during a short stall")?;
    thread::sleep(Duration::from_millis(1500));
    launch.cont("registry")?;
    launch.wait_for("bob", "alice: during a short stall", WAIT)?;

    // The registry restarts on a new port: the nodes, dialling its old address, give up and
    // exit; the test only shows that restart starts the same command again.
    launch.restart("registry")?;
    launch.wait_for("registry", "listening", WAIT)?;
    Ok(())
}

#[test]
fn dropping_a_launch_ends_its_processes() -> std::io::Result<()> {
    let mut launch = Launch::new().quiet();
    chat(&mut launch)?;
    let pids = [launch.pid("registry")?, launch.pid("alice")?, launch.pid("bob")?];
    assert!(pids.iter().all(|pid| running(*pid)));
    drop(launch);
    assert!(pids.iter().all(|pid| !running(*pid)), "a process outlived its launch");
    Ok(())
}

#[test]
fn a_launcher_that_goes_away_without_cleaning_up_leaves_no_process_behind() {
    // The launch lives in a thread that ends without dropping it, as a killed launcher would.
    let pids = thread::spawn(|| {
        let mut launch = Launch::new().quiet();
        chat(&mut launch).unwrap();
        let pids = [launch.pid("registry").unwrap(), launch.pid("alice").unwrap(), launch.pid("bob").unwrap()];
        std::mem::forget(launch);
        pids
    })
    .join()
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|pid| running(*pid)) {
        assert!(std::time::Instant::now() < deadline, "processes outlived their launcher: {pids:?}");
        thread::sleep(Duration::from_millis(20));
    }
}
