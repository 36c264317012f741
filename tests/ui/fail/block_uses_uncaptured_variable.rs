#[loci::multitier]
mod gateway {
    use loci::{Here, Remote, RemoteError};

    #[peer(ties(TaskManager = Multiple))]
    pub struct JobManager;

    #[peer(ties(JobManager = Single))]
    pub struct TaskManager;

    pub async fn cancel(ctx: &Here<JobManager>, task: u64, mgr: &Remote<TaskManager>) -> Result<bool, RemoteError> {
        let reason = format!("cancelled by {}", ctx.name());
        remote!(ctx, capture(task), |tm: &Here<TaskManager>| -> bool {
            println!("{} cancels {task}: {}", tm.name(), reason);
            true
        })
        .from(mgr)
        .await
    }
}

fn main() {}
