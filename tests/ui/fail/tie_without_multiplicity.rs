#[loci::multitier]
mod chat {
    use loci::Here;

    #[peer(ties(Client))]
    pub struct Server;

    #[peer(ties(Server = Single))]
    pub struct Client;
}

fn main() {}
