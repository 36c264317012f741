#[loci::multitier]
mod gateway {
    use loci::{Here, Remote, RemoteError};

    #[peer(ties(TaskManager = Multiple))]
    pub struct JobManager;

    #[peer(ties(JobManager = Single))]
    pub struct TaskManager;

    pub async fn ping(mgr: &Remote<TaskManager>) -> Result<u8, RemoteError> {
        remote!(mgr, |tm: &Here<TaskManager>| -> u8 {
            let _ = tm;
            1
        })
        .from(mgr)
        .await
    }
}

fn main() {}
