//! Shared pieces of the cross-crate tests: a multitier module modelled on the Flink
//! TaskManagerGateway, and helpers that run instances on their own threads and runtimes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;

#[loci::multitier]
pub mod cluster {
    use loci::{Event, Here};
    use serde::{Deserialize, Serialize};

    /// Schedules tasks onto task managers.
    #[peer(ties(TaskManager = Multiple, Monitor = Optional))]
    pub struct JobManager;

    /// Runs tasks; belongs to exactly one job manager.
    #[peer(ties(JobManager = Single))]
    pub struct TaskManager;

    /// Watches the job manager, when one is around.
    #[peer(ties(JobManager = Optional))]
    pub struct Monitor;

    /// What a job manager sends to deploy a task.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Deployment {
        pub task: String,
        pub slots: u32,
    }

    /// Accepts a task and says who took it.
    #[on(TaskManager)]
    pub fn submit_task(ctx: &Here<TaskManager>, deployment: Deployment) -> String {
        format!("{} runs {} on {} slots", ctx.name(), deployment.task, deployment.slots)
    }

    /// Answers after a delay, to observe concurrency and disconnection.
    #[on(TaskManager)]
    pub async fn slow_echo(delay_ms: u64, text: String) -> String {
        tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
        text
    }

    /// Always panics.
    #[on(TaskManager)]
    pub fn crash(reason: String) -> u32 {
        panic!("task manager crashed: {reason}")
    }

    /// A result of any size, to exceed frame limits.
    #[on(TaskManager)]
    pub fn blob(size: usize) -> Vec<u8> {
        vec![7; size]
    }

    /// Status numbers a task manager reports.
    #[on(TaskManager)]
    pub fn status() -> Event<u64> {
        Event::new()
    }

    /// Free task slots of a task manager, as a signal.
    #[on(TaskManager)]
    pub fn free_slots() -> loci::Var<u32> {
        loci::Var::new(4)
    }

    /// The job manager's current job name, as a signal.
    #[on(JobManager)]
    pub fn current_job() -> loci::Var<String> {
        loci::Var::new("idle".to_owned())
    }

    /// The job manager's load, sampled: a slow reader may skip samples.
    #[lossy]
    #[on(JobManager)]
    pub fn load_samples() -> Event<(u64, String)> {
        Event::new()
    }

    /// Log lines of the job manager.
    #[on(JobManager)]
    pub fn log_lines() -> Event<String> {
        Event::new()
    }

    /// How many jobs the job manager runs.
    #[on(JobManager)]
    pub fn job_count() -> u32 {
        42
    }

    /// Answers `n`, and counts the calls it served ([`crate::ECHOES_SERVED`]): soak tests
    /// check that every call was served once.
    #[on(JobManager)]
    pub fn echo(n: u64) -> u64 {
        crate::ECHOES_SERVED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        n
    }

    /// Alerts a monitor raised.
    #[on(Monitor)]
    pub fn alerts() -> Vec<String> {
        vec!["disk full".to_owned()]
    }
}

/// How many calls of `cluster::echo` this process served.
pub static ECHOES_SERVED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A fresh cluster CA in a temporary directory. Instances get credentials of their own from
/// it with [`issued`] ([`listening`] and [`connecting`] do that).
pub fn credentials(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loci-tests-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    loci::credentials::ClusterCa::create(&dir).expect("a cluster CA");
    dir
}

/// The credentials of instance `name` of peer `P`, issued by the cluster CA in `ca` the first
/// time and the same afterwards: an instance started again under its name is the same
/// instance, with the same key.
pub fn issued<P: loci::Peer>(ca: &Path, name: &str) -> PathBuf {
    let dir = ca.join(format!("{}-{}", P::NAME, name.replace('/', "_")));
    if !dir.join(loci::credentials::INSTANCE_CERT_FILE).is_file() {
        let authority = loci::credentials::ClusterCa::open(ca).expect("the cluster CA");
        authority.issue(&[P::NAME], name, &dir).expect("instance credentials");
    }
    dir
}

/// An instance running on its own thread with its own single-threaded runtime.
pub struct Spawned<P: loci::Peer> {
    pub here: loci::Here<P>,
    pub addr: SocketAddr,
    /// The instance's runtime, to run more work next to it.
    pub runtime: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<Stop>>,
    thread: Option<thread::JoinHandle<()>>,
}

enum Stop {
    /// Close connections cleanly.
    Graceful,
    /// Stop the runtime at once: remotes hear nothing more, as if the process were killed.
    Crash,
    /// Like `Crash`, and release the socket, as the end of a killed process does.
    Kill,
}

impl<P: loci::Peer> Spawned<P> {
    /// Starts `builder` on a new thread; panics if it does not start.
    pub fn start(builder: loci::Builder<P>) -> Self {
        Self::try_start(builder).unwrap_or_else(|error| panic!("instance did not start: {error}"))
    }

