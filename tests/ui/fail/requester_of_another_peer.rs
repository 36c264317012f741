#[loci::multitier]
mod chat {
    use loci::{Event, Here, Remote};

    #[peer(ties(Node = Multiple, Monitor = Optional))]
    pub struct Registry;

    #[peer(ties(Registry = Single))]
    pub struct Node;

    #[peer(ties(Registry = Single))]
    pub struct Monitor;

    /// Computed for each reading node.
    #[on(Registry)]
    pub fn greeting(reader: &Remote<Node>) -> Event<String> {
        let _ = reader;
        Event::new()
    }

    #[on(Monitor)]
    pub async fn main(ctx: Here<Monitor>) -> loci::Result<()> {
        let _ = ctx.remote(greeting).as_local().observe(|line| println!("{line}"));
        Ok(())
    }
}

fn main() {}
