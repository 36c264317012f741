#[loci::multitier]
mod chat {
    use loci::{Event, Here, Remote};

    #[peer(ties(Node = Multiple))]
    pub struct Registry;

    #[peer(ties(Registry = Single))]
    pub struct Node;

    #[on(Registry)]
    pub fn greeting(ctx: &Here<Registry>, reader: &Remote<Node>) -> Event<String> {
        let _ = (ctx, reader);
        Event::new()
    }

    #[on(Registry)]
    pub async fn main(ctx: Here<Registry>) -> loci::Result<()> {
        let _ = ctx.local(greeting);
        Ok(())
    }
}

fn main() {}
