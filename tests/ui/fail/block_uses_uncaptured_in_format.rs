#[loci::multitier]
mod gateway {
    use loci::{Here, Remote, RemoteError};

    #[peer(ties(TaskManager = Multiple))]
    pub struct JobManager;

    #[peer(ties(JobManager = Single))]
    pub struct TaskManager;

    pub async fn log(ctx: &Here<JobManager>, line: String, mgr: &Remote<TaskManager>) -> Result<(), RemoteError> {
        remote!(ctx, |tm: &Here<TaskManager>| {
            println!("{}: {line}", tm.name());
        })
        .from(mgr)
        .await
    }
}

fn main() {}
