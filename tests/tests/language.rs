//! Local state, supplied and `#[once]` values, local calls, caller identity, one-way calls,
//! timeouts, several selected remotes, waiting for remotes and clean ends, over real QUIC on
//! loopback. Every instance runs on its own thread with its own runtime.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use loci::RemoteError;
use loci_tests::{block_on, credentials, wait_until, Spawned};

#[loci::multitier]
pub mod jobs {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    use loci::{Here, Local, Remote, Signal, Var};

    #[peer(ties(Worker = Multiple, Client = Optional))]
    pub struct Master;

    #[peer(ties(Master = Single))]
    pub struct Worker;

    #[peer(ties(Master = Single))]
    pub struct Client;

    /// Registered workers and their slots, on each master.
    #[on(Master)]
    fn registered() -> Local<Mutex<Vec<(String, u32)>>> {
        Local::default()
    }

    /// A worker registers itself: the master learns who called from the call itself.
    #[on(Master)]
    pub fn register(ctx: &Here<Master>, worker: &Remote<Worker>, slots: u32) -> usize {
        let registered = ctx.local(registered);
        let mut registered = registered.lock().unwrap();
        registered.push((worker.name().to_owned(), slots));
        registered.len()
    }

    /// What the master holds, for the test to read.
    #[on(Master)]
    pub fn registrations(ctx: &Here<Master>) -> Vec<(String, u32)> {
        ctx.local(registered).lock().unwrap().clone()
    }

    /// A greeting computed for each reading client.
    #[on(Master)]
    pub fn greeting(ctx: &Here<Master>, client: &Remote<Client>) -> Signal<String> {
        Var::new(format!("{} greets {}", ctx.name(), client.name())).signal()
    }

    /// The slots this worker offers, supplied when it starts.
    #[on(Worker)]
    pub fn capacity() -> Local<u32>;

    /// How often `rated` was computed on this instance.
    #[on(Worker)]
    fn evaluations() -> Local<AtomicUsize> {
        Local::default()
    }

    /// A data value computed once per instance, from the supplied capacity.
    #[once]
    #[on(Worker)]
    pub fn rated(ctx: &Here<Worker>) -> u32 {
        ctx.local(evaluations).fetch_add(1, Ordering::SeqCst);
        *ctx.local(capacity) * 10
    }

    /// How often `rated` was computed, for the test to read.
    #[on(Worker)]
    pub fn rated_evaluations(ctx: &Here<Worker>) -> usize {
        ctx.local(evaluations).load(Ordering::SeqCst)
    }

    /// Lines noted by one-way calls, in arrival order.
    #[on(Worker)]
    fn notes() -> Local<Mutex<Vec<String>>> {
        Local::default()
    }

    /// The target of one-way calls.
    #[on(Worker)]
    pub fn note(ctx: &Here<Worker>, line: String) {
        ctx.local(notes).lock().unwrap().push(line);
    }

    /// The lines noted so far.
    #[on(Worker)]
    pub fn noted(ctx: &Here<Worker>) -> Vec<String> {
        ctx.local(notes).lock().unwrap().clone()
    }

    /// Answers after `ms` milliseconds.
    #[on(Worker)]
    pub async fn slow(ms: u64) -> u64 {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        ms
    }

    #[on(Worker)]
    pub fn double(x: u32) -> u32 {
        x * 2
    }

    /// Calls `double` on its own instance, without the network.
    #[on(Worker)]
    pub async fn quadruple(ctx: &Here<Worker>, x: u32) -> u32 {
        let twice = ctx.local(double).call(x).await;
        ctx.local(double).call(twice).await
    }

    /// The worker's name and its `rated` value, read locally.
    #[on(Worker)]
    pub fn identity(ctx: &Here<Worker>) -> (String, u32) {
        (ctx.name().to_owned(), *ctx.local(rated))
    }
}

use jobs::{
    double, greeting, identity, note, noted, quadruple, rated, rated_evaluations, register, registrations, slow,
    Client, Master, Worker,
};

fn master(creds: &std::path::Path) -> Spawned<Master> {
    Spawned::start(loci_tests::listening::<Master>(creds, "master"))
}

fn worker_builder(creds: &std::path::Path, name: &str, master: &Spawned<Master>, slots: u32) -> loci::Builder<Worker> {
    loci_tests::connecting::<Worker>(creds, name, "master", master.addr).supply(jobs::capacity, slots)
}

