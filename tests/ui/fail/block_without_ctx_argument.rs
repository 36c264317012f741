#[loci::multitier]
mod gateway {
    use loci::{Here, Remote, RemoteError};

    #[peer(ties(TaskManager = Multiple))]
    pub struct JobManager;

    #[peer(ties(JobManager = Single))]
    pub struct TaskManager;

    pub async fn ping(ctx: &Here<JobManager>, mgr: &Remote<TaskManager>) -> Result<u8, RemoteError> {
        remote!(|tm: &Here<TaskManager>| -> u8 { 1 }).from(mgr).await
    }
}

fn main() {}
