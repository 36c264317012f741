#[loci::multitier]
mod ring {
    use loci::Here;

    #[peer(ties(prev: Node = Single, next: Node = Single, Monitor = Optional), back(next = prev))]
    pub struct Node;

    #[peer(ties(watched: Node = Multiple))]
    pub struct Monitor;

    #[on(Monitor)]
    pub fn hops() -> u64 {
        7
    }

    #[on(Node)]
    pub async fn main(ctx: Here<Node>) -> loci::Result<()> {
        let hops_seen = ctx.remote(hops).over(next).as_local().await?;
        let _ = hops_seen;
        Ok(())
    }
}

fn main() {}
