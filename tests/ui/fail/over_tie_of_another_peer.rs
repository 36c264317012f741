#[loci::multitier]
mod ring {
    use loci::Here;

    #[peer(ties(prev: Node = Single, next: Node = Single, Monitor = Optional), back(next = prev))]
    pub struct Node;

    #[peer(ties(watched: Node = Multiple))]
    pub struct Monitor;

    #[on(Node)]
    pub fn hops() -> u64 {
        7
    }

    #[on(Monitor)]
    pub async fn main(ctx: Here<Monitor>) -> loci::Result<()> {
        let hops = ctx.remote(hops).over(next).as_local().await?;
        let _ = hops;
        Ok(())
    }
}

fn main() {}
