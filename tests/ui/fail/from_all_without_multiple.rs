#[loci::multitier]
mod chat {
    use loci::Here;

    #[peer(ties(Node = Multiple))]
    pub struct Registry;

    #[peer(ties(Registry = Single))]
    pub struct Node;

    #[on(Registry)]
    pub fn online() -> Vec<String> {
        Vec::new()
    }

    #[on(Node)]
    pub async fn main(ctx: Here<Node>) -> loci::Result<()> {
        let _everyone = ctx.remote(online).from_all().await;
        Ok(())
    }
}

fn main() {}
