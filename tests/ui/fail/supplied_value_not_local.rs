#[loci::multitier]
mod game {
    #[peer(ties(Client = Multiple))]
    pub struct Server;

    #[peer(ties(Server = Single))]
    pub struct Client;

    /// Whether a bot plays this client, chosen at start-up.
    #[on(Client)]
    pub fn bot() -> bool;
}

fn main() {}
