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
use loci::wire::{decode_frame, encode_frame, Header, Hello};
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
                let (mut server, _) = raw::configs(&loci_tests::issued::<with_loci::bench::Hub>(creds, "raw-holder"));
                // The stream limits loci's connections have (one bidirectional stream, no
                // unidirectional ones): quinn keeps per-stream state for what a remote may
                // open, so quinn's defaults (100 of each) would cost the raw side memory loci
                // does not pay. One stream at a time still serves the echo.
                server.transport_config(raw::transport_with_streams(1, 0));
                let endpoint = quinn::Endpoint::server(server, "127.0.0.1:0".parse().unwrap()).expect("an endpoint");
                let addr = endpoint.local_addr().expect("its address");
                tokio::spawn(raw::serve_echo(endpoint));
                addr
            }
            "loci" => {
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
            other => panic!("--hold takes `raw` or `loci`, not `{other}`"),
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

/// The resident memory of the holder, in bytes; it must still run (a holder that died would
/// read as no memory at all).
fn resident(holder: &mut Child) -> u64 {
    assert!(matches!(holder.try_wait(), Ok(None)), "the holder process ended early");
    let status = std::fs::read_to_string(format!("/proc/{}/status", holder.id())).expect("the holder's status");
    let kib = status.lines().find_map(|line| line.strip_prefix("VmRSS:")).expect("the holder's resident memory");
    kib.trim().trim_end_matches("kB").trim().parse::<u64>().expect("a size in kB") * 1024
}

/// Starts the holder of `side` in a child process; the child, its output (kept open until
/// the child ends) and its address.
fn start_holder(side: Side, creds: &Path) -> (Child, BufReader<std::process::ChildStdout>, SocketAddr) {
    let mut child = Command::new(std::env::current_exe().expect("this executable"))
        .args(["--hold", side.name(), "--creds"])
        .arg(creds)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the holder process starts");
    let mut output = BufReader::new(child.stdout.take().expect("its output"));
    let mut line = String::new();
    output.read_line(&mut line).expect("its address");
    (child, output, line.trim().parse().expect("the holder prints its address"))
}

/// A connection made usable, with the streams that must stay open as long as it is held.
type Joined = (quinn::Connection, Option<(quinn::SendStream, quinn::RecvStream)>);

/// A connection the loci holder has admitted: TLS, then this spoke's hello and the hub's hello
/// in answer (a refusal would be a `Refused` frame, or the connection closed).
async fn loci_joined(endpoint: &quinn::Endpoint, addr: SocketAddr, n: usize) -> Joined {
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
    assert!(matches!(decode_frame(&answer), Ok((Header::Hello(_), _))), "the hub did not admit spoke {n}");
    // The streams stay open with the connection: a loci connection keeps its one stream.
    (connection, Some((send, recv)))
}

/// Connects `n` remotes to a holder of `side` in a child process and measures what they cost it.
pub async fn measure(side: Side, n: usize, creds: &Path, raw_client: &quinn::ClientConfig) -> Held {
    let (mut child, output, addr) = start_holder(side, creds);
    // Credentials and the client endpoint are made before the timing starts, on both sides.
    let endpoint = match side {
        Side::Raw => raw::client_endpoint(raw_client),
        Side::Loci => loci_tests::raw::client(&loci_tests::issued::<with_loci::bench::Spoke>(creds, "holder-client")),
    };
    // Let the holder settle before the baseline is read.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = resident(&mut child);
    let payload: crate::Payload = *b"sixteen byte msg";
    let started = Instant::now();
    let connections: Vec<Joined> = match side {
        Side::Raw => {
            stream::iter(0..n)
                .map(|_| async {
                    let connection = raw::connect(&endpoint, addr).await;
                    assert_eq!(raw::call(&connection, &payload).await, payload);
                    (connection, None)
                })
                .buffer_unordered(DIALS_AT_ONCE)
                .collect()
                .await
        }
        Side::Loci => {
            stream::iter(0..n).map(|i| loci_joined(&endpoint, addr, i)).buffer_unordered(DIALS_AT_ONCE).collect().await
        }
    };
    let connect_all = started.elapsed();
    // Let the holder finish what admission left to do (tasks, first keep-alives).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let held = resident(&mut child);
    let open = connections.iter().filter(|(c, _)| c.close_reason().is_none()).count();
    assert_eq!(open, n, "the {} holder closed connections", side.name());
    for (connection, _) in &connections {
        connection.close(0u32.into(), b"done");
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), endpoint.wait_idle()).await;
    drop(connections);
    drop(child.stdin.take());
    let _ = child.wait();
    drop(output);
    Held { bytes_per_connection: held.saturating_sub(before) / n as u64, connect_all }
}
