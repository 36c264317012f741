#[loci::multitier]
mod gateway {
    use loci::{Here, Remote, RemoteError};

    #[peer(ties(TaskManager = Multiple))]
    pub struct JobManager;

    #[peer(ties(JobManager = Single))]
    pub struct TaskManager;

    /// Not serde: it cannot travel.
    pub struct Deployment {
        pub task: String,
    }

    pub async fn submit(ctx: &Here<JobManager>, deployment: Deployment, attempt: u32, mgr: &Remote<TaskManager>) -> Result<u32, RemoteError> {
        remote!(ctx, capture(deployment, attempt), |tm: &Here<TaskManager>| -> u32 {
            let _ = (tm, deployment.task);
            attempt
        })
        .from(mgr)
        .await
    }
}

fn main() {}
