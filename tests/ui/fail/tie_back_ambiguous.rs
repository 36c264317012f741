#[loci::multitier]
mod cluster {
    #[peer(ties(Worker = Multiple))]
    pub struct Master;

    #[peer(ties(primary: Master = Single, backup: Master = Optional))]
    pub struct Worker;
}

fn main() {}
