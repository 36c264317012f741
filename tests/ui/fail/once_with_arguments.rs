#[loci::multitier]
mod chat {
    use loci::Here;

    #[peer(ties(Client = Multiple))]
    pub struct Server;

    #[peer(ties(Server = Single))]
    pub struct Client;

    #[once(always)]
    #[on(Server)]
    pub fn motd() -> String {
        "welcome".to_owned()
    }
}

fn main() {}
