#[loci::multitier]
mod ring {
    #[peer(ties(Node = Single, Node = Single))]
    pub struct Node;
}

fn main() {}
