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
    pub fn shouted(ctx: &Here<Node>) -> Event<String> {
        ctx.remote(message).as_local().map(|line| line.to_uppercase())
    }
}

fn main() {}
