#[loci::multitier]
mod ring {
    use loci::Here;

    #[peer(ties(prev: Node = Single, next: Node = Single), back(Node::next = prev))]
    pub struct Node;
}

fn main() {}
