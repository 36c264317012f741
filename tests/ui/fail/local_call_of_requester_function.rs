#[loci::multitier]
mod chat {
    use loci::{Here, Remote};

    #[peer(ties(Node = Multiple))]
    pub struct Registry;

    #[peer(ties(Registry = Single))]
    pub struct Node;

    #[on(Registry)]
    pub fn greet(caller: &Remote<Node>) -> String {
        format!("hello, {}", caller.name())
    }

    #[on(Registry)]
    pub async fn main(ctx: Here<Registry>) -> loci::Result<()> {
        let _ = ctx.local(greet);
        Ok(())
    }
}

fn main() {}
