#[loci::multitier]
mod chat {
    use loci::{Event, Remote};

    #[peer(ties(Node = Multiple))]
    pub struct Registry;

    #[peer(ties(Registry = Single))]
    pub struct Node;

    #[on(Registry)]
    pub fn greeting(reader: &Remote<Nodes>) -> Event<String> {
        let _ = reader;
        Event::new()
    }
}

fn main() {}
