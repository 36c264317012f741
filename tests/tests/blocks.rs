//! Remote blocks and spores over real QUIC on loopback: blocks on a selected remote, on the one
//! remote of a Single tie and on every remote of a Multiple tie, async and one-way blocks,
//! timeouts; spores applied locally and where they are sent, composed, and refused from another
//! build or on another peer kind.

use std::time::Duration;

use loci::{RemoteError, SporeError};
use loci_tests::{block_on, credentials, wait_until, Spawned};

#[loci::multitier]
pub mod gateway {
    use std::sync::Mutex;
    use std::time::Duration;

    use loci::{Anywhere, Here, Local, Remote, RemoteError, Spore};

    #[peer(ties(TaskManager = Multiple))]
    pub struct JobManager;

    #[peer(ties(JobManager = Single))]
    pub struct TaskManager;

    /// The tasks a task manager runs.
    #[on(TaskManager)]
    fn tasks() -> Local<Mutex<Vec<String>>> {
        Local::default()
    }

    /// Submits `task` to `mgr` with a remote block that reaches its local state. A plain
    /// helper of the job manager: it is called locally, with a `Remote` that stays here.
    pub async fn submit(ctx: &Here<JobManager>, task: String, mgr: &Remote<TaskManager>) -> Result<usize, RemoteError> {
        remote!(ctx, capture(task), |tm: &Here<TaskManager>| -> usize {
            let tasks = tm.local(tasks);
            let mut tasks = tasks.lock().unwrap();
            tasks.push(task);
            tasks.len()
        })
        .from(mgr)
        .await
    }

    /// Every task manager's tasks, with a block run on all of them.
    pub async fn all_tasks(ctx: &Here<JobManager>) -> Vec<(String, Vec<String>)> {
        let answers = remote!(ctx, |tm: &Here<TaskManager>| -> (String, Vec<String>) {
            (tm.name().to_owned(), tm.local(tasks).lock().unwrap().clone())
        })
        .from_all()
        .await;
        let mut all: Vec<_> = answers.into_iter().filter_map(|(_, answer)| answer.ok()).collect();
        all.sort();
        all
    }

    /// A one-way block, then an answer that comes after it.
    pub async fn note_then_count(
        ctx: &Here<JobManager>,
        mgr: &Remote<TaskManager>,
        note: String,
    ) -> Result<usize, RemoteError> {
        remote!(ctx, capture(note), |tm: &Here<TaskManager>| { tm.local(tasks).lock().unwrap().push(note) })
            .from(mgr)
            .tell()
            .await?;
        remote!(ctx, |tm: &Here<TaskManager>| -> usize { tm.local(tasks).lock().unwrap().len() }).from(mgr).await
    }

    /// An async block that waits, bounded by a timeout.
    pub async fn slow(
        ctx: &Here<JobManager>,
        mgr: &Remote<TaskManager>,
        ms: u64,
        timeout: Duration,
    ) -> Result<u64, RemoteError> {
        remote!(ctx, capture(ms), async |tm: &Here<TaskManager>| -> u64 {
            let _ = tm;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            ms
        })
        .from(mgr)
        .timeout(timeout)
        .await
    }

    /// A task manager asks its one job manager, over the Single tie.
    pub async fn ask_job_manager(ctx: &Here<TaskManager>) -> Result<String, RemoteError> {
        let asker = ctx.name().to_owned();
        remote!(ctx, capture(asker: String), |jm: &Here<JobManager>| -> String {
            format!("{} answers {asker}", jm.name())
        })
        .as_local()
        .await
    }

    /// A spore for any peer, made with a captured factor.
    pub fn scale(factor: u64) -> Spore<Anywhere, u64, u64> {
        spore!(capture(factor), |x: u64| -> u64 { x * factor })
    }

    /// A spore that adds.
    pub fn add(offset: u64) -> Spore<Anywhere, u64, u64> {
        spore!(capture(offset), |x: u64| -> u64 { x + offset })
    }

    /// A spore that runs only on task managers: it reads their tasks.
    pub fn count_tasks_with(prefix: String) -> Spore<TaskManager, (), usize> {
        spore!(capture(prefix), |tm: &Here<TaskManager>, unit: ()| -> usize {
            tm.local(tasks).lock().unwrap().iter().filter(|task| task.starts_with(&prefix)).count()
        })
    }

    /// A spore for the job manager, to try it elsewhere.
    pub fn job_manager_name() -> Spore<JobManager, (), String> {
        spore!(|jm: &Here<JobManager>, unit: ()| -> String { jm.name().to_owned() })
    }

