#[loci::multitier]
mod chat {
    use loci::Here;

    #[peer(ties(Client = Multiple))]
    pub struct Server;

    #[peer(ties(Server = Single))]
    pub struct Client;

    #[on(Server)]
    pub fn motd() -> String {
        "welcome".to_owned()
    }

    #[on(Server)]
    pub async fn main(ctx: Here<Server>) -> loci::Result<()> {
        let _ = ctx;
        let line = motd();
        Ok(())
    }
}

fn main() {}
