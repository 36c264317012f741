#[loci::multitier]
mod numbers {
    use loci::{Anywhere, Here, Spore};

    #[peer(ties(Worker = Multiple))]
    pub struct Driver;

    #[peer(ties(Driver = Single))]
    pub struct Worker;

    pub fn increment() -> Spore<Anywhere, u64, u64> {
        spore!(|x: u64| async move { x + 1 })
    }
}

fn main() {}
