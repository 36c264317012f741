#[loci::multitier]
mod game {
    use loci::{Event, Here};

    #[peer(ties(Client = Multiple))]
    pub struct Server;

    #[peer(ties(Server = Single))]
    pub struct Client;

    #[on(Server)]
    pub async fn ticks() -> Event<u32> {
        Event::new()
    }
}

fn main() {}
