#[loci::multitier]
mod ring {
    #[peer(ties(prev: Node = Single, next: Node = Single), back(next = prev))]
    pub struct Node;

    #[on(Node)]
    pub fn next() -> u64 {
        1
    }
}

fn main() {}
