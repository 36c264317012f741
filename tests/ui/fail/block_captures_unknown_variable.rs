#[loci::multitier]
mod gateway {
    use loci::{Here, Remote, RemoteError};

    #[peer(ties(TaskManager = Multiple))]
    pub struct JobManager;

    #[peer(ties(JobManager = Single))]
    pub struct TaskManager;

    pub async fn submit(ctx: &Here<JobManager>, mgr: &Remote<TaskManager>) -> Result<usize, RemoteError> {
        remote!(ctx, capture(task), |tm: &Here<TaskManager>| -> usize {
            let _ = tm;
            task.len()
        })
        .from(mgr)
        .await
    }
}

fn main() {}
