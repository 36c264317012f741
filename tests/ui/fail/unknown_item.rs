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
    pub fn relayed(ctx: &Here<Registry>) -> Event<String> {
        ctx.remote(mesage).from_all_seq().map(|(_, line)| line.clone())
    }
}

fn main() {}
