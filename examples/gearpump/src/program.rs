//! The multitier module: the slide's MasterProxy, Master and Worker, with AppMasters and
//! Executors (child processes of Workers) and clients.

#[loci::multitier]
pub mod gearpump {
    use std::collections::BTreeMap;
    use std::sync::Mutex;
    use std::time::Duration;

    use loci::{Here, Local, Remote};

    use crate::app::{AppId, Application, ExecutorId, Kind, Message, Status, TaskId, TaskSpec, WordCount};
    use crate::appmaster::Plan;
    use crate::resources::{Resources, WorkerView};
    use crate::spawner::Spawner;
    use crate::tasks::Tasks;

    /// Finds the Master for Workers, AppMasters and clients; survives Master restarts.
    #[peer(ties(Master = Multiple, Worker = Multiple, AppMaster = Multiple, Client = Multiple))]
    pub struct MasterProxy;

    /// Manages Workers, their slots, and applications.
    #[peer(ties(MasterProxy = Multiple, Worker = Multiple, AppMaster = Multiple))]
    pub struct Master;

    /// A machine's slots; starts AppMasters and Executors as child processes.
    #[peer(ties(MasterProxy = Single, Master = Optional, AppMaster = Multiple))]
    pub struct Worker;

    /// Runs one application: gets slots from the Master, Executors from Workers, starts tasks.
    #[peer(ties(MasterProxy = Single, Master = Optional, Worker = Multiple, Executor = Multiple, Client = Multiple))]
    pub struct AppMaster;

    /// Runs tasks of one application; sends their data to other Executors directly.
    #[peer(ties(AppMaster = Single, Executor = Multiple))]
    pub struct Executor;

    /// Submits an application, follows it, reads its counts, kills it.
    #[peer(ties(MasterProxy = Single, AppMaster = Multiple))]
    pub struct Client;

    // --- MasterProxy -------------------------------------------------------------------------

    /// The Master now, if one is connected.
    #[on(MasterProxy)]
    pub fn master(ctx: &Here<MasterProxy>) -> Option<Remote<Master>> {
        ctx.remotes::<Master>().connected().into_iter().next()
    }

    /// Submits an application to the Master: its id and its AppMaster, once that runs.
    #[on(MasterProxy)]
    pub async fn submit(ctx: &Here<MasterProxy>, app: Application) -> Result<(AppId, Remote<AppMaster>), String> {
        let master = ctx.remotes::<Master>().connected().into_iter().next().ok_or("no Master is connected")?;
        let answer = ctx.remote(submit_application).from(&master).no_timeout().call(app).await;
        answer.map_err(|error| error.to_string())?
    }

    /// The Workers and their slots, as the Master sees them.
    #[on(MasterProxy)]
    pub async fn cluster(ctx: &Here<MasterProxy>) -> Result<Vec<WorkerView>, String> {
        let master = ctx.remotes::<Master>().connected().into_iter().next().ok_or("no Master is connected")?;
        ctx.remote(workers).from(&master).call(()).await.map_err(|error| error.to_string())
    }

    #[on(MasterProxy)]
    pub async fn main(ctx: Here<MasterProxy>) -> loci::Result<()> {
        println!("master proxy up");
        let _ = ctx.remotes::<Master>().joined().observe(|master| println!("master {} joined", master.name()));
        std::future::pending::<()>().await;
        Ok(())
    }

    // --- Master ------------------------------------------------------------------------------

    /// Workers, slots and applications.
    #[on(Master)]
    pub fn resources() -> Local<Resources> {
        Local::default()
    }

    /// AppMasters being launched, waiting to register: application → who waits.
    #[on(Master)]
    pub fn launching() -> Local<Mutex<BTreeMap<AppId, tokio::sync::oneshot::Sender<Remote<AppMaster>>>>> {
        Local::default()
    }

    /// A Worker registers (again, after a Master restart) with its slots and their use.
    #[on(Master)]
    pub fn register_worker(ctx: &Here<Master>, caller: &Remote<Worker>, slots: u32, used: u32, apps: Vec<AppId>) {
        ctx.local(resources).register_worker(caller, slots, used, &apps);
        println!("worker {} registered: {slots} slots, {used} in use", caller.name());
    }

