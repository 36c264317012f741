#[loci::multitier]
mod chat {
    use loci::{Event, Here};

    #[peer(ties(Node = Multiple))]
    pub struct Registry;

    #[peer(ties(Registry = Single))]
    pub struct Node;

    pub fn public_message(ctx: &Here<Registry>) -> Event<String> {
        let _ = ctx;
        Event::new()
    }

    /// Plain helpers without a context are shared code, and fine.
    pub fn shout(line: &str) -> String {
        line.to_uppercase()
    }
}

fn main() {}
