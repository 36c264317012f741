#[loci::multitier]
mod game {
    use loci::Var;
    use serde::{Deserialize, Serialize};

    #[peer(ties(Client = Multiple))]
    pub struct Server;

    #[peer(ties(Server = Single))]
    pub struct Client;

    #[derive(Clone, Serialize, Deserialize)]
    pub struct Score {
        pub left: u32,
        pub right: u32,
    }

    #[on(Server)]
    pub fn score() -> Var<Score> {
        Var::new(Score { left: 0, right: 0 })
    }
}

fn main() {}
