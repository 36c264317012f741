#[loci::multitier]
mod chat {
    use loci::Here;

    #[peer(ties(Node = Multiple))]
    pub struct Registry;

    #[peer(ties(Registry = Single))]
    pub struct Node;

    #[on(Node)]
    pub fn name(ctx: &Here<Node>) -> String {
        ctx.name().to_owned()
    }

    #[on(Registry)]
    pub async fn main(ctx: Here<Registry>) -> loci::Result<()> {
        let name: String = ctx.remote(name).as_local().await?;
        println!("{name}");
        Ok(())
    }
}

fn main() {}