    /// Starts `builder` on a new thread.
    pub fn try_start(builder: loci::Builder<P>) -> loci::Result<Self> {
        let (started_tx, started_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let thread = thread::Builder::new()
            .name(format!("loci-{}", P::NAME.to_lowercase()))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                let running = match runtime.block_on(builder.start()) {
                    Ok(running) => running,
                    Err(error) => {
                        let _ = started_tx.send(Err(error));
                        return;
                    }
                };
                let _ = started_tx.send(Ok((running.here().clone(), running.local_addr(), runtime.handle().clone())));
                let stop = runtime.block_on(stop_rx).unwrap_or(Stop::Graceful);
                match stop {
                    Stop::Graceful => runtime.block_on(running.shutdown()),
                    Stop::Crash => {
                        // Leak the endpoint so nothing closes the connections politely.
                        std::mem::forget(running);
                        runtime.shutdown_background();
                    }
                    Stop::Kill => {
                        // The drivers go first, so dropping the rest sends nothing.
                        runtime.shutdown_background();
                        drop(running);
                    }
                }
            })
            .expect("spawn an instance thread");
        let (here, addr, runtime) = started_rx.recv().expect("instance thread ended")?;
        Ok(Spawned { here, addr, runtime, stop: Some(stop_tx), thread: Some(thread) })
    }

    /// Stops the instance with a clean close of its connections.
    pub fn shutdown(mut self) {
        self.stop_with(Stop::Graceful);
    }

    /// Stops the instance as abruptly as a killed process: its remotes must time out.
    pub fn crash(mut self) {
        self.stop_with(Stop::Crash);
    }

    /// Stops the instance as abruptly as a killed process and frees its port, so that another
    /// instance can listen there.
    pub fn kill(mut self) {
        self.stop_with(Stop::Kill);
    }

    fn stop_with(&mut self, stop: Stop) {
        if let Some(sender) = self.stop.take() {
            let _ = sender.send(stop);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl<P: loci::Peer> Drop for Spawned<P> {
    fn drop(&mut self) {
        self.stop_with(Stop::Graceful);
    }
}

/// A builder for instance `name` of peer `P` with credentials of the cluster CA in `ca`,
/// listening on a free loopback port.
pub fn listening<P: loci::Peer>(ca: &Path, name: &str) -> loci::Builder<P> {
    loci::Instance::<P>::builder().credentials(issued::<P>(ca, name)).name(name).listen("127.0.0.1:0".parse().unwrap())
}

/// A builder for instance `name` of peer `P` with credentials of the cluster CA in `ca`,
/// that connects to `peer` at `addr`.
pub fn connecting<P: loci::Peer>(ca: &Path, name: &str, peer: &str, addr: SocketAddr) -> loci::Builder<P> {
    loci::Instance::<P>::builder().credentials(issued::<P>(ca, name)).name(name).connect(peer, addr)
}

/// Runs `future` (or a remote access that is awaited directly) to completion on a fresh
/// single-threaded runtime.
pub fn block_on<F: std::future::IntoFuture>(future: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a test runtime");
    runtime.block_on(future.into_future())
}

/// Polls `condition` until it holds; panics after 10 s.
pub fn wait_until(mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "condition not reached within 10 s");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// A QUIC client that speaks to loci instances without being one: for tests that send what
/// an instance would never send.
pub mod raw {
    use std::net::SocketAddr;
    use std::path::Path;
    use std::sync::Arc;

    use bytes::BytesMut;
    use loci::credentials::{CA_CERT_FILE, INSTANCE_CERT_FILE, INSTANCE_KEY_FILE};
    use loci::wire::{encode_frame, Header, Hello};
    use loci::Module;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    /// A client endpoint with the instance credentials in `dir`, configured as loci's own
    /// (mutual TLS 1.3, ALPN `loci/1`).
    pub fn client(dir: &Path) -> quinn::Endpoint {
        let chain: Vec<CertificateDer> =
            CertificateDer::pem_file_iter(dir.join(INSTANCE_CERT_FILE)).unwrap().map(Result::unwrap).collect();
        let key = PrivateKeyDer::from_pem_file(dir.join(INSTANCE_KEY_FILE)).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        for ca in CertificateDer::pem_file_iter(dir.join(CA_CERT_FILE)).unwrap() {
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
        let config =
            quinn::ClientConfig::new(Arc::new(quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap()));
        let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        endpoint.set_default_client_config(config);
        endpoint
    }

    /// A connection to `addr` with the instance credentials in `dir`, and its endpoint.
    pub async fn connect(
        dir: &Path,
        addr: SocketAddr,
    ) -> Result<(quinn::Endpoint, quinn::Connection), quinn::ConnectionError> {
        let endpoint = client(dir);
        let connection = endpoint.connect(addr, loci::credentials::CLUSTER_SERVER_NAME).unwrap().await?;
        Ok((endpoint, connection))
    }

    /// Credentials of the raw test client, issued by the cluster CA in `ca`: instance `raw`,
    /// of every peer kind of the `cluster` module, so that what is tested is what comes after TLS.
    pub fn credentials(ca: &Path) -> std::path::PathBuf {
        let dir = ca.join("raw-client");
        if !dir.join(INSTANCE_CERT_FILE).is_file() {
            let authority = loci::credentials::ClusterCa::open(ca).unwrap();
            authority.issue(&["JobManager", "TaskManager", "Monitor"], "raw", &dir).unwrap();
        }
        dir
    }

    /// An authenticated connection of the raw client to `addr`, and its endpoint.
    pub async fn raw_connection(ca: &Path, addr: SocketAddr) -> (quinn::Endpoint, quinn::Connection) {
        connect(&credentials(ca), addr).await.expect("the TLS handshake")
    }

    /// The hello of instance `instance` of peer `peer` of the `cluster` module, named `raw`.
    pub fn hello_frame_of(peer: u16, instance: u64) -> BytesMut {
        let spec = <crate::cluster::__LociModule as Module>::SPEC;
        let mut frame = BytesMut::new();
        encode_frame(&mut frame, &Header::Hello(Hello::new(&spec, peer, instance, "raw")), &[]).unwrap();
        frame
    }

    /// Sends the hello of TaskManager `instance`, then the length of a `len`-byte frame and
    /// `body` of it, and stalls.
    pub async fn stall_inside_a_frame(
        ca: &Path,
        addr: SocketAddr,
        instance: u64,
        len: usize,
        body: &'static [u8],
    ) -> quinn::Connection {
        let (endpoint, connection) = raw_connection(ca, addr).await;
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
}
