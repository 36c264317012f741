#[loci::multitier]
mod ring {
    use loci::Here;

    #[peer(ties(prev: Node = Single, next: Node = Single), back(next = prev))]
    pub struct Node;

    #[on(Node)]
    pub fn take(hop: u64) -> bool {
        hop > 0
    }

    #[on(Node)]
    pub async fn main(ctx: Here<Node>) -> loci::Result<()> {
        let taken = ctx.remote(take).call(1).await?;
        let _ = taken;
        Ok(())
    }
}

fn main() {}
