//! A UDP relay that loses and delays datagrams, for fault tests between hosts where the
//! kernel has no `netem` (see `docs/testing.md`): clients send to `--listen`, each gets a
//! socket of its own towards `--to`, and datagrams both ways are dropped with probability
//! `--loss` and held `--delay-ms` first.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use tokio::net::UdpSocket;

#[derive(Parser)]
#[command(name = "udp-relay", about = "A UDP relay that loses and delays datagrams")]
struct Args {
    /// The address clients send to
    #[arg(long)]
    listen: SocketAddr,
    /// The address datagrams are relayed to
    #[arg(long)]
    to: SocketAddr,
    /// The chance a datagram is lost, each way
    #[arg(long, default_value_t = 0.05)]
    loss: f64,
    /// How long each datagram is held, in milliseconds
    #[arg(long, default_value_t = 50)]
    delay_ms: u64,
    /// Seed of the losses
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Decides, for each datagram, whether it is lost.
struct Losses {
    rng: Mutex<fastrand::Rng>,
    loss: f64,
    lost: std::sync::atomic::AtomicU64,
}

impl Losses {
    fn lose(&self) -> bool {
        let lost = self.rng.lock().unwrap_or_else(std::sync::PoisonError::into_inner).f64() < self.loss;
        if lost {
            self.lost.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        lost
    }
}

/// Sends `datagram` from `socket` to `to` after `delay`, unless it is lost.
fn forward(socket: &Arc<UdpSocket>, to: SocketAddr, datagram: Vec<u8>, delay: Duration, losses: &Losses) {
    if losses.lose() {
        return;
    }
    let socket = Arc::clone(socket);
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let _ = socket.send_to(&datagram, to).await;
    });
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let delay = Duration::from_millis(args.delay_ms);
    let losses = Arc::new(Losses {
        rng: Mutex::new(fastrand::Rng::with_seed(args.seed)),
        loss: args.loss,
        lost: Default::default(),
    });
    let front = Arc::new(UdpSocket::bind(args.listen).await?);
    println!("relaying {} -> {} (loss {}, delay {} ms)", args.listen, args.to, args.loss, args.delay_ms);
    // One socket towards the target per client, so the target tells the clients apart.
    let mut upstreams: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
    let mut buf = vec![0u8; 65_536];
    loop {
        let Ok((len, client)) = front.recv_from(&mut buf).await else { continue };
        let upstream = match upstreams.get(&client) {
            Some(upstream) => Arc::clone(upstream),
            None => {
                let bind: SocketAddr =
                    if args.to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().expect("an address");
                let upstream = Arc::new(UdpSocket::bind(bind).await?);
                upstreams.insert(client, Arc::clone(&upstream));
                // Answers from the target go back to this client, through the front socket.
                let (front, upstream_reader, losses) = (Arc::clone(&front), Arc::clone(&upstream), Arc::clone(&losses));
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 65_536];
                    loop {
                        // An error (an ICMP "port unreachable" for an earlier datagram, say)
                        // is about that datagram; the path stays.
                        if let Ok((len, _)) = upstream_reader.recv_from(&mut buf).await {
                            forward(&front, client, buf[..len].to_vec(), delay, &losses);
                        }
                    }
                });
                upstream
            }
        };
        forward(&upstream, args.to, buf[..len].to_vec(), delay, &losses);
    }
}
