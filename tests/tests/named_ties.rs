//! Named ties over real QUIC on loopback: a worker with a primary and a backup master, each
//! tie with its own multiplicity, capacity, `--connect` name and remote access.

use std::time::Duration;

use loci_tests::{block_on, credentials, listening, wait_until, Spawned};

#[loci::multitier]
pub mod pool {
    use loci::{Here, Remote};

    /// Hands out work; a worker that a master dials is on that worker's `primary` tie.
    #[peer(ties(workers: Worker = Multiple), back(workers = primary))]
    pub struct Master;

    /// Works for a primary master, and a backup one when there is one.
    #[peer(ties(primary: Master = Single, backup: Master = Optional))]
    pub struct Worker;

    /// Which master answers.
    #[on(Master)]
    pub fn whoami(ctx: &Here<Master>) -> String {
        ctx.name().to_owned()
    }

    /// The tie the calling worker is on, as this master sees it.
    #[on(Master)]
    pub fn seen_on(caller: &Remote<Worker>) -> Option<String> {
        caller.tie().map(str::to_owned)
    }

    /// Greets the primary master in a block that runs there.
    pub async fn greet_primary(ctx: &Here<Worker>, greeting: String) -> Result<String, loci::RemoteError> {
        remote!(ctx, capture(greeting), |m: &Here<Master>| -> String { format!("{greeting} from {}", m.name()) })
            .over(primary)
            .as_local()
            .await
    }

    /// Greets the backup master, if there is one, in a block that runs there; with `wait`,
    /// waits that long for one to connect.
    pub async fn greet_backup(
        ctx: &Here<Worker>,
        greeting: String,
        wait: Option<std::time::Duration>,
    ) -> Result<Option<String>, loci::RemoteError> {
        let block =
            remote!(ctx, capture(greeting), |m: &Here<Master>| -> String { format!("{greeting} from {}", m.name()) })
                .over(backup);
        match wait {
            Some(wait) => block.when_connected().timeout(wait).as_local().await,
            None => block.as_local().await,
        }
    }

    /// The tie the calling master is on, as this worker sees it.
    #[on(Worker)]
    pub fn role(caller: &Remote<Master>) -> String {
        caller.tie().unwrap_or("none").to_owned()
    }
}

use pool::{backup, primary, role, seen_on, whoami, Master, Worker};

fn worker(
    creds: &std::path::Path,
    primary_at: std::net::SocketAddr,
    backup_at: std::net::SocketAddr,
) -> Spawned<Worker> {
    Spawned::start(listening::<Worker>(creds, "w").connect("primary", primary_at).connect("backup", backup_at))
}

#[test]
fn each_named_tie_is_reached_by_name_and_both_ends_know_it() {
    let creds = credentials("named-reach");
    let m1 = Spawned::start(listening::<Master>(&creds, "m1"));
    let m2 = Spawned::start(listening::<Master>(&creds, "m2"));
    let w = worker(&creds, m1.addr, m2.addr);

    assert_eq!(block_on(w.here.remote(whoami).over(primary).as_local()), Ok("m1".to_owned()));
    assert_eq!(block_on(w.here.remote(whoami).over(backup).as_local()), Ok(Some("m2".to_owned())));
    // Over both ties together, access aggregates.
    let mut all: Vec<String> =
        block_on(w.here.remote(whoami).from_all()).into_iter().map(|(_, answer)| answer.unwrap()).collect();
    all.sort();
    assert_eq!(all, ["m1", "m2"]);
    assert_eq!(w.here.tie(primary).connected().len(), 1);
    assert_eq!(w.here.tie(primary).connected()[0].name(), "m1");
    assert_eq!(w.here.remotes::<Master>().connected().len(), 2);

    // The dialler's tie is filed under its tie back at the other end, and each end says so.
    assert_eq!(block_on(w.here.remote(seen_on).over(primary).as_local()), Ok(Some("workers".to_owned())));
    wait_until(|| m1.here.remotes::<Worker>().connected().len() == 1);
    let roles = block_on(m2.here.remote(role).from_all());
    assert_eq!(roles.into_iter().map(|(_, role)| role.unwrap()).collect::<Vec<_>>(), ["backup"]);
}

