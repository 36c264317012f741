#[loci::multitier]
mod chat {
    use loci::{Event, Here};

    #[peer(ties(Node = Multiple))]
    pub struct Registry;

    #[peer(ties(Registry = Single))]
    pub struct Node;

    #[once]
    pub fn motd() -> String {
        "welcome".to_owned()
    }

    /// Plain helpers are shared code, and fine; one may take the context of a peer.
    pub fn shout(ctx: &Here<Registry>, line: &str) -> Event<String> {
        let _ = ctx;
        let relayed = Event::new();
        relayed.fire(line.to_uppercase());
        relayed
    }
}

fn main() {}
