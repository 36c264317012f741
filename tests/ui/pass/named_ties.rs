//! Named ties: a ring's `prev`/`next`, and a worker with a primary and a backup master.
#[loci::multitier]
mod ring {
    use loci::{Here, Remote};

    #[peer(ties(prev: Node = Single, next: Node = Single), back(next = prev))]
    pub struct Node;

    #[peer(ties(workers: Worker = Multiple), back(workers = primary))]
    pub struct Master;

    #[peer(ties(primary: Master = Single, backup: Master = Optional))]
    pub struct Worker;

    #[on(Node)]
    pub fn take(caller: &Remote<Node>, hop: u64) -> bool {
        caller.tie() == Some("prev") && hop > 0
    }

    #[on(Master)]
    pub fn load() -> u32 {
        3
    }

    #[on(Node)]
    pub async fn main(ctx: Here<Node>) -> loci::Result<()> {
        // `next` stays free as a variable name: the tie is a function, like a placed item.
        let next = ctx.remote(take).over(next).when_connected().call(1).await?;
        let all = ctx.remote(take).from_all().call(2).await;
        let _ = (next, all, ctx.tie(prev).connected());
        Ok(())
    }

    #[on(Worker)]
    pub async fn main(ctx: Here<Worker>) -> loci::Result<()> {
        let primary: u32 = ctx.remote(load).over(primary).as_local().await?;
        let backup: Option<u32> = ctx.remote(load).over(backup).as_local().await?;
        let _ = (primary, backup);
        Ok(())
    }
}

fn main() {}