#[test]
fn each_named_tie_has_its_own_capacity_and_an_optional_one_can_be_waited_for() {
    let creds = credentials("named-capacity");
    let m1 = Spawned::start(listening::<Master>(&creds, "m1"));
    let m2 = Spawned::start(listening::<Master>(&creds, "m2"));
    let m3 = Spawned::start(listening::<Master>(&creds, "m3"));
    // The backup is connected at run time, so nothing dials it again once it is let go.
    let w = Spawned::start(listening::<Worker>(&creds, "w").connect("primary", m1.addr));
    assert_eq!(block_on(w.here.tie(backup).connect(m2.addr)).map(|m| m.name().to_owned()), Ok("m2".to_owned()));

    // `backup` is Optional and taken: a second master on it is refused, naming the tie.
    let refused = block_on(w.here.tie(backup).connect(m3.addr));
    let refusal = refused.unwrap_err().to_string();
    assert!(refusal.contains("backup: Master") && refusal.contains("already has its one remote"), "{refusal}");

    // Once it is free, an access that waits sees the next backup that connects.
    let gone = w.here.tie(backup).connected().remove(0);
    assert!(w.here.tie(backup).disconnect(&gone, "replaced"));
    assert_eq!(block_on(w.here.remote(whoami).over(backup).as_local()), Ok(None));
    let here = w.here.clone();
    let m3_addr = m3.addr;
    let later = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        block_on(here.tie(backup).connect(m3_addr)).map(|remote| remote.name().to_owned())
    });
    let waited =
        block_on(w.here.remote(whoami).over(backup).when_connected().timeout(Duration::from_secs(5)).as_local());
    assert_eq!(waited, Ok(Some("m3".to_owned())));
    assert_eq!(later.join().unwrap(), Ok("m3".to_owned()));
    // Without a remote and without time left, the wait ends with the tie's answer: none.
    assert!(w.here.tie(backup).disconnect(&w.here.tie(backup).connected()[0], "bye"));
    let nothing =
        block_on(w.here.remote(whoami).over(backup).when_connected().timeout(Duration::from_millis(200)).as_local());
    assert_eq!(nothing, Ok(None));
}

#[test]
fn a_remote_block_runs_over_the_named_tie_it_is_given() {
    let creds = credentials("named-blocks");
    let m1 = Spawned::start(listening::<Master>(&creds, "m1"));
    let m2 = Spawned::start(listening::<Master>(&creds, "m2"));
    let w = worker(&creds, m1.addr, m2.addr);
    assert_eq!(block_on(pool::greet_primary(&w.here, "hi".into())), Ok("hi from m1".to_owned()));
    assert_eq!(block_on(pool::greet_backup(&w.here, "hi".into(), None)), Ok(Some("hi from m2".to_owned())));

    // Without a backup, the block has nowhere to run; waiting, it runs on the next one.
    let gone = w.here.tie(backup).connected().remove(0);
    assert!(w.here.tie(backup).disconnect(&gone, "replaced"));
    assert_eq!(block_on(pool::greet_backup(&w.here, "hi".into(), None)), Ok(None));
    let here = w.here.clone();
    let m2_addr = m2.addr;
    let later = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        block_on(here.tie(backup).connect(m2_addr)).map(|remote| remote.name().to_owned())
    });
    let waited = block_on(pool::greet_backup(&w.here, "again".into(), Some(Duration::from_secs(5))));
    assert_eq!(waited, Ok(Some("again from m2".to_owned())));
    assert_eq!(later.join().unwrap(), Ok("m2".to_owned()));
}

#[test]
fn a_connect_target_names_one_tie() {
    let creds = credentials("named-connect");
    let m1 = Spawned::start(listening::<Master>(&creds, "m1"));
    let ambiguous = Spawned::try_start(listening::<Worker>(&creds, "w").connect("master", m1.addr)).err().unwrap();
    assert_eq!(
        ambiguous.to_string(),
        "invalid configuration: `--connect master=...`: `Worker` has 2 ties to `Master`; name the one you mean: `primary`, `backup` (peers of module `pool`: master, worker)"
    );
    let unknown = Spawned::try_start(listening::<Worker>(&creds, "w").connect("primery", m1.addr)).err().unwrap();
    assert!(unknown.to_string().contains("`Worker` has no tie called `primery`"), "{unknown}");
}