    /// Task managers apply spores they are sent, where their data is.
    #[on(TaskManager)]
    pub fn apply_count(ctx: &Here<TaskManager>, spore: Spore<TaskManager, (), usize>) -> Result<usize, String> {
        spore.apply(ctx, ()).map_err(|error| error.to_string())
    }

    /// Task managers apply untyped spores to encoded values.
    #[on(TaskManager)]
    pub fn apply_encoded(
        ctx: &Here<TaskManager>,
        spore: loci::UntypedSpore<Anywhere>,
        x: Vec<u8>,
    ) -> Result<Vec<u8>, String> {
        spore.apply_encoded(ctx, &x).map_err(|error| error.to_string())
    }

    #[on(TaskManager)]
    pub fn apply_number(ctx: &Here<TaskManager>, spore: Spore<Anywhere, u64, u64>, x: u64) -> Result<u64, String> {
        spore.apply(ctx, x).map_err(|error| error.to_string())
    }
}

use gateway::{JobManager, TaskManager};

fn cluster(tag: &str, n: usize) -> (Spawned<JobManager>, Vec<Spawned<TaskManager>>) {
    let creds = credentials(tag);
    let jm = Spawned::start(loci_tests::listening::<JobManager>(&creds, "jm"));
    let tms = (0..n)
        .map(|i| {
            Spawned::start(loci_tests::connecting::<TaskManager>(&creds, &format!("tm{i}"), "jobmanager", jm.addr))
        })
        .collect();
    wait_until(|| jm.here.remotes::<TaskManager>().connected().len() == n);
    (jm, tms)
}

fn task_managers(jm: &Spawned<JobManager>) -> Vec<loci::Remote<TaskManager>> {
    let mut all = jm.here.remotes::<TaskManager>().connected();
    all.sort_by(|a, b| a.name().cmp(b.name()));
    all
}

#[test]
fn a_block_runs_on_the_selected_remote_and_reaches_its_local_state() {
    let (jm, _tms) = cluster("block-selected", 2);
    let tms = task_managers(&jm);
    assert_eq!(block_on(gateway::submit(&jm.here, "map 1".into(), &tms[0])), Ok(1));
    assert_eq!(block_on(gateway::submit(&jm.here, "map 2".into(), &tms[0])), Ok(2));
    assert_eq!(block_on(gateway::submit(&jm.here, "reduce".into(), &tms[1])), Ok(1));
    let all = block_on(gateway::all_tasks(&jm.here));
    assert_eq!(
        all,
        vec![
            ("tm0".to_owned(), vec!["map 1".to_owned(), "map 2".to_owned()]),
            ("tm1".to_owned(), vec!["reduce".to_owned()])
        ]
    );
}

#[test]
fn a_block_runs_on_the_one_remote_of_a_single_tie() {
    let (_jm, tms) = cluster("block-single", 1);
    assert_eq!(block_on(gateway::ask_job_manager(&tms[0].here)), Ok("jm answers tm0".to_owned()));
}

#[test]
fn a_one_way_block_is_ordered_before_a_later_block() {
    let (jm, _tms) = cluster("block-tell", 1);
    let tm = task_managers(&jm).remove(0);
    for i in 1..=20 {
        assert_eq!(block_on(gateway::note_then_count(&jm.here, &tm, format!("note {i}"))), Ok(i));
    }
}

#[test]
fn an_async_block_waits_and_times_out_like_a_call() {
    let (jm, _tms) = cluster("block-async", 1);
    let tm = task_managers(&jm).remove(0);
    let slow = |ms: u64, timeout_ms: u64| block_on(gateway::slow(&jm.here, &tm, ms, Duration::from_millis(timeout_ms)));
    assert_eq!(slow(50, 2000), Ok(50));
    let outcome = slow(800, 100);
    assert!(matches!(outcome, Err(RemoteError::TimedOut { after_ms: 100, .. })), "{outcome:?}");
    assert_eq!(jm.here.__pending_calls(), 0);
}

#[test]
fn spores_apply_locally_composed_and_where_they_are_sent() {
    let (jm, _tms) = cluster("spores", 1);
    let tm = task_managers(&jm).remove(0);
    let composed = gateway::scale(3).then(gateway::add(4));
    assert_eq!(composed.apply(&jm.here, 5), Ok(19));
    let sent = block_on(jm.here.remote(gateway::apply_number).from(&tm).call((composed.clone(), 10)));
    assert_eq!(sent, Ok(Ok(34)));

    for task in ["map a", "map b", "reduce"] {
        block_on(gateway::submit(&jm.here, task.into(), &tm)).unwrap();
    }
    let counted =
        block_on(jm.here.remote(gateway::apply_count).from(&tm).call(gateway::count_tasks_with("map".into())));
    assert_eq!(counted, Ok(Ok(2)));
}

