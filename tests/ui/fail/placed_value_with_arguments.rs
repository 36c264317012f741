#[loci::multitier]
mod scores {
    use loci::Var;

    #[peer(ties(Client = Multiple))]
    pub struct Server;

    #[peer(ties(Server = Single))]
    pub struct Client;

    #[on(Server)]
    pub fn score(player: String) -> Var<u32> {
        let _ = player;
        Var::new(0)
    }
}

fn main() {}
