#[loci::multitier]
mod game {
    use loci::{Event, Here};

    #[peer(ties(Client = Multiple))]
    pub struct Server;

    #[peer(ties(Server = Single))]
    pub struct Client;

    #[once]
    #[on(Server)]
    pub fn ticks() -> Event<u32> {
        Event::new()
    }
}

fn main() {}
