//! One peer holding a thousand connections: what each costs it in memory, and how long it
//! takes to connect them all.
//!
//! The holding peer runs in a child process (this executable again, with `--hold raw|loci`),
//! so its resident memory can be read from `/proc` without the measuring side's own
//! connections in it. The measuring side dials from one endpoint, a few handshakes at a time.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use loci::wire::{encode_frame, Header, Hello};
use loci::Module;

use crate::{raw, with_loci, Side};

/// Handshakes in flight at once while connecting: enough to keep both cores busy, few enough
/// that none waits long enough to approach an idle timeout.
const DIALS_AT_ONCE: usize = 16;

/// What holding `connections` cost one side.
#[derive(Debug, Clone, Copy)]
pub struct Held {
    /// Growth of the holder's resident memory, divided by the connections it holds.
    pub bytes_per_connection: u64,
    /// From the first dial to the last connection being usable.
    pub connect_all: Duration,
}

/// The child's part: serves `side`'s holder on loopback, prints its address, and runs until
/// its standard input closes.
pub fn serve(side: &str, creds: &Path) -> ! {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let addr = runtime.block_on(async {
        match side {
            "raw" => {
                let (server, _) = raw::configs(&loci_tests::issued::<with_loci::bench::Hub>(creds, "raw-holder"));
                let endpoint = quinn::Endpoint::server(server, "127.0.0.1:0".parse().unwrap()).expect("an endpoint");
                let addr = endpoint.local_addr().expect("its address");
                tokio::spawn(raw::serve_echo(endpoint));
                addr
            }
            _ => {
                let running = loci_tests::listening::<with_loci::bench::Hub>(creds, "holder")
                    .max_connections_per_tie(4096)
                    .start()
                    .await
                    .expect("the holding hub starts");
                let addr = running.local_addr();
                // Runs as long as the process.
                std::mem::forget(running);
                addr
            }
        }
    });
    println!("{addr}");
    let _ = std::io::stdout().flush();
    runtime.spawn_blocking(|| {
        // The parent closes its end of the pipe when it is done (or dies).
        let _ = std::io::stdin().lock().lines().count();
        std::process::exit(0);
    });
    match runtime.block_on(std::future::pending::<std::convert::Infallible>()) {}
}

/// The resident memory of process `pid`, in bytes.
fn resident(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = status.lines().find_map(|line| line.strip_prefix("VmRSS:")).unwrap_or("0");
    kib.trim().trim_end_matches("kB").trim().parse::<u64>().unwrap_or(0) * 1024
}

/// Starts the holder of `side` in a child process; the child and its address.
fn start_holder(side: Side, creds: &Path) -> (Child, SocketAddr) {
    let mut child = Command::new(std::env::current_exe().expect("this executable"))
        .args(["--hold", side.name(), "--creds"])
        .arg(creds)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the holder process starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("its output")).read_line(&mut line).expect("its address");
    (child, line.trim().parse().expect("the holder prints its address"))
}

/// A connection the loci holder has admitted: TLS, then this spoke's hello and the hub's answer.
async fn loci_joined(endpoint: &quinn::Endpoint, addr: SocketAddr, n: usize) -> quinn::Connection {
    let spec = <with_loci::bench::__LociModule as Module>::SPEC;
    let connection = endpoint.connect(addr, loci::credentials::CLUSTER_SERVER_NAME).unwrap().await.unwrap();
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    let spoke = spec.peer_index("Spoke").expect("a Spoke peer");
    let hello = Hello::new(&spec, spoke, 1_000_000 + n as u64, &format!("holder-client/{n}"));
    let mut frame = bytes::BytesMut::new();
    encode_frame(&mut frame, &Header::Hello(hello), &[]).unwrap();
    send.write_all(&frame).await.unwrap();
    let mut length = [0u8; 4];
    recv.read_exact(&mut length).await.expect("the hub's hello");
    let mut answer = vec![0u8; u32::from_be_bytes(length) as usize];
    recv.read_exact(&mut answer).await.expect("the hub's hello");
    // The streams stay open with the connection: a loci connection keeps its one stream.
    std::mem::forget((send, recv));
    connection
}

/// Connects `n` remotes to a holder of `side` in a child process and measures what they cost it.
pub async fn measure(side: Side, n: usize, creds: &Path, raw_client: &quinn::ClientConfig) -> Held {
    let (mut child, addr) = start_holder(side, creds);
    // Let the holder settle before the baseline is read.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = resident(child.id());
    let payload: crate::Payload = *b"sixteen byte msg";
    let started = Instant::now();
    let (endpoint, connections) = match side {
        Side::Raw => {
            let endpoint = raw::client_endpoint(raw_client);
            let connections: Vec<quinn::Connection> = stream::iter(0..n)
                .map(|_| async {
                    let connection = raw::connect(&endpoint, addr).await;
                    assert_eq!(raw::call(&connection, &payload).await, payload);
                    connection
                })
                .buffer_unordered(DIALS_AT_ONCE)
                .collect()
                .await;
            (endpoint, connections)
        }
        Side::Loci => {
            let endpoint =
                loci_tests::raw::client(&loci_tests::issued::<with_loci::bench::Spoke>(creds, "holder-client"));
            let connections: Vec<quinn::Connection> = stream::iter(0..n)
                .map(|i| loci_joined(&endpoint, addr, i))
                .buffer_unordered(DIALS_AT_ONCE)
                .collect()
                .await;
            (endpoint, connections)
        }
    };
    let connect_all = started.elapsed();
    // Let the holder finish what admission left to do (tasks, first keep-alives).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let held = resident(child.id());
    let open = connections.iter().filter(|c| c.close_reason().is_none()).count();
    assert_eq!(open, n, "the {} holder closed connections", side.name());
    for connection in &connections {
        connection.close(0u32.into(), b"done");
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), endpoint.wait_idle()).await;
    drop(child.stdin.take());
    let _ = child.wait();
    Held { bytes_per_connection: held.saturating_sub(before) / n as u64, connect_all }
}
