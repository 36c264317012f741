#[loci::multitier]
mod chat {
    use loci::Event;

    #[peer(ties(Node = Multiple))]
    pub struct Registry;

    #[peer(ties(Registry = Single))]
    pub struct Node;

    #[on(Node)]
    pub fn message() -> Event<String> {
        Event::new()
    }

    #[on(Registry)]
    pub fn message() -> Event<String> {
        Event::new()
    }
}

fn main() {}
