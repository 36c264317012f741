#[loci::multitier]
mod gateway {
    #[peer(ties(TaskManager = Multiple))]
    pub struct JobManager;

    #[peer(ties(JobManager = Single))]
    pub struct TaskManager;

    pub struct Deployment {
        pub task: String,
    }

    #[on(TaskManager)]
    pub fn submit_task(deployment: Deployment) -> bool {
        !deployment.task.is_empty()
    }
}

fn main() {}
