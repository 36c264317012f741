#[loci::multitier]
mod gateway {
    use loci::Here;

    #[peer(ties(TaskManager = Multiple))]
    pub struct JobManager;

    #[peer(ties(JobManager = Single))]
    pub struct TaskManager;

    /// Lives only in memory: not serde.
    pub struct StackTrace {
        pub frames: Vec<String>,
    }

    #[on(TaskManager)]
    pub fn request_stack_trace(ctx: &Here<TaskManager>, execution: u64) -> StackTrace {
        let _ = (ctx, execution);
        StackTrace { frames: Vec::new() }
    }
}

fn main() {}
