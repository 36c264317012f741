#[loci::multitier]
mod ring {
    use loci::Here;

    #[peer(ties(prev: Node = Single, next: Node = Single, watcher: Monitor = Optional), back(next = prev))]
    pub struct Node;

    #[peer(ties(watched: Node = Multiple), back(watched = watcher))]
    pub struct Monitor;

    #[on(Node)]
    pub async fn main(ctx: Here<Node>) -> loci::Result<()> {
        let seen = remote!(ctx, |m: &Here<Monitor>| -> String { m.name().to_owned() }).over(next).as_local().await?;
        let _ = seen;
        Ok(())
    }
}

fn main() {}
