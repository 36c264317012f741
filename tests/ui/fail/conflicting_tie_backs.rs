#[loci::multitier]
mod cluster {
    #[peer(ties(a: Worker = Multiple, b: Worker = Multiple), back(a = primary, b = backup))]
    pub struct Master;

    #[peer(ties(primary: Master = Single, backup: Master = Optional), back(primary = b))]
    pub struct Worker;
}

fn main() {}
