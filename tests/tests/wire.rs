//! A hand-written client that speaks raw frames over an authenticated QUIC connection:
//! malformed input, oversized frames and forbidden peers close that one connection only.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use loci::wire::{encode_frame, Header, Hello};
use loci::Module;
use loci_tests::cluster::{__LociModule, job_count, JobManager, TaskManager};
use loci_tests::{connecting, credentials, listening, Spawned};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

const SPEC: loci::spec::ModuleSpec = <__LociModule as Module>::SPEC;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Opens an authenticated QUIC connection with the cluster credentials, as loci would.
async fn raw_connection(creds: &Path, addr: SocketAddr) -> (quinn::Endpoint, quinn::Connection) {
    let chain: Vec<CertificateDer> =
        CertificateDer::pem_file_iter(creds.join("member.pem")).unwrap().map(Result::unwrap).collect();
    let key = PrivateKeyDer::from_pem_file(creds.join("member-key.pem")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(creds.join("ca.pem")).unwrap() {
        roots.add(ca.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    tls.alpn_protocols = vec![b"loci/1".to_vec()];
    let client = quinn::ClientConfig::new(Arc::new(quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap()));
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(client);
    let connection = endpoint.connect(addr, "loci.cluster").unwrap().await.unwrap();
    (endpoint, connection)
}

fn hello_frame(peer: u16) -> BytesMut {
    hello_frame_of(peer, 99)
}

/// The hello of instance `instance` of peer `peer`.
fn hello_frame_of(peer: u16, instance: u64) -> BytesMut {
    let mut frame = BytesMut::new();
    encode_frame(&mut frame, &Header::Hello(Hello::new(&SPEC, peer, instance, "raw")), &[]).unwrap();
    frame
}

/// Sends `bytes` after a valid TaskManager hello; returns how the connection ended.
async fn send_after_hello(creds: &Path, addr: SocketAddr, bytes: &[u8]) -> quinn::ConnectionError {
    let (_endpoint, connection) = raw_connection(creds, addr).await;
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    send.write_all(&hello_frame(1)).await.unwrap();
    let mut their_hello = [0u8; 4];
    recv.read_exact(&mut their_hello).await.unwrap();
    let _ = send.write_all(bytes).await;
    tokio::time::timeout(Duration::from_secs(5), connection.closed()).await.expect("the connection must be closed")
}

fn close_reason(error: &quinn::ConnectionError) -> String {
    match error {
        quinn::ConnectionError::ApplicationClosed(close) => String::from_utf8_lossy(&close.reason).into_owned(),
        other => panic!("expected an application close, got {other}"),
    }
}

/// A job manager with one honest task manager, plus the credentials.
fn job_manager_with_a_task_manager(tag: &str) -> (std::path::PathBuf, Spawned<JobManager>, Spawned<TaskManager>) {
    let creds = credentials(tag);
    let jm = Spawned::start(listening::<JobManager>(&creds, "jm").max_frame_bytes(64 * 1024));
    let tm = Spawned::start(connecting::<TaskManager>(&creds, "honest", "jobmanager", jm.addr));
    (creds, jm, tm)
}

fn honest_task_manager_still_works(tm: &Spawned<TaskManager>) {
    assert_eq!(runtime().block_on(tm.here.remote(job_count).as_local()), Ok(42), "other connections must be untouched");
}

#[test]
fn a_malformed_frame_closes_only_its_connection() {
    let (creds, jm, tm) = job_manager_with_a_task_manager("malformed");
    let mut garbage = BytesMut::new();
    garbage.put_u32(5);
    garbage.put_slice(&[0xff, 0xff, 0xff, 0xff, 0xff]);
    let closed = runtime().block_on(send_after_hello(&creds, jm.addr, &garbage));
    assert!(close_reason(&closed).starts_with("malformed frame"), "{closed}");
    honest_task_manager_still_works(&tm);
}

#[test]
fn an_oversized_frame_closes_only_its_connection() {
    let (creds, jm, tm) = job_manager_with_a_task_manager("oversized");
    let mut huge = BytesMut::new();
    huge.put_u32(10 * 1024 * 1024);
    huge.put_slice(&[0; 1024]);
    let closed = runtime().block_on(send_after_hello(&creds, jm.addr, &huge));
    assert_eq!(close_reason(&closed), "oversized frame of 10485760 bytes (limit 65536 bytes)");
    honest_task_manager_still_works(&tm);
}

#[test]
fn a_call_of_an_unknown_item_and_a_reply_nobody_waits_for_are_handled() {
    let (creds, jm, tm) = job_manager_with_a_task_manager("unknown");
    let mut frames = BytesMut::new();
    encode_frame(&mut frames, &Header::Subscribe { item: 999 }, &[]).unwrap();
    let closed = runtime().block_on(send_after_hello(&creds, jm.addr, &frames));
    assert!(close_reason(&closed).contains("subscription to item 999"), "{closed}");

    let mut frames = BytesMut::new();
    encode_frame(&mut frames, &Header::Reply { id: 12345, status: loci::wire::ReplyStatus::Ok }, &[]).unwrap();
    let closed = runtime().block_on(send_after_hello(&creds, jm.addr, &frames));
    assert!(close_reason(&closed).contains("reply to call 12345"), "{closed}");
    honest_task_manager_still_works(&tm);
}

#[test]
fn a_peer_kind_without_a_tie_is_refused_by_the_remote() {
    let creds = credentials("not-tied");
    // A task manager that also listens, so that a raw client can reach it.
    let jm = Spawned::start(listening::<JobManager>(&creds, "jm"));
    let tm = Spawned::start(listening::<TaskManager>(&creds, "tm").connect("jobmanager", jm.addr));
    let monitor = SPEC.peer_index("Monitor").unwrap();
    let closed = runtime().block_on(async {
        let (_endpoint, connection) = raw_connection(&creds, tm.addr).await;
        let (mut send, _recv) = connection.open_bi().await.unwrap();
        send.write_all(&hello_frame(monitor)).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), connection.closed()).await.unwrap()
    });
    assert_eq!(
        close_reason(&closed),
        "`TaskManager` has no tie to `Monitor` (its ties: JobManager (Single)); add `Monitor = ...` to the ties of `TaskManager` to allow this connection"
    );
}

#[test]
fn a_hello_from_another_build_is_refused() {
    let (creds, jm, tm) = job_manager_with_a_task_manager("other-build");
    let closed = runtime().block_on(async {
        let (_endpoint, connection) = raw_connection(&creds, jm.addr).await;
        let (mut send, _recv) = connection.open_bi().await.unwrap();
        let mut hello = Hello::new(&SPEC, 1, 7, "old-build");
        hello.fingerprint[0] ^= 1;
        let mut frame = BytesMut::new();
        encode_frame(&mut frame, &Header::Hello(hello), &[]).unwrap();
        send.write_all(&frame).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), connection.closed()).await.unwrap()
    });
    assert!(close_reason(&closed).starts_with("mismatched build: module `cluster`"), "{closed}");
    honest_task_manager_still_works(&tm);
}