    /// A Worker's slots in use changed.
    #[on(Master)]
    pub fn worker_usage(ctx: &Here<Master>, caller: &Remote<Worker>, used: u32) {
        ctx.local(resources).usage(caller, used);
    }

    /// Submits an application: an AppMaster is launched on the Worker with the most free slots.
    #[on(Master)]
    pub async fn submit_application(
        ctx: &Here<Master>,
        app: Application,
    ) -> Result<(AppId, Remote<AppMaster>), String> {
        app.check()?;
        let resources = ctx.local(resources);
        let id = resources.new_app();
        let (worker, _) = resources.allocate(1).into_iter().next().ok_or("no Worker has a free slot")?;
        let (registered, waiting) = tokio::sync::oneshot::channel();
        let pending = ctx.local(launching);
        pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(id, registered);
        println!("application {id} ({}) submitted; its AppMaster goes to {}", app.name, worker.name());
        let launched = ctx.remote(launch_app_master).from(&worker).call((id, app)).await;
        let registered = match launched {
            Ok(Ok(())) => tokio::time::timeout(Duration::from_secs(30), waiting)
                .await
                .map_err(|_| format!("the AppMaster of application {id} did not register in time"))
                .and_then(|registered| registered.map_err(|_| format!("application {id} was dropped"))),
            Ok(Err(error)) => Err(error),
            Err(error) => Err(error.to_string()),
        };
        pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&id);
        Ok((id, registered?))
    }

    /// An AppMaster registers (again, after a Master restart).
    #[on(Master)]
    pub fn register_app_master(ctx: &Here<Master>, caller: &Remote<AppMaster>, app: AppId) {
        ctx.local(resources).register_app(app, caller);
        println!("application {app}: AppMaster registered");
        let waiting = ctx.local(launching).lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&app);
        if let Some(waiting) = waiting {
            let _ = waiting.send(caller.clone());
        }
    }

    /// An AppMaster asks for slots: up to `slots`, by free slots across Workers.
    #[on(Master)]
    pub fn request_resources(
        ctx: &Here<Master>,
        caller: &Remote<AppMaster>,
        app: AppId,
        slots: u32,
    ) -> Vec<(Remote<Worker>, u32)> {
        if !ctx.local(resources).app_runs(app) {
            return Vec::new(); // Killed, or not registered with this Master yet.
        }
        let allocation = ctx.local(resources).allocate(slots);
        let given: Vec<String> = allocation.iter().map(|(worker, n)| format!("{n} on {}", worker.name())).collect();
        println!("application {app} ({}) asked for {slots} slots: {}", caller.name(), given.join(", "));
        allocation
    }

    /// An application was killed: every Worker stops its processes.
    #[on(Master)]
    pub async fn kill_application(ctx: &Here<Master>, caller: &Remote<AppMaster>, app: AppId) {
        let resources = ctx.local(resources);
        resources.app_ended(app);
        println!("application {app} killed by {}", caller.name());
        for worker in resources.workers() {
            let _ = ctx.remote(stop_application).from(&worker).tell(app).await;
        }
    }

    /// The Workers and their slots.
    #[on(Master)]
    pub fn workers(ctx: &Here<Master>) -> Vec<WorkerView> {
        ctx.local(resources).view()
    }

    #[on(Master)]
    pub async fn main(ctx: Here<Master>) -> loci::Result<()> {
        println!("master up");
        let lost = ctx.local(resources);
        let _ = ctx.remotes::<Worker>().left().observe(move |worker| {
            if lost.worker_lost(worker) {
                println!("worker {} lost; its slots are gone", worker.name());
            }
        });
        // An AppMaster that is gone (lost with its Worker) and does not come back: its
        // application's processes are stopped, so that they do not hold slots for good.
        let watcher = ctx.clone();
        let _ = ctx.remotes::<AppMaster>().left().observe(move |app_master| {
            let (ctx, instance) = (watcher.clone(), app_master.instance());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(10)).await;
                let resources = ctx.local(resources);
                let Some(app) = resources.app_of(instance) else { return };
                if ctx.remotes::<AppMaster>().connected().iter().any(|am| am.instance() == instance) {
                    return;
                }
                resources.app_ended(app);
                println!("application {app}: its AppMaster is gone; stopping its processes");
                for worker in resources.workers() {
                    let _ = ctx.remote(stop_application).from(&worker).tell(app).await;
                }
            });
        });
        std::future::pending::<()>().await;
        Ok(())
    }

    // --- Worker ------------------------------------------------------------------------------

    /// This Worker's slots, supplied by its executable.
    #[on(Worker)]
    pub fn slots() -> Local<u32>;

    /// Starts and kills this Worker's child processes.
    #[on(Worker)]
    pub fn spawner() -> Local<Spawner> {
        Local::default()
    }

    /// This Worker's child processes: name → application.
    #[on(Worker)]
    pub fn children() -> Local<Mutex<BTreeMap<String, AppId>>> {
        Local::default()
    }

    /// Launches application `app`'s AppMaster as a child process.
    #[on(Worker)]
    pub async fn launch_app_master(ctx: &Here<Worker>, app: AppId, spec: Application) -> Result<(), String> {
        let json = serde_json::to_string(&spec).map_err(|error| error.to_string())?;
        let proxy = format!("masterproxy={}", crate::worker::proxy_address(ctx)?);
        let args = vec![
            "--connect".into(),
            proxy,
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--app-id".into(),
            app.to_string(),
            "--app".into(),
            json,
        ];
        crate::worker::spawn_child(ctx, format!("app{app}"), app, "gearpump-appmaster", args).await
    }

    /// Launches an Executor of application `app` as a child process (the seed's LaunchExecutor).
    #[on(Worker)]
    pub async fn launch_executor(
        ctx: &Here<Worker>,
        caller: &Remote<AppMaster>,
        app: AppId,
        executor: ExecutorId,
    ) -> Result<(), String> {
        let listen = caller.listen_addr().ok_or("the AppMaster does not listen")?;
        let args = vec![
            "--connect".into(),
            format!("appmaster={listen}"),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--executor-id".into(),
            executor.to_string(),
        ];
        crate::worker::spawn_child(ctx, format!("app{app}-e{executor}"), app, "gearpump-executor", args).await
    }

    /// Stops every process of application `app` here (its Executors, its AppMaster).
    #[on(Worker)]
    pub async fn stop_application(ctx: &Here<Worker>, app: AppId) {
        let all = ctx.local(children);
        let names: Vec<String> = {
            let mut children = all.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let names: Vec<String> =
                children.iter().filter(|(_, of)| **of == app).map(|(name, _)| name.clone()).collect();
            children.retain(|_, of| *of != app);
            names
        };
        for name in &names {
            let _ = ctx.local(spawner).kill(name).await;
            println!("worker {} stopped {name}", ctx.name());
        }
        crate::worker::report_usage(ctx).await;
    }

    #[on(Worker)]
    pub async fn main(ctx: Here<Worker>) -> loci::Result<()> {
        println!("worker {} up with {} slots", ctx.name(), *ctx.local(slots));
        // Register with the Master through the proxy, again whenever the Master changes.
        let mut registered_with: Option<u64> = None;
        let all = ctx.local(children);
        loop {
            // Children that ended (an Executor whose AppMaster is gone) free their slots.
            let names: Vec<String> =
                all.lock().unwrap_or_else(std::sync::PoisonError::into_inner).keys().cloned().collect();
            let exited = ctx.local(spawner).exited(names).await;
            if !exited.is_empty() {
                all.lock().unwrap_or_else(std::sync::PoisonError::into_inner).retain(|name, _| !exited.contains(name));
                println!("worker {}: {} ended", ctx.name(), exited.join(", "));
            }
            let connected = ctx.remotes::<Master>().connected().into_iter().next();
            match connected {
                Some(master) if registered_with == Some(master.id()) => crate::worker::report_usage(&ctx).await,
                Some(master) => {
                    let (used, apps) = {
                        let children = all.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                        (children.len() as u32, children.values().copied().collect::<Vec<AppId>>())
                    };
                    if matches!(ctx.remote(register_worker).call((*ctx.local(slots), used, apps)).await, Ok(Some(()))) {
                        println!("worker {} registered with master {}", ctx.name(), master.name());
                        registered_with = Some(master.id());
                    }
                }
                None => {
                    if let Ok(Some(master)) = ctx.remote(crate::program::gearpump::master).call(()).await {
                        let _ = ctx.remotes::<Master>().reach(&master).await;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    // --- AppMaster ---------------------------------------------------------------------------

    /// The application this AppMaster runs, supplied by its executable.
    #[on(AppMaster)]
    pub fn application() -> Local<(AppId, Application)>;

    /// Its Executors and tasks.
    #[on(AppMaster)]
    pub fn plan() -> Local<Plan> {
        Local::default()
    }

    /// Set once the application is killed: nothing is launched any more.
    #[on(AppMaster)]
    pub fn killed() -> Local<std::sync::atomic::AtomicBool> {
        Local::default()
    }

    /// An Executor registers (the seed's RegisterExecutor).
    #[on(AppMaster)]
    pub fn register_executor(ctx: &Here<AppMaster>, caller: &Remote<Executor>, executor: ExecutorId) -> bool {
        let known = ctx.local(plan).registered(executor, caller);
        println!("executor {executor} registered ({})", caller.name());
        known
    }

    /// Where the application stands.
    #[on(AppMaster)]
    pub async fn status(ctx: &Here<AppMaster>) -> Status {
        let plan = ctx.local(plan);
        if !plan.all_running() {
            return Status::Starting;
        }
        let total = count_lines(ctx).await;
        let mut clock = u64::MAX;
        for (spec, executor) in plan.running().into_iter().filter(|(spec, _)| spec.kind == Kind::Count) {
            let answer = ctx.remote(counter_clock).from(&executor).call(spec.id).await;
            clock = clock.min(answer.ok().flatten().unwrap_or(0));
        }
        if clock >= total {
            Status::Finished { total }
        } else {
            Status::Running { clock, total }
        }
    }

    /// The lines of the application's text.
    async fn count_lines(ctx: &Here<AppMaster>) -> u64 {
        let text = ctx.local(application).1.text.clone();
        tokio::fs::read_to_string(text).await.map(|text| text.lines().count() as u64).unwrap_or(u64::MAX)
    }

    /// The counts, once every line is counted: every counter's, merged.
    #[on(AppMaster)]
    pub async fn counts(ctx: &Here<AppMaster>) -> Result<WordCount, String> {
        let plan = ctx.local(plan);
        if !plan.all_running() {
            return Err("not every counter runs now".to_owned());
        }
        let total = count_lines(ctx).await;
        let mut merged = WordCount::new();
        for (spec, executor) in plan.running().into_iter().filter(|(spec, _)| spec.kind == Kind::Count) {
            let answer = ctx.remote(counter_counts).from(&executor).call(spec.id).await;
            let (clock, counts) = answer.map_err(|error| error.to_string())?.ok_or("a counter is not running")?;
            if clock < total {
                return Err(format!("counter {} has counted {clock} of {total} lines", spec.id));
            }
            for (word, count) in counts {
                *merged.entry(word).or_default() += count;
            }
        }
        Ok(merged)
    }

    /// Kills the application: the Master has every Worker stop its processes, this AppMaster's
    /// among them, so the answer goes out first.
    #[on(AppMaster)]
    pub fn kill(ctx: &Here<AppMaster>) -> Result<(), String> {
        let app = ctx.local(application).0;
        if ctx.remotes::<Master>().connected().is_empty() {
            return Err("no Master is connected to kill it".to_owned());
        }
        println!("application {app} is being killed");
        ctx.local(killed).store(true, std::sync::atomic::Ordering::Relaxed);
        let ctx = ctx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let _ = ctx.remote(kill_application).call(app).await;
        });
        Ok(())
    }

    #[on(AppMaster)]
    pub async fn main(ctx: Here<AppMaster>) -> loci::Result<()> {
        let (app, spec) = (*ctx.local(application)).clone();
        println!("AppMaster of application {app} up");
        let lost = ctx.local(plan);
        let plan = ctx.local(plan);
        plan.set_tasks(spec.tasks());
        let _ = ctx.remotes::<Executor>().left().observe(move |executor| {
            if let Some((id, task)) = lost.lost(executor) {
                println!("executor {id} lost with task {task:?}; relaunching it elsewhere");
            }
        });
        let mut registered_with: Option<u64> = None;
        let stopped = ctx.local(killed);
        while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
            registered_with = crate::appmaster_calls::register_with_master(&ctx, app, registered_with).await;
            let changed = plan.changed.notified();
            let step = plan.next_step();
            if step.launch > 0 && registered_with.is_some() {
                crate::appmaster_calls::launch_executors(&ctx, app, step.launch).await;
            }
            // Routes go to every Executor at every step: one that missed them gets them again.
            for executor in ctx.remotes::<Executor>().connected() {
                let _ = ctx.remote(set_routes).from(&executor).call(step.routes.clone()).await;
            }
            for (task, executor) in &step.start {
                println!("task {} ({:?} {}) starts on {}", task.id, task.kind, task.index, executor.name());
                if ctx.remote(start_task).from(executor).call((*task, spec.clone())).await.is_err() {
                    plan.unassign(task.id);
                }
            }
            if step.replay {
                println!("a counter was rebuilt: the source replays from line 0");
                let source = plan.running().into_iter().find(|(task, _)| task.kind == Kind::Source);
                let replayed = match source {
                    Some((_, executor)) => ctx.remote(replay).from(&executor).call(()).await.is_ok(),
                    None => false,
                };
                if !replayed {
                    plan.replay_again();
                }
            }
            let _ = tokio::time::timeout(Duration::from_millis(300), changed).await;
        }
        std::future::pending::<()>().await;
        Ok(())
    }

    // --- Executor ----------------------------------------------------------------------------

    /// This Executor's number, supplied by its executable.
    #[on(Executor)]
    pub fn executor_id() -> Local<ExecutorId>;

    /// This Executor's tasks.
    #[on(Executor)]
    pub fn tasks() -> Local<Tasks> {
        Local::default()
    }

    /// Where every task of the application runs.
    #[on(Executor)]
    pub fn set_routes(ctx: &Here<Executor>, routes: Vec<(TaskId, Remote<Executor>)>) {
        ctx.local(tasks).set_routes(routes);
    }

    /// Starts task `task` of `app` here.
    #[on(Executor)]
    pub fn start_task(ctx: &Here<Executor>, task: TaskSpec, app: Application) {
        if let Some(run) = ctx.local(tasks).start(task, app) {
            tokio::spawn(crate::tasks::run_source(ctx.clone(), task.id, run));
        }
    }

    /// The source here reads the text again from line 0.
    #[on(Executor)]
    pub fn replay(ctx: &Here<Executor>) {
        if let Some((task, run)) = ctx.local(tasks).replay() {
            tokio::spawn(crate::tasks::run_source(ctx.clone(), task, run));
        }
    }

    /// Data for task `to`, which runs here, from a task upstream.
    #[on(Executor)]
    pub async fn push(ctx: &Here<Executor>, to: TaskId, message: Message) -> Result<(), String> {
        crate::tasks::deliver(ctx, to, message).await
    }

    /// Counter `task`'s clock.
    #[on(Executor)]
    pub fn counter_clock(ctx: &Here<Executor>, task: TaskId) -> Option<u64> {
        ctx.local(tasks).clock(task)
    }

    /// Counter `task`'s clock and counts.
    #[on(Executor)]
    pub fn counter_counts(ctx: &Here<Executor>, task: TaskId) -> Option<(u64, WordCount)> {
        ctx.local(tasks).counts(task)
    }

    #[on(Executor)]
    pub async fn main(ctx: Here<Executor>) -> loci::Result<()> {
        let id = *ctx.local(executor_id);
        // Without its AppMaster an Executor has nothing to do: it ends, and frees its slot.
        let watcher = ctx.clone();
        let _ = ctx.remotes::<AppMaster>().left().observe(move |_| watcher.shutdown("its AppMaster is gone"));
        let known = ctx.remote(register_executor).call(id).await?;
        if !known {
            return Err(loci::Error::Main(format!("executor {id}: the AppMaster no longer expects it")));
        }
        std::future::pending::<()>().await;
        Ok(())
    }

    // --- Client ------------------------------------------------------------------------------

    /// What the client does, supplied by its executable.
    #[on(Client)]
    pub fn plan_of_client() -> Local<crate::client::ClientPlan>;

    #[on(Client)]
    pub async fn main(ctx: Here<Client>) -> loci::Result<()> {
        crate::client::run(&ctx).await.map_err(loci::Error::Main)
    }
}
