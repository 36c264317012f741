#[loci::multitier]
mod game {
    #[peer(ties(Client = Multiple))]
    pub struct Server;

    #[peer(ties(Server = Single))]
    pub struct Client;

    #[lossy]
    #[on(Server)]
    pub fn score() -> u32 {
        0
    }
}

fn main() {}