fn worker(creds: &std::path::Path, name: &str, master: &Spawned<Master>, slots: u32) -> Spawned<Worker> {
    Spawned::start(worker_builder(creds, name, master, slots))
}

fn workers(master: &Spawned<Master>) -> Vec<loci::Remote<Worker>> {
    let mut workers = master.here.remotes::<Worker>().connected();
    workers.sort_by(|a, b| a.name().cmp(b.name()));
    workers
}

#[test]
fn local_state_is_shared_by_placed_bodies_and_calls_know_their_caller() {
    let creds = credentials("lang-local");
    let master = master(&creds);
    let w1 = worker(&creds, "w1", &master, 4);
    let w2 = worker(&creds, "w2", &master, 2);
    assert_eq!(block_on(w1.here.remote(register).call(4)), Ok(1));
    assert_eq!(block_on(w2.here.remote(register).call(2)), Ok(2));
    let held = block_on(w1.here.remote(registrations).as_local()).unwrap();
    assert_eq!(held, vec![("w1".to_owned(), 4), ("w2".to_owned(), 2)]);
}

#[test]
fn a_value_required_at_start_up_but_not_supplied_names_itself() {
    let creds = credentials("lang-supply");
    let master = master(&creds);
    let builder = loci_tests::connecting::<Worker>(&creds, "w", "master", master.addr);
    let error = Spawned::try_start(builder).err().expect("a worker without its capacity must not start");
    let message = error.to_string();
    assert!(message.contains("`capacity` of `Worker`") && message.contains(".supply(capacity"), "{message}");
}

#[test]
fn a_once_value_is_computed_once_per_instance_and_read_remotely_and_locally() {
    let creds = credentials("lang-once");
    let master = master(&creds);
    let _w1 = worker(&creds, "w1", &master, 3);
    let _w2 = worker(&creds, "w2", &master, 5);
    wait_until(|| master.here.remotes::<Worker>().connected().len() == 2);
    for _ in 0..3 {
        let mut values: Vec<u32> =
            block_on(master.here.remote(rated).from_all()).into_iter().map(|(_, value)| value.unwrap()).collect();
        values.sort();
        assert_eq!(values, vec![30, 50]);
    }
    let workers = workers(&master);
    assert_eq!(block_on(master.here.remote(identity).from(&workers[0])), Ok(("w1".to_owned(), 30)));
    for worker in &workers {
        assert_eq!(block_on(master.here.remote(rated_evaluations).from(worker)), Ok(1));
    }
}

#[test]
fn a_placed_function_is_called_locally_without_the_network() {
    let creds = credentials("lang-local-call");
    let master = master(&creds);
    let w = worker(&creds, "w", &master, 1);
    assert_eq!(block_on(w.here.local(quadruple).call(3)), 12);
    wait_until(|| master.here.remotes::<Worker>().connected().len() == 1);
    let worker = workers(&master).remove(0);
    assert_eq!(block_on(master.here.remote(quadruple).from(&worker).call(5)), Ok(20));
}

#[test]
fn one_way_calls_arrive_in_order_with_the_other_frames() {
    let creds = credentials("lang-tell");
    let master = master(&creds);
    let _w = worker(&creds, "w", &master, 1);
    wait_until(|| master.here.remotes::<Worker>().connected().len() == 1);
    let worker = workers(&master).remove(0);
    block_on(async {
        for i in 0..100 {
            master.here.remote(note).from(&worker).tell(format!("line {i}")).await.unwrap();
        }
        // A call after the one-way calls is answered after they were served.
        assert_eq!(master.here.remote(double).from(&worker).call(21).await, Ok(42));
    });
    let expected: Vec<String> = (0..100).map(|i| format!("line {i}")).collect();
    assert_eq!(block_on(master.here.remote(noted).from(&worker)), Ok(expected));
    assert_eq!(master.here.__pending_calls(), 0, "one-way calls leave no pending entry");
}

