#[loci::multitier]
mod chat {
    use loci::{Here, Remote};

    #[peer(ties(Client = Multiple))]
    pub struct Server;

    #[peer(ties(Server = Single))]
    pub struct Client;

    #[once]
    #[on(Server)]
    pub fn motd(requester: &Remote<Client>) -> String {
        String::new()
    }
}

fn main() {}
