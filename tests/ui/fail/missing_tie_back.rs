#[loci::multitier]
mod chat {
    #[peer(ties(Node = Multiple))]
    pub struct Registry;

    #[peer]
    pub struct Node;
}

fn main() {}
