#[loci::multitier]
mod hub {
    use loci::Here;

    #[peer(ties(link: Node = Multiple, link: Monitor = Optional))]
    pub struct Hub;

    #[peer(ties(Hub = Single))]
    pub struct Node;

    #[peer(ties(Hub = Single))]
    pub struct Monitor;
}

fn main() {}
