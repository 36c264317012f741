#[loci::multitier]
mod chat {
    use loci::Here;

    #[peer(ties(Client = Multiple))]
    pub struct Server;

    #[peer(ties(Server = Single))]
    pub struct Client;

    #[on(Server)]
    #[on(Client)]
    pub fn status() -> u32 {
        0
    }
}

fn main() {}
