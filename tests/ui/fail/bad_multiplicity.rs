#[loci::multitier]
mod chat {
    #[peer(ties(Node = Many))]
    pub struct Registry;

    #[peer(ties(Registry = Single), ports(4000))]
    pub struct Node;
}

fn main() {}
