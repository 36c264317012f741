//! What authenticated remotes that each start a maximum-size frame and never finish it cost a
//! registry process, measured from `/proc`: a thousand of them, against the per-connection
//! buffer limit and the process-wide budget for partly received frames (see
//! `docs/reference/limits.md`). `LOCI_LIMITS_CONNECTIONS` changes how many.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use loci::launch::Launch;
use loci::wire::{encode_frame, Header, Hello, DEFAULT_MAX_FRAME};
use loci::Module;

const REGISTRY: &str = env!("CARGO_BIN_EXE_registry");

/// The resident memory of process `pid`, in bytes.
fn resident(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib = status.lines().find_map(|line| line.strip_prefix("VmRSS:")).unwrap();
    kib.trim().trim_end_matches("kB").trim().parse::<u64>().unwrap() * 1024
}

/// A raw Node that said hello and read the registry's answer: a connection the registry holds.
async fn joined(
    endpoint: &quinn::Endpoint,
    addr: SocketAddr,
    n: usize,
) -> (quinn::Connection, quinn::SendStream, quinn::RecvStream) {
    let spec = <chat::chat::__LociModule as Module>::SPEC;
    let connection = endpoint.connect(addr, "loci.cluster").unwrap().await.unwrap();
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    let mut hello = BytesMut::new();
    let node = spec.peer_index("Node").unwrap();
    encode_frame(&mut hello, &Header::Hello(Hello::new(&spec, node, 1_000 + n as u64, &format!("mallory/{n}"))), &[])
        .unwrap();
    send.write_all(&hello).await.unwrap();
    let mut answer = [0u8; 4];
    recv.read_exact(&mut answer).await.unwrap();
    (connection, send, recv)
}

#[test]
fn a_thousand_remotes_holding_partial_maximum_size_frames_cost_bounded_memory() {
    let connections: usize = std::env::var("LOCI_LIMITS_CONNECTIONS").ok().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let mut launch = Launch::new().quiet();
    launch.credentials().unwrap();
    launch.start("registry", REGISTRY, &["--listen", "127.0.0.1:0"]).unwrap();
    let addr = launch.listen_addr("registry").unwrap();
    let pid = launch.pid("registry").unwrap();
    let mallory = launch.issue("mallory", &["Node"]).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let started = resident(pid);

    let endpoint = runtime.block_on(async { loci_tests::raw::client(&mallory) });
    let mut streams = Vec::new();
    for n in 0..connections {
        streams.push(runtime.block_on(joined(&endpoint, addr, n)));
    }
    std::thread::sleep(Duration::from_secs(1));
    let idle = resident(pid);
    let per_connection = idle.saturating_sub(started) / connections as u64;

    // Every remote starts a frame of the largest size and sends what flow control lets it.
    let body: &'static [u8] = Box::leak(vec![0u8; DEFAULT_MAX_FRAME - 1].into_boxed_slice());
    let mut kept = Vec::new();
    for (connection, mut send, recv) in streams {
        kept.push((connection, recv));
        runtime.spawn(async move {
            let _ = send.write_all(&(DEFAULT_MAX_FRAME as u32).to_be_bytes()).await;
            let _ = send.write_all(body).await;
            std::future::pending::<()>().await;
        });
    }
    // Long enough for every stream to fill what the registry lets it, well within the frame
    // deadline (5 s + 16 s for 16 MiB).
    std::thread::sleep(Duration::from_secs(4));
    let attacked = resident(pid);
    // Measured while the registry holds them all: none was closed to save memory.
    let open = kept.iter().filter(|(connection, _)| connection.close_reason().is_none()).count();
    assert_eq!(open, connections, "the registry closed connections instead of holding them");
    let held = attacked.saturating_sub(idle);
    println!(
        "{connections} connections: {} KiB each when idle ({} MiB → {} MiB); holding partial {} MiB frames: {} MiB more",
        per_connection >> 10,
        started >> 20,
        idle >> 20,
        DEFAULT_MAX_FRAME >> 20,
        held >> 20
    );
    assert!(per_connection <= 40_000, "{} bytes per idle connection (target: 40 KB)", per_connection);
    assert!(held <= 64_000_000, "the partial frames made the registry hold {} MiB (target: 64 MB)", held >> 20);
    assert!(launch.wait_exit("registry", Duration::ZERO).is_err(), "the registry must survive");
    drop(kept);
}
