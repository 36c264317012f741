#[loci::multitier]
mod chat {
    use loci::Here;

    #[peer(ties(Client = Multiple))]
    pub struct Server {
        port: u16,
    }

    #[peer(ties(Server = Single))]
    pub struct Client;
}

fn main() {}
