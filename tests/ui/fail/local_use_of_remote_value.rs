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

    #[on(Registry)]
    pub fn public_message(ctx: &Here<Registry>) -> Event<String> {
        let _ = ctx;
        message()
    }
}

fn main() {}
