//! Pong as separate processes, started with the launcher: a server, two bot players (one
//! misses on purpose), a watcher.

use std::time::Duration;

use loci::launch::Launch;

const SERVER: &str = env!("CARGO_BIN_EXE_server");
const CLIENT: &str = env!("CARGO_BIN_EXE_client");
const WAIT: Duration = Duration::from_secs(15);

/// The last score a client reported, as (left, right).
fn last_score(launch: &Launch, client: &str) -> Option<(u32, u32)> {
    let line = launch.output(client).into_iter().rfind(|line| line.starts_with("score "))?;
    let (left, right) = line.strip_prefix("score ")?.split_once(" : ")?;
    Some((left.trim().parse().ok()?, right.trim().parse().ok()?))
}

#[test]
fn two_bots_play_a_watcher_sees_the_same_score() -> std::io::Result<()> {
    let mut launch = Launch::new().quiet();
    launch.credentials()?;
    launch.start("server", SERVER, &["--listen", "127.0.0.1:0"])?;
    let connect = format!("server={}", launch.listen_addr("server")?);
    launch.start("follower", CLIENT, &["--bot", "--connect", &connect])?;
    launch.wait_for("follower", "follower ready", WAIT)?;
    launch.start("misser", CLIENT, &["--bot", "--miss", "--connect", &connect])?;
    launch.wait_for("misser", "misser ready", WAIT)?;
    launch.start("watcher", CLIENT, &["--bot", "--connect", &connect])?;
    launch.wait_for("watcher", "watcher ready", WAIT)?;

    // The ball moves: the watcher reports different positions while the two players play.
    launch.wait_for_count("watcher", "players follower,misser", 3, WAIT)?;
    let positions: Vec<String> = launch
        .output("watcher")
        .into_iter()
        .filter(|line| line.starts_with("ball "))
        .map(|line| line.split(" players").next().unwrap_or_default().to_owned())
        .collect();
    assert!(positions.windows(2).any(|pair| pair[0] != pair[1]), "the ball does not move: {positions:?}");

    // The misser (right) never reaches the ball, so the follower (left) scores.
    for client in ["follower", "watcher", "misser"] {
        launch.wait_for(client, "score 1 : 0", WAIT)?;
    }
    launch.wait_for("follower", "score 2 : 0", WAIT)?;
    launch.wait_for("watcher", "score 2 : 0", WAIT)?;
    assert!(last_score(&launch, "watcher").is_some_and(|(left, _)| left >= 2));
    assert_eq!(last_score(&launch, "follower").map(|(_, right)| right), Some(0), "the follower never misses");
    Ok(())
}
