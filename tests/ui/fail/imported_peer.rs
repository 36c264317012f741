pub struct Registry;

#[loci::multitier]
mod chat {
    use super::Registry;

    #[peer(ties(Registry = Single))]
    pub struct Node;
}

fn main() {}
