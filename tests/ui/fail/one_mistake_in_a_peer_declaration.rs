// A mistake in one peer's `#[peer(..)]` is reported once: the peer still counts as declared,
// so its uses elsewhere in the module (a tie to it, a placement on it) add no errors.
#[loci::multitier]
pub mod chat {
    use loci::{Event, Here, Remote};

    #[peer(ties(Node = Multiple))]
    pub struct Registry;

    #[peer(ties(Registry = Singel))]
    pub struct Node;

    #[on(Node)]
    pub fn lines() -> Event<String> {
        Event::new()
    }

    #[on(Registry)]
    pub fn greet(caller: &Remote<Node>) -> String {
        format!("hello, {}", caller.name())
    }

    #[on(Node)]
    pub async fn main(ctx: Here<Node>) -> loci::Result<()> {
        ctx.local(lines).fire("hi".to_owned());
        Ok(())
    }
}

fn main() {}
