#[loci::multitier]
mod numbers {
    use loci::{Here, Spore};

    #[peer(ties(Worker = Multiple))]
    pub struct Driver;

    #[peer(ties(Driver = Single))]
    pub struct Worker;

    /// Reads the worker's name: it runs on workers only.
    pub fn worker_name() -> Spore<Worker, (), String> {
        spore!(|worker: &Here<Worker>, unit: ()| -> String {
            worker.name().to_owned()
        })
    }

    pub fn on_the_driver(ctx: &Here<Driver>) -> String {
        worker_name().apply(ctx, ()).unwrap_or_default()
    }
}

fn main() {}
