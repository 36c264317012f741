//! ScalaLoci's peer-to-peer chat as a loci program.
//!
//! Nodes register with a registry, which tells every node about the others (a signal of
//! `Remote<Node>`s: remotes travel inside values). Each node connects to the nodes it learns
//! of, and lines go from node to node directly; the registry never sees them. A node that
//! leaves and comes back is introduced again, and the others connect to it again.

#[loci::multitier]
pub mod p2p {
    use loci::{Event, Here, Remote, Signal};
    use tokio::io::{AsyncBufReadExt, BufReader};

    /// Introduces nodes to each other.
    #[peer(ties(Node = Multiple))]
    pub struct Registry;

    /// Chats with the other nodes directly.
    #[peer(ties(Registry = Single, Node = Multiple))]
    pub struct Node;

    /// The nodes registered now: what the registry tells every node.
    #[on(Registry)]
    pub fn members(ctx: &Here<Registry>) -> Signal<Vec<Remote<Node>>> {
        ctx.remotes::<Node>().connected_signal()
    }

    /// Lines typed on this node.
    #[on(Node)]
    pub fn message() -> Event<String> {
        Event::new()
    }

    /// Connects to every member this node is not connected to yet.
    async fn meet(ctx: &Here<Node>, members: Vec<Remote<Node>>) {
        let nodes = ctx.remotes::<Node>();
        for member in members.iter().filter(|member| member.instance() != ctx.instance()) {
            if nodes.connected().contains(member) {
                continue;
            }
            if let Err(error) = nodes.reach(member).await {
                eprintln!("could not reach {}: {error}", member.name());
            }
        }
    }

    #[on(Node)]
    pub async fn main(ctx: Here<Node>) -> loci::Result<()> {
        // Lines from every node this one is connected to, now and later, straight from them.
        let _ = ctx.remote(message).from_all_seq().observe(|(from, line)| println!("{}: {line}", from.name()));
        let nodes = ctx.remotes::<Node>();
        let _ = nodes.joined().observe(|node| println!("connected to {}", node.name()));
        let _ = nodes.left().observe(|node| println!("{} left", node.name()));
        // Follow the registry's members; meet the new ones.
        let members = ctx.remote(members).as_local().await?;
        let (changes_tx, mut changes) = tokio::sync::mpsc::unbounded_channel();
        let _ = members.observe(move |members| {
            let _ = changes_tx.send(members.clone());
        });
        meet(&ctx, members.get()).await;
        println!("joined the chat as {}", ctx.name());
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        loop {
            tokio::select! {
                members = changes.recv() => match members {
                    Some(members) => meet(&ctx, members).await,
                    None => return Ok(()),
                },
                line = lines.next_line() => match line? {
                    Some(line) if line == "/peers" => {
                        let mut peers: Vec<String> = nodes.connected().iter().map(|node| node.name().to_owned()).collect();
                        peers.sort();
                        println!("peers: {}", peers.join(", "));
                    }
                    Some(line) => ctx.local(message).send(line).await,
                    None => return Ok(()),
                },
            }
        }
    }
}
