#[loci::multitier]
mod chat {
    use loci::Here;

    #[peer(ties(Node = Multiple))]
    pub struct Registry;

    #[peer(ties(Registry = Single))]
    pub struct Node;

    #[on(Node)]
    pub async fn main(ctx: &Here<Node>) -> loci::Result<()> {
        let _ = ctx;
        Ok(())
    }
}

fn main() {}
