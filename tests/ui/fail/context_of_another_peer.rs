#[loci::multitier]
mod chat {
    use loci::Here;

    #[peer(ties(Node = Multiple))]
    pub struct Registry;

    #[peer(ties(Registry = Single))]
    pub struct Node;

    #[on(Node)]
    pub fn name(ctx: &Here<Registry>) -> String {
        ctx.name().to_owned()
    }
}

fn main() {}
