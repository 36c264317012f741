#[loci::multitier]
mod numbers {
    use loci::{Anywhere, Here, Spore};

    #[peer(ties(Worker = Multiple))]
    pub struct Driver;

    #[peer(ties(Driver = Single))]
    pub struct Worker;

    pub fn scale(factor: u64) -> Spore<Anywhere, u64, u64> {
        spore!(capture(factor) |x: u64| -> u64 { x * factor })
    }
}

fn main() {}
