#[loci::multitier]
mod ring {
    #[peer(ties(prev: Node = Single, next: Node = Single), back(next = previous))]
    pub struct Node;
}

fn main() {}