#[test]
fn a_one_way_call_fails_only_when_it_cannot_be_queued() {
    let creds = credentials("lang-tell-none");
    let master = master(&creds);
    let w = worker(&creds, "w", &master, 1);
    wait_until(|| master.here.remotes::<Worker>().connected().len() == 1);
    let worker = workers(&master).remove(0);
    w.shutdown();
    wait_until(|| master.here.remotes::<Worker>().connected().is_empty());
    let outcome = block_on(master.here.remote(note).from(&worker).tell("late".to_owned()));
    assert!(matches!(outcome, Err(RemoteError::Disconnected { .. })), "{outcome:?}");
}

#[test]
fn a_timed_out_call_fails_with_a_typed_error_and_its_late_answer_is_dropped() {
    let creds = credentials("lang-timeout");
    let master = master(&creds);
    let _w = worker(&creds, "w", &master, 1);
    wait_until(|| master.here.remotes::<Worker>().connected().len() == 1);
    let worker = workers(&master).remove(0);
    let started = Instant::now();
    let outcome = block_on(master.here.remote(slow).from(&worker).timeout(Duration::from_millis(100)).call(600));
    let elapsed = started.elapsed();
    assert!(matches!(outcome, Err(RemoteError::TimedOut { after_ms: 100, .. })), "{outcome:?}");
    assert!(elapsed < Duration::from_millis(500), "timed out after {elapsed:?}");
    assert_eq!(master.here.__pending_calls(), 0, "the pending entry goes with the timeout");
    // The late answer arrives and is dropped; the connection keeps serving.
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(master.here.remotes::<Worker>().connected().len(), 1, "a late answer must not close the connection");
    assert_eq!(block_on(master.here.remote(double).from(&worker).call(4)), Ok(8));
    assert_eq!(master.here.__pending_calls(), 0);
}

#[test]
fn a_shorter_timeout_after_a_longer_one_still_fires_on_time() {
    let creds = credentials("lang-timeout-order");
    let master = master(&creds);
    let _w = worker(&creds, "w", &master, 1);
    wait_until(|| master.here.remotes::<Worker>().connected().len() == 1);
    let worker = workers(&master).remove(0);
    block_on(async {
        let long = master.here.remote(slow).from(&worker).timeout(Duration::from_secs(3)).call(1500);
        let short = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let started = Instant::now();
            let outcome = master.here.remote(slow).from(&worker).timeout(Duration::from_millis(100)).call(1000).await;
            (outcome, started.elapsed())
        };
        let (long, (short, elapsed)) = tokio::join!(long, short);
        assert_eq!(long, Ok(1500));
        assert!(matches!(short, Err(RemoteError::TimedOut { after_ms: 100, .. })), "{short:?}");
        assert!(elapsed < Duration::from_millis(400), "the 100 ms timeout fired after {elapsed:?}");
    });
    assert_eq!(master.here.__pending_calls(), 0);
}

#[test]
fn the_instance_default_timeout_applies_unless_an_access_overrides_it() {
    let creds = credentials("lang-default-timeout");
    let master = Spawned::start(
        loci_tests::listening::<Master>(&creds, "master").call_timeout(Some(Duration::from_millis(100))),
    );
    let _w = worker(&creds, "w", &master, 1);
    wait_until(|| master.here.remotes::<Worker>().connected().len() == 1);
    let outcome = block_on(master.here.remote(slow).from_all().call(400));
    assert!(matches!(outcome[0].1, Err(RemoteError::TimedOut { after_ms: 100, .. })), "{outcome:?}");
    let outcome = block_on(master.here.remote(slow).from_all().timeout(Duration::from_secs(2)).call(200));
    assert_eq!(outcome[0].1, Ok(200));
}

#[test]
fn from_each_calls_the_selected_remotes_concurrently_in_the_order_given() {
    let creds = credentials("lang-each");
    let master = master(&creds);
    let _ws: Vec<_> = ["w1", "w2", "w3"].iter().map(|name| worker(&creds, name, &master, 1)).collect();
    wait_until(|| master.here.remotes::<Worker>().connected().len() == 3);
    let all = workers(&master);
    let selected = [all[2].clone(), all[0].clone()];
    let started = Instant::now();
    let answers = block_on(master.here.remote(slow).from_each(&selected).call(300));
    assert!(started.elapsed() < Duration::from_millis(800), "not concurrent: {:?}", started.elapsed());
    let names: Vec<&str> = answers.iter().map(|(remote, _)| remote.name()).collect();
    assert_eq!(names, vec!["w3", "w1"]);
    assert!(answers.iter().all(|(_, answer)| *answer == Ok(300)));
    let identities = block_on(master.here.remote(identity).from_each(&selected));
    assert_eq!(identities[0].1, Ok(("w3".to_owned(), 10)));
}

