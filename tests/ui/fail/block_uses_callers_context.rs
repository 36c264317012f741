#[loci::multitier]
mod gateway {
    use loci::{Here, Remote, RemoteError};

    #[peer(ties(TaskManager = Multiple))]
    pub struct JobManager;

    #[peer(ties(JobManager = Single))]
    pub struct TaskManager;

    pub async fn stack_trace(ctx: &Here<JobManager>, mgr: &Remote<TaskManager>) -> Result<String, RemoteError> {
        remote!(ctx, |tm: &Here<TaskManager>| -> String { format!("{} asks {}", ctx.name(), tm.name()) })
            .from(mgr)
            .await
    }
}

fn main() {}
