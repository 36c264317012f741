#[loci::multitier(chat)]
mod chat {
    use loci::Here;

    #[peer(ties(Client = Multiple))]
    pub struct Server;

    #[peer(ties(Server = Single))]
    pub struct Client;
}

fn main() {}
