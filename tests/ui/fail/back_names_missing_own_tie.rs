#[loci::multitier]
mod ring {
    use loci::Here;

    #[peer(ties(prev: Node = Single, next: Node = Single), back(nxt = prev))]
    pub struct Node;
}

fn main() {}
