#[loci::multitier]
mod chat {
    use loci::Here;

    #[on(Node)]
    pub async fn main(ctx: Here<Node>) -> loci::Result<()> {
        let _ = ctx;
        Ok(())
    }
}

fn main() {}
