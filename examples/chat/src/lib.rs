//! The chat of the ScalaLoci paper as a loci multitier program.
//!
//! Nodes fire the lines typed into them; the registry merges the lines of all nodes into
//! one public stream; every node prints that stream. `/who` asks the registry who is online.

#[loci::multitier]
pub mod chat {
    use loci::{Event, Here};
    use tokio::io::{AsyncBufReadExt, BufReader};

    /// Relays the lines of every node to every node.
    #[peer(ties(Node = Multiple))]
    pub struct Registry;

    /// One participant: reads lines from stdin, prints everyone's lines.
    #[peer(ties(Registry = Single))]
    pub struct Node;

    /// Lines typed on this node.
    #[on(Node)]
    pub fn message() -> Event<String> {
        Event::new()
    }

    /// Every node's lines, as the registry relays them, prefixed with the sender's name.
    #[on(Registry)]
    pub fn public_message(ctx: &Here<Registry>) -> Event<String> {
        tracing::info!("the chat registry relays every node's lines to every node");
        ctx.remote(message).from_all_seq().map(|(from, line)| format!("{}: {line}", from.name()))
    }

    /// The names of the nodes connected to the registry.
    #[on(Registry)]
    pub fn online(ctx: &Here<Registry>) -> Vec<String> {
        ctx.remotes::<Node>().connected().iter().map(|node| node.name().to_owned()).collect()
    }

    #[on(Node)]
    pub async fn main(ctx: Here<Node>) -> loci::Result<()> {
        let _ = ctx.remote(public_message).as_local().observe(|line| println!("{line}"));
        println!("joined the chat as {}", ctx.name());
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        while let Some(line) = lines.next_line().await? {
            match line.trim() {
                "" => {}
                "/who" => println!("online: {}", ctx.remote(online).as_local().await?.join(", ")),
                _ => ctx.local(message).fire(line),
            }
        }
        Ok(())
    }
}

pub use self::chat::{Node, Registry};
