#[loci::multitier]
mod cluster {
    #[peer(ties(a: Worker = Multiple, b: Worker = Multiple), back(a = primary))]
    pub struct Master;

    #[peer(ties(primary: Master = Single, backup: Master = Optional))]
    pub struct Worker;
}

fn main() {}
