#[loci::multitier]
mod gateway {
    use loci::{Here, Remote, RemoteError};

    #[peer(ties(TaskManager = Multiple))]
    pub struct JobManager;

    #[peer(ties(JobManager = Single))]
    pub struct TaskManager;

    pub async fn names(ctx: &Here<JobManager>, mgr: &Remote<TaskManager>) -> Result<Vec<String>, RemoteError> {
        let names = vec![remote!(ctx, |tm: &Here<TaskManager>| -> String { tm.name().to_owned() }).from(mgr).await?];
        Ok(names)
    }
}

fn main() {}
