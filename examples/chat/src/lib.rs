//! The chat of the ScalaLoci paper as a loci multitier program.
//!
//! Nodes fire the lines typed into them; the registry merges the lines of all nodes; every
//! node prints the lines of the *others* (a subjective value, computed per node, so nobody
//! gets their own lines echoed). `/who` asks the registry who is online.

#[loci::multitier]
pub mod chat {
    use loci::{Event, Here, Remote};
    use serde::{Deserialize, Serialize};
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

    /// One line as the registry received it.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Line {
        /// The sending node, as the registry numbers its connections.
        pub from: u64,
        /// The sending node's name.
        pub name: String,
        /// What was typed.
        pub text: String,
    }

    /// Every node's lines, as the registry receives them.
    #[on(Registry)]
    pub fn lines(ctx: &Here<Registry>) -> Event<Line> {
        tracing::info!("the chat registry relays every node's lines to every node");
        ctx.remote(message).from_all_seq().map(|(from, text)| Line {
            from: from.id(),
            name: from.name().to_owned(),
            text: text.clone(),
        })
    }

    /// The lines of every other node, computed for each node that reads it: no echo.
    #[on(Registry)]
    pub fn public_message(ctx: &Here<Registry>, reader: &Remote<Node>) -> Event<String> {
        let reader = reader.id();
        ctx.local(lines).filter(move |line| line.from != reader).map(|line| format!("{}: {}", line.name, line.text))
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
                _ => ctx.local(message).send(line).await,
            }
        }
        // Without input (run as a service, stdin closed) a node keeps showing the others' lines
        // until it is stopped.
        std::future::pending::<()>().await;
        Ok(())
    }
}

pub use self::chat::{Node, Registry};
