#[loci::multitier]
mod jobs {
    use loci::Here;

    #[peer(ties(Manager = Single))]
    pub struct Client;

    #[peer(ties(Client = Multiple, Worker = Multiple))]
    pub struct Manager;

    #[peer(ties(Manager = Single))]
    pub struct Worker;

    #[on(Worker)]
    pub fn load() -> u32 {
        7
    }

    #[on(Client)]
    pub async fn main(ctx: Here<Client>) -> loci::Result<()> {
        let _load = ctx.remote(load).from_all().await;
        Ok(())
    }
}

fn main() {}
