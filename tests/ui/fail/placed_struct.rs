#[loci::multitier]
mod chat {
    use loci::Here;

    #[peer(ties(Client = Multiple))]
    pub struct Server;

    #[peer(ties(Server = Single))]
    pub struct Client;

    #[on(Server)]
    pub struct Settings;
}

fn main() {}