#[test]
fn code_can_wait_for_a_number_of_remotes() {
    let creds = credentials("lang-wait");
    let master = master(&creds);
    let too_few = block_on(master.here.remotes::<Worker>().wait_for(1, Duration::from_millis(200)));
    assert!(matches!(too_few, Err(RemoteError::TooFew { wanted: 1, connected: 0, .. })), "{too_few:?}");
    let (tx, rx) = mpsc::channel();
    let here = master.here.clone();
    let waiter = std::thread::spawn(move || {
        let joined = block_on(here.remotes::<Worker>().wait_for(2, Duration::from_secs(10)));
        tx.send(joined.map(|remotes| remotes.len())).unwrap();
    });
    std::thread::sleep(Duration::from_millis(100));
    let _w1 = worker(&creds, "w1", &master, 1);
    assert!(rx.recv_timeout(Duration::from_millis(300)).is_err(), "returned with one of two workers");
    let _w2 = worker(&creds, "w2", &master, 1);
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), Ok(2));
    waiter.join().unwrap();
}

#[test]
fn a_signal_may_depend_on_its_reader() {
    let creds = credentials("lang-subjective-signal");
    let master = master(&creds);
    let client = Spawned::start(loci_tests::connecting::<Client>(&creds, "carol", "master", master.addr));
    let greeting = block_on(client.here.remote(greeting).as_local()).unwrap();
    assert_eq!(greeting.get(), "master greets carol");
}

/// Runs a worker to its end on its own thread; the end comes back on the channel.
fn run_worker(builder: loci::Builder<Worker>) -> mpsc::Receiver<loci::Result<()>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let ended = block_on(async move { builder.start().await?.run().await });
        let _ = tx.send(ended);
    });
    rx
}

#[test]
fn a_single_remote_that_shuts_down_ends_the_instance_without_error() {
    let creds = credentials("lang-clean-end");
    let master = master(&creds);
    let ended = run_worker(worker_builder(&creds, "w", &master, 1));
    wait_until(|| master.here.remotes::<Worker>().connected().len() == 1);
    master.shutdown();
    let outcome = ended.recv_timeout(Duration::from_secs(5)).expect("the worker ends when its master shuts down");
    assert!(outcome.is_ok(), "{outcome:?}");
}

#[test]
fn a_lost_single_remote_ends_the_instance_with_an_error_in_words() {
    let creds = credentials("lang-lost-end");
    let master = master(&creds);
    let builder = worker_builder(&creds, "w", &master, 1)
        .idle_timeout(Duration::from_millis(500))
        .reconnect(loci::Reconnect { give_up: Some(Duration::from_millis(300)), ..loci::Reconnect::default() });
    let ended = run_worker(builder);
    wait_until(|| master.here.remotes::<Worker>().connected().len() == 1);
    master.crash();
    let outcome = ended.recv_timeout(Duration::from_secs(5)).expect("the worker ends when its master stays lost");
    let error = outcome.expect_err("losing the master is an error");
    let debug = format!("{error:?}");
    assert!(debug.starts_with("lost the Master this Worker is tied to as Single"), "{debug}");
    assert!(debug.contains("did not come back within 300 ms"), "{debug}");
}

#[test]
fn without_reconnection_a_lost_single_remote_ends_the_instance_at_once() {
    let creds = credentials("lang-lost-never");
    let master = master(&creds);
    let builder = worker_builder(&creds, "w", &master, 1)
        .idle_timeout(Duration::from_millis(500))
        .reconnect(loci::Reconnect::never());
    let ended = run_worker(builder);
    wait_until(|| master.here.remotes::<Worker>().connected().len() == 1);
    let crashed_at = Instant::now();
    master.crash();
    let outcome = ended.recv_timeout(Duration::from_secs(5)).expect("the worker ends when its master is lost");
    assert!(crashed_at.elapsed() < Duration::from_millis(1500), "ended after {:?}", crashed_at.elapsed());
    assert!(!format!("{:?}", outcome.expect_err("an error")).contains("did not come back"));
}
