//! Pong as separate processes: a server, two bot players (one misses on purpose), a watcher.

use std::path::PathBuf;

use loci_tests::process::Proc;

const SERVER: &str = env!("CARGO_BIN_EXE_server");
const CLIENT: &str = env!("CARGO_BIN_EXE_client");

fn credentials() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loci-pong-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    loci::credentials::create_cluster(&dir).unwrap();
    dir
}

fn last_score(client: &Proc) -> Option<String> {
    client.output().lines().rfind(|line| line.starts_with("score ")).map(str::to_owned)
}

#[test]
fn two_bots_play_a_watcher_sees_the_same_score() {
    let creds = credentials();
    let creds = creds.to_str().unwrap();
    let server = Proc::spawn(SERVER, &["--listen", "127.0.0.1:0", "--credentials", creds]);
    let addr = server.wait_for("listening").rsplit("local_addr=").next().unwrap().trim().to_owned();
    let connect = format!("server={addr}");
    let follower = Proc::spawn(CLIENT, &["--bot", "--name", "follower", "--connect", &connect, "--credentials", creds]);
    follower.wait_for("follower ready");
    let misser =
        Proc::spawn(CLIENT, &["--bot", "--miss", "--name", "misser", "--connect", &connect, "--credentials", creds]);
    misser.wait_for("misser ready");
    let watcher = Proc::spawn(CLIENT, &["--bot", "--name", "watcher", "--connect", &connect, "--credentials", creds]);
    watcher.wait_for("watcher ready");

    // The ball moves: the watcher reports different positions while the two players play.
    watcher.wait_for_count("players follower,misser", 3);
    let positions: Vec<String> = watcher
        .output()
        .lines()
        .filter(|line| line.starts_with("ball "))
        .map(|line| line.split(" players").next().unwrap().to_owned())
        .collect();
    assert!(positions.windows(2).any(|pair| pair[0] != pair[1]), "the ball does not move: {positions:?}");

    // The misser (right) never reaches the ball, so the follower (left) scores.
    follower.wait_for("score 1 : 0");
    watcher.wait_for("score 1 : 0");
    misser.wait_for("score 1 : 0");
    follower.wait_for("score 2 : 0");
    watcher.wait_for("score 2 : 0");
    assert_eq!(last_score(&watcher).as_deref().map(|s| s >= "score 2 : 0"), Some(true));
    assert!(last_score(&follower).unwrap().ends_with(": 0"), "the follower never misses");
}
