//! Placed items are functions, so local bindings may reuse their names.
#[loci::multitier]
mod chat {
    use loci::{Event, Here};

    #[peer(ties(Node = Multiple))]
    pub struct Registry;

    #[peer(ties(Registry = Single))]
    pub struct Node;

    #[on(Node)]
    pub fn message() -> Event<String> {
        Event::new()
    }

    #[on(Node)]
    pub async fn main(ctx: Here<Node>) -> loci::Result<()> {
        let message = ctx.local(message);
        message.fire("hello".to_owned());
        Ok(())
    }
}

fn main() {}