#[test]
fn a_spore_travels_as_its_captures_not_its_code() {
    let spore = gateway::scale(7);
    let bytes = postcard::to_allocvec(&spore).unwrap();
    // Fingerprint (16) + one step (id, one captured u64) + no error: a handful of bytes.
    assert!(bytes.len() < 24, "{} bytes: {bytes:?}", bytes.len());
}

#[test]
fn a_spore_of_another_build_or_for_another_peer_is_refused() {
    let (jm, tms) = cluster("spores-refused", 1);
    let spore = gateway::scale(2);
    let mut bytes = postcard::to_allocvec(&spore).unwrap();
    bytes[0] ^= 0xff; // the fingerprint comes first
    let other_build: loci::Spore<loci::Anywhere, u64, u64> = postcard::from_bytes(&bytes).unwrap();
    assert!(matches!(other_build.apply(&jm.here, 1), Err(SporeError::OtherBuild { .. })));

    // Retyped on the way (as a careless receiver might), a job-manager spore reaches a task manager.
    let bytes = postcard::to_allocvec(&gateway::job_manager_name()).unwrap();
    let retyped: loci::Spore<TaskManager, (), String> = postcard::from_bytes(&bytes).unwrap();
    let outcome = retyped.apply(&tms[0].here, ());
    assert!(matches!(outcome, Err(SporeError::NotHere { peer: "TaskManager", .. })), "{outcome:?}");
    assert_eq!(gateway::job_manager_name().apply(&jm.here, ()), Ok("jm".to_owned()));

    // Retyped so that its functions no longer chain: refused before anything runs.
    let bytes = postcard::to_allocvec(&gateway::scale(3)).unwrap();
    let mistyped: loci::Spore<loci::Anywhere, String, u64> = postcard::from_bytes(&bytes).unwrap();
    let outcome = mistyped.apply(&jm.here, "three".to_owned());
    assert!(matches!(outcome, Err(SporeError::Mistyped { .. })), "{outcome:?}");
}

#[test]
fn an_untyped_spore_applies_to_encoded_values_here_and_where_it_is_sent() {
    let (jm, _tms) = cluster("spores-untyped", 1);
    let tm = task_managers(&jm).remove(0);
    let untyped = gateway::scale(3).then(gateway::add(4)).untyped();
    assert_eq!((untyped.input_type(), untyped.output_type()), ("u64", "u64"));
    let five = postcard::to_allocvec(&5u64).unwrap();
    let here = untyped.apply_encoded(&jm.here, &five).unwrap();
    assert_eq!(postcard::from_bytes::<u64>(&here).unwrap(), 19);
    let sent = block_on(jm.here.remote(gateway::apply_encoded).from(&tm).call((untyped, five))).unwrap().unwrap();
    assert_eq!(postcard::from_bytes::<u64>(&sent).unwrap(), 19);
}

#[test]
fn an_untyped_spore_of_another_build_or_whose_steps_do_not_chain_is_refused() {
    let (jm, _tms) = cluster("spores-untyped-refused", 1);
    let mut bytes = postcard::to_allocvec(&gateway::scale(2).untyped()).unwrap();
    bytes[0] ^= 0xff;
    let other_build: loci::UntypedSpore<loci::Anywhere> = postcard::from_bytes(&bytes).unwrap();
    let one = postcard::to_allocvec(&1u64).unwrap();
    assert!(matches!(other_build.apply_encoded(&jm.here, &one), Err(SporeError::OtherBuild { .. })));

    // A job-manager spore retyped to follow one that gives a number: its steps do not chain.
    let bytes = postcard::to_allocvec(&gateway::job_manager_name()).unwrap();
    let retyped: loci::Spore<loci::Anywhere, u64, String> = postcard::from_bytes(&bytes).unwrap();
    let unchained = gateway::scale(2).then(retyped).untyped();
    let outcome = unchained.apply_encoded(&jm.here, &one);
    assert!(matches!(outcome, Err(SporeError::Unchained { .. })), "{outcome:?}");
}

#[test]
fn a_connection_reports_the_bytes_it_carried() {
    let (jm, _tms) = cluster("traffic", 1);
    let tm = task_managers(&jm).remove(0);
    let remotes = jm.here.remotes::<TaskManager>();
    let before = remotes.traffic(&tm).expect("connected");
    let big = "x".repeat(200_000);
    block_on(gateway::submit(&jm.here, big, &tm)).unwrap();
    let after = remotes.traffic(&tm).expect("connected");
    assert!(after.sent_bytes - before.sent_bytes >= 200_000, "{before:?} -> {after:?}");
    assert!(after.received_bytes > before.received_bytes, "the answer came back: {before:?} -> {after:?}");
    assert!(after.total() > before.total());
}
