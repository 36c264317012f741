#[loci::multitier]
mod jobs {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use loci::{Here, Local};

    #[peer(ties(Worker = Multiple))]
    pub struct Master;

    #[peer(ties(Master = Single))]
    pub struct Worker;

    /// Which worker runs which job, kept on each master.
    #[on(Master)]
    pub fn assignments() -> Local<Mutex<HashMap<u64, String>>> {
        Local::default()
    }

    #[on(Worker)]
    pub async fn main(ctx: Here<Worker>) -> loci::Result<()> {
        let _ = ctx.remote(assignments).as_local().await?;
        Ok(())
    }
}

fn main() {}
