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
        let message = ctx.local(message).map(|line| line.to_uppercase());
        let _ = message.observe(|line| println!("{line}"));
        ctx.local(message).fire("hello".to_owned());
        Ok(())
    }
}

fn main() {}
