// A mistake inside a function body is the only error: the module is still emitted whole, so
// code outside it (a test, another binary) that uses its peers and items type-checks.
#[loci::multitier]
pub mod chat {
    use loci::{Event, Here};

    #[peer(ties(Node = Multiple))]
    pub struct Registry;

    #[peer(ties(Registry = Single))]
    pub struct Node;

    #[on(Node)]
    pub fn lines() -> Event<String> {
        Event::new()
    }

    #[on(Registry)]
    pub fn count(extra: u32) -> u32 {
        extra
    }

    #[on(Node)]
    pub async fn main(ctx: Here<Node>) -> loci::Result<()> {
        // `count` is placed on the registry: a node reaches it remotely.
        let counted = ctx.local(count).call(1).await;
        let _ = counted;
        Ok(())
    }
}

async fn outside() -> loci::Result<()> {
    let node = loci::Instance::<chat::Node>::builder()
        .connect("registry", "127.0.0.1:1")
        .start()
        .await?;
    node.here().local(chat::lines).fire("hi".to_owned());
    let counted: Result<u32, loci::RemoteError> = node.here().remote(chat::count).call(1).await;
    let _ = counted;
    Ok(())
}

fn main() {
    let _ = outside();
}