/// This process's resident memory, in bytes.
fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    statm.split_whitespace().nth(1).unwrap().parse::<usize>().unwrap() * 4096
}

/// Sends the hello of TaskManager `instance`, then the length of a `len`-byte frame and `body`
/// of it, and stalls.
async fn stall_inside_a_frame(
    creds: &Path,
    addr: SocketAddr,
    instance: u64,
    len: usize,
    body: &'static [u8],
) -> quinn::Connection {
    let (endpoint, connection) = raw_connection(creds, addr).await;
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    send.write_all(&hello_frame_of(1, instance)).await.unwrap();
    let mut their_hello = [0u8; 4];
    recv.read_exact(&mut their_hello).await.unwrap();
    send.write_all(&(len as u32).to_be_bytes()).await.unwrap();
    tokio::spawn(async move {
        let _keep = (endpoint, recv);
        let _ = send.write_all(body).await;
        std::future::pending::<()>().await;
    });
    connection
}

#[test]
fn a_frame_that_never_completes_closes_its_connection_at_its_deadline() {
    let creds = credentials("stalled-frame");
    let jm = Spawned::start(listening::<JobManager>(&creds, "jm"));
    let tm = Spawned::start(connecting::<TaskManager>(&creds, "honest", "jobmanager", jm.addr));
    let started = std::time::Instant::now();
    let closed = runtime().block_on(async {
        let connection = stall_inside_a_frame(&creds, jm.addr, 1, 1 << 20, &[0; 100]).await;
        tokio::time::timeout(Duration::from_secs(10), connection.closed()).await.expect("the connection must be closed")
    });
    assert_eq!(close_reason(&closed), "a frame of 1048576 bytes did not arrive within 6 s");
    assert!(started.elapsed() >= Duration::from_secs(6), "closed before its deadline");
    honest_task_manager_still_works(&tm);
}

#[test]
fn thirty_members_holding_back_the_last_byte_of_16_mib_frames_cost_bounded_memory() {
    let creds = credentials("held-frames");
    let jm = Spawned::start(listening::<JobManager>(&creds, "jm"));
    let tm = Spawned::start(connecting::<TaskManager>(&creds, "honest", "jobmanager", jm.addr));
    const LEN: usize = 16 << 20;
    let body: &'static [u8] = Box::leak(vec![0u8; LEN - 1].into_boxed_slice());
    let before = resident_bytes();
    let attack = runtime();
    let connections: Vec<quinn::Connection> = attack.block_on(async {
        let mut connections = Vec::new();
        for instance in 0..30 {
            connections.push(stall_inside_a_frame(&creds, jm.addr, 1_000 + instance, LEN, body).await);
        }
        // Long enough for every stream to fill what the job manager lets it.
        tokio::time::sleep(Duration::from_secs(4)).await;
        connections
    });
    let grown = resident_bytes().saturating_sub(before);
    println!("30 partial 16 MiB frames: this process grew by {} MiB", grown >> 20);
    // Unlimited, the job manager alone would hold 30 × 16 MiB = 480 MiB; within its 64 MiB
    // budget for large frames, the rest is QUIC's windows on both sides of 30 connections.
    assert!(grown < 200 << 20, "grew by {} MiB", grown >> 20);
    honest_task_manager_still_works(&tm);
    drop(connections);
}
