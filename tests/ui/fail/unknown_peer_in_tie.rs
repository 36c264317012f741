#[loci::multitier]
mod chat {
    #[peer(ties(Nodes = Multiple))]
    pub struct Registry;

    #[peer(ties(Registry = Single))]
    pub struct Node;
}

fn main() {}
