//! A hand-written client that speaks raw frames over an authenticated QUIC connection:
//! malformed input, oversized frames and forbidden peers close that one connection only.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use loci::wire::{encode_frame, Header, Hello};
use loci::Module;
use loci_tests::cluster::{__LociModule, job_count, JobManager, TaskManager};
use loci_tests::raw::{connect as connection_with, hello_frame_of, raw_connection, stall_inside_a_frame};
use loci_tests::{connecting, credentials, listening, Spawned};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

const SPEC: loci::spec::ModuleSpec = <__LociModule as Module>::SPEC;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn hello_frame(peer: u16) -> BytesMut {
    hello_frame_of(peer, 99)
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
        let mut hello = Hello::new(&SPEC, 1, 7, "raw/old-build");
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

#[test]
fn a_frame_that_never_completes_closes_its_connection_at_its_deadline() {
    let creds = credentials("stalled-frame");
    // A deadline of 1 s plus 1 s per MiB, instead of the default 5 s.
    let jm = Spawned::start(listening::<JobManager>(&creds, "jm").frame_deadline(Duration::from_secs(1)));
    let tm = Spawned::start(connecting::<TaskManager>(&creds, "honest", "jobmanager", jm.addr));
    let started = std::time::Instant::now();
    let closed = runtime().block_on(async {
        let connection = stall_inside_a_frame(&creds, jm.addr, 1, 1 << 20, &[0; 100]).await;
        tokio::time::timeout(Duration::from_secs(10), connection.closed()).await.expect("the connection must be closed")
    });
    assert_eq!(close_reason(&closed), "a frame of 1048576 bytes did not arrive within 2 s");
    assert!(started.elapsed() >= Duration::from_secs(2), "closed before its deadline");
    honest_task_manager_still_works(&tm);
}

#[test]
fn a_remote_cannot_open_a_second_stream() {
    let (creds, jm, tm) = job_manager_with_a_task_manager("streams");
    runtime().block_on(async {
        let (_endpoint, connection) = raw_connection(&creds, jm.addr).await;
        let (mut send, _recv) = connection.open_bi().await.unwrap();
        send.write_all(&hello_frame(1)).await.unwrap();
        // A second bidirectional stream, or any unidirectional one, finds no credit.
        let second = tokio::time::timeout(Duration::from_millis(500), connection.open_bi()).await;
        assert!(second.is_err(), "a second stream was opened");
        let uni = tokio::time::timeout(Duration::from_millis(500), connection.open_uni()).await;
        assert!(uni.is_err(), "a unidirectional stream was opened");
    });
    honest_task_manager_still_works(&tm);
}

#[test]
fn limits_out_of_range_are_configuration_errors() {
    let creds = credentials("limits-config");
    let error = Spawned::try_start(listening::<JobManager>(&creds, "jm").max_buffered_bytes_per_connection(1000))
        .err()
        .expect("a window smaller than the base window must be refused")
        .to_string();
    assert!(error.contains("--max-buffered-bytes-per-connection 1000 is out of range"), "{error}");
    let error = Spawned::try_start(listening::<JobManager>(&creds, "jm").partial_frame_budget_bytes(1000))
        .err()
        .expect("a budget smaller than two large frames must be refused")
        .to_string();
    assert!(error.contains("--partial-frame-budget-bytes 1000 is too small"), "{error}");
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
    // Unlimited, the job manager alone would hold 30 × 16 MiB = 480 MiB; within its 32 MiB
    // budget for large frames, the rest is QUIC's windows on both sides of 30 connections.
    // (`examples/chat/tests/limits.rs` measures a separate process, with a thousand.)
    assert!(grown < 200 << 20, "grew by {} MiB", grown >> 20);
    honest_task_manager_still_works(&tm);
    drop(connections);
}

/// Sends `hello` on a connection with the credentials in `dir`; the close reason.
fn refusal_of(dir: &Path, addr: SocketAddr, hello: Hello) -> String {
    runtime().block_on(async {
        let (_endpoint, connection) = connection_with(dir, addr).await.expect("the TLS handshake");
        let (mut send, _recv) = connection.open_bi().await.unwrap();
        let mut frame = BytesMut::new();
        encode_frame(&mut frame, &Header::Hello(hello), &[]).unwrap();
        send.write_all(&frame).await.unwrap();
        close_reason(&tokio::time::timeout(Duration::from_secs(5), connection.closed()).await.unwrap())
    })
}

#[test]
fn a_certificate_is_refused_for_a_peer_kind_or_a_name_it_does_not_grant() {
    let (ca, jm, tm) = job_manager_with_a_task_manager("grants");
    let dir = ca.join("tm-n1");
    loci::credentials::ClusterCa::open(&ca).unwrap().issue(&["TaskManager"], "n1", &dir).unwrap();
    let monitor = SPEC.peer_index("Monitor").unwrap();
    // A TaskManager's certificate claiming to be a Monitor (which the job manager is tied to).
    assert_eq!(
        refusal_of(&dir, jm.addr, Hello::new(&SPEC, monitor, 5, "n1")),
        "the remote claims to be a `Monitor`, but its certificate grants only `TaskManager` to instance `n1`; issue `n1` a certificate for `Monitor` with `loci credentials issue CA_DIR --peer Monitor --name n1`"
    );
    // The same certificate under another instance's name.
    let reason = refusal_of(&dir, jm.addr, Hello::new(&SPEC, 1, 6, "honest"));
    assert!(
        reason.starts_with("the remote calls itself `honest`, but its certificate was issued to instance `n1`"),
        "{reason}"
    );
    assert_eq!(jm.here.remotes::<TaskManager>().connected().len(), 1, "only the honest task manager");
    honest_task_manager_still_works(&tm);
}

#[test]
fn an_instance_does_not_start_with_a_certificate_for_another_peer_kind() {
    let ca = credentials("own-grant");
    let dir = loci_tests::issued::<TaskManager>(&ca, "tm");
    let error = Spawned::try_start(
        loci::Instance::<JobManager>::builder().credentials(&dir).listen("127.0.0.1:0".parse().unwrap()),
    )
    .err()
    .expect("a TaskManager certificate must not start a JobManager")
    .to_string();
    assert!(error.contains(r#"grants ["TaskManager"] to instance `tm`, not `JobManager`"#), "{error}");
    let error = Spawned::try_start(loci::Instance::<TaskManager>::builder().credentials(&dir).name("other"))
        .err()
        .expect("another name must not start")
        .to_string();
    assert!(error.contains("this instance is named `other`, but the certificate"), "{error}");
    // Without `--name`, the instance is named as its certificate names it.
    let jm = Spawned::start(listening::<JobManager>(&ca, "jm"));
    let tm = Spawned::start(loci::Instance::<TaskManager>::builder().credentials(&dir).connect("jobmanager", jm.addr));
    assert_eq!(tm.here.name(), "tm");
}

#[test]
fn a_denied_certificate_is_disconnected_on_reload_and_refused_at_the_tls_handshake() {
    let (ca, jm, tm) = job_manager_with_a_task_manager("deny");
    let honest = loci_tests::issued::<TaskManager>(&ca, "honest");
    let identity = {
        let pem = std::fs::read(honest.join(loci::credentials::INSTANCE_CERT_FILE)).unwrap();
        let der = CertificateDer::from_pem_slice(&pem).unwrap();
        loci::credentials::CertificateIdentity::of(&der)
    };
    // Another task manager stays: the deny list names certificates, not peer kinds.
    let other = Spawned::start(connecting::<TaskManager>(&ca, "other", "jobmanager", jm.addr));
    loci_tests::wait_until(|| jm.here.remotes::<TaskManager>().connected().len() == 2);
    let jm_dir = loci_tests::issued::<JobManager>(&ca, "jm");
    std::fs::write(jm_dir.join(loci::credentials::DENY_FILE), format!("# lost laptop\n{}\n", identity.serial)).unwrap();
    // The job manager notices the file within its poll and closes the honest one's connection.
    loci_tests::wait_until(|| {
        jm.here.remotes::<TaskManager>().connected().iter().all(|remote| remote.name() != "honest")
    });
    assert_eq!(jm.here.remotes::<TaskManager>().connected().len(), 1);
    // A new connection with that certificate fails the TLS handshake, as revoked. (In TLS 1.3
    // the client finishes its side before the server has checked its certificate, so the
    // refusal may come as the connection's close.)
    let error = runtime().block_on(async {
        match connection_with(&honest, jm.addr).await {
            Err(error) => error,
            Ok((_endpoint, connection)) => {
                tokio::time::timeout(Duration::from_secs(5), connection.closed()).await.expect("closed at once")
            }
        }
    });
    assert!(error.to_string().to_lowercase().contains("revoked"), "{error}");
    drop((tm, other));
}

#[test]
fn a_renewed_certificate_is_used_for_new_connections_without_a_restart() {
    let (ca, jm, tm) = job_manager_with_a_task_manager("renew");
    let jm_dir = loci_tests::issued::<JobManager>(&ca, "jm");
    let presented = |addr| {
        runtime().block_on(async {
            let (_endpoint, connection) = raw_connection(&ca, addr).await;
            let chain = connection.peer_identity().unwrap().downcast::<Vec<CertificateDer<'static>>>().unwrap();
            loci::credentials::CertificateIdentity::of(&chain[0])
        })
    };
    let before = presented(jm.addr);
    std::thread::sleep(Duration::from_millis(20));
    let renewed = loci::credentials::ClusterCa::open(&ca).unwrap().issue(&["JobManager"], "jm", &jm_dir).unwrap();
    assert_ne!(renewed.fingerprint, before.fingerprint);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while presented(jm.addr).fingerprint != renewed.fingerprint {
        assert!(std::time::Instant::now() < deadline, "the renewed certificate was not loaded within 5 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The connection that ran before keeps running.
    honest_task_manager_still_works(&tm);
}

#[test]
fn an_instance_id_is_not_taken_over_by_another_certificate() {
    let (ca, jm, tm) = job_manager_with_a_task_manager("instance-id");
    let honest = jm.here.remotes::<TaskManager>().connected()[0].instance();
    let dir = ca.join("tm-impostor");
    loci::credentials::ClusterCa::open(&ca).unwrap().issue(&["TaskManager"], "impostor", &dir).unwrap();
    let reason = refusal_of(&dir, jm.addr, Hello::new(&SPEC, 1, honest, "impostor"));
    assert!(reason.starts_with(&format!("instance id {honest} is connected already as TaskManager")), "{reason}");
    honest_task_manager_still_works(&tm);
}
