//! Local state, supplied values, `#[once]` values, local calls, helpers taking the context,
//! callers' identity, one-way calls, timeouts and several selected remotes, as users write them.

#[loci::multitier]
mod jobs {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::Duration;

    use loci::{Here, Local, Remote, Signal, Var};

    #[peer(ties(Worker = Multiple))]
    pub struct Master;

    #[peer(ties(Master = Single))]
    pub struct Worker;

    /// Free slots per worker, on each master.
    #[on(Master)]
    fn slots() -> Local<Mutex<HashMap<u64, u32>>> {
        Local::default()
    }

    /// How many slots this worker offers, given at start-up.
    #[on(Worker)]
    pub fn capacity() -> Local<u32>;

    /// The cluster's name, computed once per master.
    #[once]
    #[on(Master)]
    pub fn cluster_name(ctx: &Here<Master>) -> String {
        format!("cluster of {}", ctx.name())
    }

    /// A worker registers itself; the master knows who called.
    #[on(Master)]
    pub fn register(ctx: &Here<Master>, worker: &Remote<Worker>, free: u32) -> usize {
        let slots = ctx.local(slots);
        let mut slots = slots.lock().unwrap();
        slots.insert(worker.id(), free);
        slots.len()
    }

    /// The jobs a worker has run, per requesting master.
    #[on(Worker)]
    pub fn done(requester: &Remote<Master>) -> Signal<u32> {
        let _ = requester;
        Var::new(0).signal()
    }

    /// Work told to a worker, one way.
    #[on(Worker)]
    pub fn run(ctx: &Here<Worker>, job: String) {
        println!("{} runs {job}", ctx.name());
    }

    /// A helper that takes the context: plain shared code.
    fn total(ctx: &Here<Master>) -> u32 {
        ctx.local(slots).lock().unwrap().values().sum()
    }

    #[on(Master)]
    pub async fn main(ctx: Here<Master>) -> loci::Result<()> {
        let workers = ctx.remotes::<Worker>().wait_for(2, Duration::from_secs(5)).await?;
        let name: std::sync::Arc<String> = ctx.local(cluster_name);
        let _ = ctx.remote(run).from_each(&workers).tell(name.to_string()).await;
        let _ = ctx.remote(run).from_all().timeout(Duration::from_millis(100)).call("x".into()).await;
        let _done = ctx.remote(done).from(&workers[0]).await?;
        println!("{} slots", total(&ctx));
        Ok(())
    }

    #[on(Worker)]
    pub async fn main(ctx: Here<Worker>) -> loci::Result<()> {
        let free = *ctx.local(capacity);
        ctx.remote(register).call(free).await?;
        let _name: String = ctx.remote(cluster_name).timeout(Duration::from_secs(1)).as_local().await?;
        ctx.local(run).call("locally".to_owned()).await;
        Ok(())
    }
}

fn main() {
    let _ = loci::Instance::<jobs::Worker>::builder().supply(jobs::capacity, 4);
}
