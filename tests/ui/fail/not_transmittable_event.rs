#[loci::multitier]
mod chat {
    use loci::Event;

    #[peer(ties(Node = Multiple))]
    pub struct Registry;

    #[peer(ties(Registry = Single))]
    pub struct Node;

    /// Not serde: cannot cross the network.
    pub struct Line {
        pub text: String,
    }

    #[on(Node)]
    pub fn message() -> Event<Line> {
        Event::new()
    }
}

fn main() {}
