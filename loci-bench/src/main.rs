//! loci against raw quinn, tarpc, tonic and a UDP floor, side by side in one run.
//!
//! Every server-side peer runs on its own thread with its own single-threaded runtime; the
//! measuring side runs on the main thread's runtime. Raw and loci runs alternate within each
//! round (and swap order every round), so machine drift hits both alike.

mod hold;
mod peers;
mod raw;
mod stats;
mod with_loci;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::future::join_all;
use serde::{Deserialize, Serialize};

use loci_tests::{connecting, listening, Spawned};
use stats::Samples;
use with_loci::bench::{block_pair, hub_echo, hub_pair, level, lossy_ticks, spoke_echo, ticks, Hub, Spoke};

/// The request and response of a call: 16 bytes.
pub type Payload = [u8; 16];

/// One event: 24 to 34 bytes encoded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tick {
    pub seq: u64,
    pub sent_ns: u64,
    pub pad: [u8; 16],
}

/// One event in this many records its latency.
const LATENCY_SAMPLING: u64 = 16;

static EPOCH: OnceLock<Instant> = OnceLock::new();

fn now_ns() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

#[derive(Parser)]
#[command(about = "loci against hand-written quinn, tarpc, tonic and a UDP floor, in one run")]
struct Args {
    /// Small sizes and two rounds: finishes in well under a minute (for CI)
    #[arg(long)]
    quick: bool,
    /// Rounds of every measurement [default: 5, or 2 with --quick]
    #[arg(long)]
    rounds: Option<usize>,
    /// Where to write the results as JSON
    #[arg(long, default_value = "target/loci-bench.json")]
    json: PathBuf,
    /// Run only the measurements whose name contains this text (e.g. `events`, `from_all`)
    #[arg(long)]
    only: Option<String>,
    /// Run one side only, `raw` or `loci` (for profiling; no ratios)
    #[arg(long)]
    side: Option<String>,
    /// Internal: be the peer holding many connections, `raw` or `loci`, in a child process
    #[arg(long, hide = true, requires = "creds")]
    hold: Option<String>,
    /// Internal: the cluster credentials the holding peer uses
    #[arg(long, hide = true)]
    creds: Option<PathBuf>,
}

/// The scale measurement outside the table: one peer holding this many connections
/// (`--only holding` selects it alone; it always measures both sides, so `--side` skips it).
const HOLD_NAME: &str = "one peer holding 1000";
const HELD_CONNECTIONS: usize = 1000;

const NAMES: [&str; 15] = [
    "call p50, 1 in flight",
    "call, 64 in flight",
    "events",
    "from_all N=1",
    "from_all N=8",
    "from_all N=32",
    "events, lossy",
    "connect",
    "vs tarpc: call p50",
    "vs tarpc: 64 in flight",
    "vs UDP floor: call p50",
    "from_all N=256",
    "fan-out to 100",
    "vs tonic: call p50",
    "vs tonic: 64 in flight",
];

/// How many subscribers the fan-out row sends each event to.
const FAN_OUT: u64 = 100;

/// Which of `Sizes::gathers` a from_all row measures.
fn gather_of(index: usize) -> usize {
    if index == 11 {
        3
    } else {
        index - 3
    }
}

#[derive(Debug, Clone, Copy)]
enum Side {
    Raw,
    Loci,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Raw => "raw",
            Side::Loci => "loci",
        }
    }
}

/// Everything the measurements run against, set up once.
struct Setup<'a> {
    sizes: &'a Sizes,
    payload: Payload,
    creds: &'a std::path::Path,
    raw_conn: &'a quinn::Connection,
    raw_gather: &'a [quinn::Connection],
    raw_echo_addr: SocketAddr,
    raw_ticks: &'a tokio::sync::mpsc::Sender<Tick>,
    raw_ticks_runtime: &'a tokio::runtime::Handle,
    raw_receipts: &'a Arc<Receipts>,
    hub: &'a Spawned<Hub>,
    spoke: &'a loci::Running<Spoke>,
    gather_hubs: &'a [loci::Running<Hub>],
    loci_receipts: &'a Arc<Receipts>,
    loci_lossy_receipts: &'a Arc<Receipts>,
    tarpc: &'a peers::EchoClient,
    udp: &'a tokio::net::UdpSocket,
    grpc: &'a peers::grpc::EchoClient,
    fan_out: FanOut<'a>,
}

/// The fan-out row's peers: a loci hub with `FAN_OUT` subscribed spokes, and raw streams to
/// `FAN_OUT` receivers; each side counts what its receivers got.
struct FanOut<'a> {
    hub: &'a loci::Running<Hub>,
    loci_received: &'a Arc<AtomicU64>,
    raw_streams: &'a tokio::sync::Mutex<Vec<quinn::SendStream>>,
    raw_received: &'a Arc<AtomicU64>,
}

impl FanOut<'_> {
    /// Sends `n` events one after another, each to every receiver, and times each until the
    /// last receiver has it.
    async fn run(&self, side: Side, n: usize) -> (Vec<Duration>, Duration) {
        let received = match side {
            Side::Loci => self.loci_received,
            Side::Raw => self.raw_received,
        };
        let base = received.load(Ordering::Acquire);
        let mut encoded = [0u8; 64];
        sequential(n, || {
            let seq = (received.load(Ordering::Acquire) - base) / FAN_OUT;
            let tick = Tick { seq, sent_ns: now_ns(), pad: [7; 16] };
            let target = base + (seq + 1) * FAN_OUT;
            let frame = {
                let bytes = postcard::to_slice(&tick, &mut encoded).unwrap();
                let mut frame = (bytes.len() as u32).to_be_bytes().to_vec();
                frame.extend_from_slice(bytes);
                frame
            };
            async move {
                match side {
                    Side::Loci => self.hub.here().local(ticks).send(tick).await,
                    Side::Raw => {
                        let mut streams = self.raw_streams.lock().await;
                        join_all(streams.iter_mut().map(|stream| stream.write_all(&frame))).await;
                    }
                }
                while received.load(Ordering::Acquire) < target {
                    tokio::task::yield_now().await;
                }
            }
        })
        .await
    }
}

impl Setup<'_> {
    /// One round of measurement `index` on one side: latencies, operations, wall time.
    async fn run(&self, index: usize, side: Side) -> (Vec<Duration>, usize, Duration) {
        let payload = self.payload;
        let sizes = self.sizes;
        match (index, side) {
            (0, Side::Raw) => with_count(
                sizes.calls_sequential,
                sequential(sizes.calls_sequential, || async {
                    assert_eq!(raw::call(self.raw_conn, &payload).await, payload);
                })
                .await,
            ),
            (0 | 8 | 10 | 13, Side::Loci) => with_count(
                sizes.calls_sequential,
                sequential(sizes.calls_sequential, || async {
                    assert_eq!(self.spoke.here().remote(hub_echo).call(payload).await.unwrap(), payload);
                })
                .await,
            ),
            (1, Side::Raw) => with_count(
                sizes.calls_concurrent,
                concurrent(sizes.calls_concurrent, || async {
                    assert_eq!(raw::call(self.raw_conn, &payload).await, payload);
                })
                .await,
            ),
            (1 | 9 | 14, Side::Loci) => with_count(
                sizes.calls_concurrent,
                concurrent(sizes.calls_concurrent, || async {
                    assert_eq!(self.spoke.here().remote(hub_echo).call(payload).await.unwrap(), payload);
                })
                .await,
            ),
            // Lossless: the sender waits whenever the receiver is behind, and nothing is lost.
            (2, Side::Raw) => {
                let queue = self.raw_ticks.clone();
                let send = move |tick| {
                    let queue = queue.clone();
                    async move { queue.send(tick).await.expect("the raw writer runs") }
                };
                with_count(
                    sizes.events as usize,
                    events(self.raw_ticks_runtime, self.raw_receipts, sizes.events, send).await,
                )
            }
            (2, Side::Loci) => {
                let ticks = self.hub.here.local(ticks);
                let send = move |tick| ticks.send(tick);
                with_count(
                    sizes.events as usize,
                    events(&self.hub.runtime, self.loci_receipts, sizes.events, send).await,
                )
            }
            // Lossy: the sender never waits; what finds no room is dropped and counted as missed.
            (6, Side::Raw) => {
                let queue = self.raw_ticks.clone();
                let offer = move |tick| {
                    let _ = queue.try_send(tick);
                };
                lossy_events(self.raw_ticks_runtime, self.raw_receipts, sizes.events, offer, &LOSSY_RAW).await
            }
            (6, Side::Loci) => {
                let ticks = self.hub.here.local(lossy_ticks);
                let offer = move |tick| ticks.fire(tick);
                lossy_events(&self.hub.runtime, self.loci_lossy_receipts, sizes.events, offer, &LOSSY_LOCI).await
            }
            (12, side) => with_count(sizes.fan_outs, self.fan_out.run(side, sizes.fan_outs).await),
            (3..=5 | 11, side) => {
                let (n, gathers) = sizes.gathers[gather_of(index)];
                let outcome = match side {
                    Side::Raw => {
                        sequential(gathers, || async {
                            let answers = join_all(self.raw_gather[..n].iter().map(|c| raw::call(c, &payload))).await;
                            assert!(answers.len() == n && answers.iter().all(|a| a == &payload));
                        })
                        .await
                    }
                    Side::Loci => {
                        sequential(gathers, || async {
                            let hub = self.gather_hubs[gather_of(index)].here();
                            let answers = hub.remote(spoke_echo).from_all().call(payload).await;
                            assert!(answers.len() == n && answers.iter().all(|(_, a)| a.as_ref() == Ok(&payload)));
                        })
                        .await
                    }
                };
                with_count(gathers, outcome)
            }
            // The peers a user would pick instead, and the floor: the same 16-byte echo.
            (8, Side::Raw) => with_count(
                sizes.calls_sequential,
                sequential(sizes.calls_sequential, || async {
                    assert_eq!(peers::tarpc_call(self.tarpc, &payload).await, payload);
                })
                .await,
            ),
            (9, Side::Raw) => with_count(
                sizes.calls_concurrent,
                concurrent(sizes.calls_concurrent, || async {
                    assert_eq!(peers::tarpc_call(self.tarpc, &payload).await, payload);
                })
                .await,
            ),
            (13, Side::Raw) => with_count(
                sizes.calls_sequential,
                sequential(sizes.calls_sequential, || async {
                    assert_eq!(self.grpc.call(&payload).await, payload);
                })
                .await,
            ),
            (14, Side::Raw) => with_count(
                sizes.calls_concurrent,
                concurrent(sizes.calls_concurrent, || async {
                    assert_eq!(self.grpc.call(&payload).await, payload);
                })
                .await,
            ),
            (10, Side::Raw) => with_count(
                sizes.calls_sequential,
                sequential(sizes.calls_sequential, || async {
                    assert_eq!(peers::udp_ping(self.udp, &payload).await, payload);
                })
                .await,
            ),
            (_, side) => {
                let mut latencies = Vec::new();
                let started = Instant::now();
                for _ in 0..sizes.connects {
                    let at = Instant::now();
                    match side {
                        Side::Loci => {
                            // One instance's credentials, issued once (not inside the timing):
                            // the same instance connecting again and again.
                            let running = connecting::<Spoke>(self.creds, "connector", "hub", self.hub.addr)
                                .start()
                                .await
                                .unwrap();
                            latencies.push(at.elapsed());
                            running.shutdown().await;
                        }
                        Side::Raw => {
                            // A hand-written client loads its credentials too.
                            let (_, config) = raw::configs(&loci_tests::issued::<Spoke>(self.creds, "raw-client"));
                            let endpoint = raw::client_endpoint(&config);
                            let connection = raw::connect(&endpoint, self.raw_echo_addr).await;
                            latencies.push(at.elapsed());
                            connection.close(0u32.into(), b"done");
                            let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
                        }
                    }
                }
                (latencies, sizes.connects, started.elapsed())
            }
        }
    }
}

fn with_count(operations: usize, (latencies, wall): (Vec<Duration>, Duration)) -> (Vec<Duration>, usize, Duration) {
    (latencies, operations, wall)
}

struct Sizes {
    calls_sequential: usize,
    calls_concurrent: usize,
    events: u64,
    gathers: [(usize, usize); 4],
    fan_outs: usize,
    connects: usize,
}

const IN_FLIGHT: usize = 64;

#[derive(Default)]
struct Measurement {
    raw: Samples,
    loci: Samples,
}

/// Runs `operation` `n` times one after another; latencies and wall time.
async fn sequential<F: Future<Output = ()>>(n: usize, mut operation: impl FnMut() -> F) -> (Vec<Duration>, Duration) {
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(n);
    for _ in 0..n {
        let at = Instant::now();
        operation().await;
        latencies.push(at.elapsed());
    }
    (latencies, started.elapsed())
}

/// Runs `operation` `n` times, `IN_FLIGHT` at once.
async fn concurrent<F: Future<Output = ()>>(n: usize, operation: impl Fn() -> F) -> (Vec<Duration>, Duration) {
    let started = Instant::now();
    let per_lane = n / IN_FLIGHT;
    let lanes = join_all((0..IN_FLIGHT).map(|_| async {
        let mut latencies = Vec::with_capacity(per_lane);
        for _ in 0..per_lane {
            let at = Instant::now();
            operation().await;
            latencies.push(at.elapsed());
        }
        latencies
    }))
    .await;
    (lanes.into_iter().flatten().collect(), started.elapsed())
}

/// Received events: a count, the occurrences missed (gaps in the numbering) and sampled
/// latencies.
#[derive(Default)]
struct Receipts {
    count: AtomicU64,
    /// The number the next tick should have.
    next: AtomicU64,
    missed: AtomicU64,
    latencies: Mutex<Vec<Duration>>,
}

impl Receipts {
    fn record(&self, tick: &Tick) {
        let next = self.next.load(Ordering::Acquire);
        if tick.seq < next {
            // A repeat of the last tick of a lossy round, sent until it arrives.
            return;
        }
        if tick.seq.is_multiple_of(LATENCY_SAMPLING) {
            self.latencies.lock().unwrap().push(Duration::from_nanos(now_ns().saturating_sub(tick.sent_ns)));
        }
        self.missed.fetch_add(tick.seq - next, Ordering::Relaxed);
        self.next.store(tick.seq + 1, Ordering::Release);
        self.count.fetch_add(1, Ordering::Release);
    }

    fn reset(&self) -> Vec<Duration> {
        self.count.store(0, Ordering::Release);
        self.next.store(0, Ordering::Release);
        self.missed.store(0, Ordering::Release);
        std::mem::take(&mut *self.latencies.lock().unwrap())
    }
}

/// Sends `n` ticks with `send` on the sender's runtime as fast as `send` lets it (it waits
/// while the receiver is behind), and waits until all arrived; latencies and wall time.
async fn events<F: Future<Output = ()> + Send>(
    sender: &tokio::runtime::Handle,
    receipts: &Arc<Receipts>,
    n: u64,
    send: impl Fn(Tick) -> F + Send + 'static,
) -> (Vec<Duration>, Duration) {
    receipts.reset();
    let started = Instant::now();
    sender.spawn(async move {
        for seq in 0..n {
            send(Tick { seq, sent_ns: now_ns(), pad: [7; 16] }).await;
        }
    });
    while receipts.count.load(Ordering::Acquire) < n {
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    assert_eq!(receipts.missed.load(Ordering::Relaxed), 0, "lossless delivery lost ticks");
    let wall = started.elapsed();
    (receipts.reset(), wall)
}

/// Offers `n` ticks with `offer` on the sender's runtime without ever waiting, then offers the
/// last one again until it arrived; latencies, ticks delivered and wall time. What was
/// offered and missed goes to `tally`.
async fn lossy_events(
    sender: &tokio::runtime::Handle,
    receipts: &Arc<Receipts>,
    n: u64,
    offer: impl Fn(Tick) + Send + 'static,
    tally: &LossyTally,
) -> (Vec<Duration>, usize, Duration) {
    receipts.reset();
    let started = Instant::now();
    let arrived = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done = Arc::clone(&arrived);
    let sending = sender.spawn(async move {
        for seq in 0..n {
            offer(Tick { seq, sent_ns: now_ns(), pad: [7; 16] });
            if seq % 1024 == 1023 {
                // Let the writer run now and then, as a sender in a real program would.
                tokio::task::yield_now().await;
            }
        }
        while !done.load(Ordering::Acquire) {
            offer(Tick { seq: n - 1, sent_ns: now_ns(), pad: [7; 16] });
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    while receipts.next.load(Ordering::Acquire) < n {
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let wall = started.elapsed();
    arrived.store(true, Ordering::Release);
    let _ = sending.await;
    // A repeat of the last tick may still be on its way: let it arrive before the next round.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let missed = receipts.missed.load(Ordering::Relaxed);
    tally.offered.fetch_add(n, Ordering::Relaxed);
    tally.missed.fetch_add(missed, Ordering::Relaxed);
    (receipts.reset(), (n - missed) as usize, wall)
}

/// Ticks offered and missed over every lossy round, on one side.
struct LossyTally {
    offered: AtomicU64,
    missed: AtomicU64,
}

impl LossyTally {
    const fn new() -> Self {
        LossyTally { offered: AtomicU64::new(0), missed: AtomicU64::new(0) }
    }

    /// The fraction of the offered ticks that was missed.
    fn missed_fraction(&self) -> f64 {
        self.missed.load(Ordering::Relaxed) as f64 / self.offered.load(Ordering::Relaxed).max(1) as f64
    }
}

static LOSSY_RAW: LossyTally = LossyTally::new();
static LOSSY_LOCI: LossyTally = LossyTally::new();

/// A thread with its own single-threaded runtime that runs what `start` spawns until the
/// process ends; returns the address `start` gave.
fn serve_on_thread<F: Future<Output = SocketAddr> + 'static>(
    name: &str,
    start: impl FnOnce() -> F + Send + 'static,
) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let addr = runtime.block_on(start());
            tx.send(addr).unwrap();
            runtime.block_on(std::future::pending::<()>());
        })
        .expect("spawn a server thread");
    rx.recv().unwrap()
}

/// A thread with its own runtime running `serve` on a server endpoint; returns its address
/// and runtime.
fn raw_server<F: Future<Output = ()> + 'static>(
    config: quinn::ServerConfig,
    serve: impl FnOnce(quinn::Endpoint) -> F + Send + 'static,
) -> (SocketAddr, tokio::runtime::Handle) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("raw-server".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let endpoint =
                runtime.block_on(async { quinn::Endpoint::server(config, "127.0.0.1:0".parse().unwrap()).unwrap() });
            tx.send((endpoint.local_addr().unwrap(), runtime.handle().clone())).unwrap();
            runtime.block_on(serve(endpoint));
        })
        .expect("spawn a server thread");
    rx.recv().unwrap()
}

fn main() {
    let args = Args::parse();
    if let (Some(side), Some(creds)) = (&args.hold, &args.creds) {
        hold::serve(side, creds);
    }
    let sizes = if args.quick {
        Sizes {
            calls_sequential: 500,
            calls_concurrent: 6_400,
            events: 100_000,
            gathers: [(1, 300), (8, 200), (32, 100), (256, 30)],
            fan_outs: 200,
            connects: 10,
        }
    } else {
        Sizes {
            calls_sequential: 3_000,
            calls_concurrent: 64_000,
            events: 1_000_000,
            gathers: [(1, 2_000), (8, 1_000), (32, 400), (256, 100)],
            fan_outs: 2_000,
            connects: 40,
        }
    };
    let rounds = args.rounds.unwrap_or(if args.quick { 2 } else { 5 });
    let _ = EPOCH.set(Instant::now());
    let setting_up = Instant::now();
    let creds = loci_tests::credentials("bench");
    let (server_config, client_config) = raw::configs(&loci_tests::issued::<Hub>(&creds, "raw"));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let payload: Payload = *b"sixteen byte msg";

    // Raw servers: 32 echo servers, one tick sender.
    let raw_echo: Vec<SocketAddr> = (0..32).map(|_| raw_server(server_config.clone(), raw::serve_echo).0).collect();
    let (tick_queue_tx, tick_queue_rx) = std::sync::mpsc::channel::<tokio::sync::mpsc::Sender<Tick>>();
    let (raw_ticks_addr, raw_ticks_runtime) = raw_server(server_config.clone(), move |endpoint| async move {
        if let Some(incoming) = endpoint.accept().await {
            let connection = incoming.await.unwrap();
            let (tx, rx) = tokio::sync::mpsc::channel(4096);
            tick_queue_tx.send(tx).unwrap();
            raw::drain_ticks(connection, rx).await;
        }
    });

    // tarpc, tonic and the UDP floor serve on their own threads and runtimes, like every other
    // server.
    let tarpc_addr = serve_on_thread("tarpc-server", peers::serve_tarpc);
    let grpc_addr = serve_on_thread("grpc-server", peers::grpc::serve);
    let udp_addr = serve_on_thread("udp-server", peers::serve_udp);
    let (tarpc, grpc, udp) = runtime.block_on(async {
        (
            peers::tarpc_client(tarpc_addr).await,
            peers::grpc::EchoClient::connect(grpc_addr).await,
            peers::udp_client(udp_addr).await,
        )
    });

    // loci servers: one hub for calls, events and connects; hubs with 1, 8, 32 and 256 spokes
    // for aggregation.
    let hub = Spawned::start(listening::<Hub>(&creds, "hub"));
    let _ = loci_tests::issued::<Spoke>(&creds, "connector");

    // Receivers of the raw fan-out: 32 servers that count the ticks on every stream.
    let loci_fanned = Arc::new(AtomicU64::new(0));
    let raw_fanned = Arc::new(AtomicU64::new(0));
    let raw_receivers: Vec<SocketAddr> = (0..32)
        .map(|_| {
            let counter = Arc::clone(&raw_fanned);
            raw_server(server_config.clone(), move |endpoint| async move {
                while let Some(incoming) = endpoint.accept().await {
                    let counter = Arc::clone(&counter);
                    tokio::spawn(async move {
                        let Ok(connection) = incoming.await else { return };
                        raw::receive_ticks(connection, move |_| {
                            counter.fetch_add(1, Ordering::AcqRel);
                        })
                        .await;
                    });
                }
            })
            .0
        })
        .collect();
    let mut raw_fan_out_connections = Vec::new();
    let (raw_client, raw_conn, raw_gather, raw_tick_conn, spoke, gather_hubs, _spokes, fan_out_hub, raw_fan_out) =
        runtime.block_on(async {
            let endpoint = raw::client_endpoint(&client_config);
            let raw_conn = raw::connect(&endpoint, raw_echo[0]).await;
            // As many connections as the largest gather, spread over the 32 servers as the loci
            // side's spokes are spread over 32 threads.
            let widest = sizes.gathers.iter().map(|(n, _)| *n).max().unwrap_or(1);
            // One at a time: hundreds of handshakes at once would outlast the 2 s idle timeout.
            let mut raw_gather = Vec::with_capacity(widest);
            for i in 0..widest {
                raw_gather.push(raw::connect(&endpoint, raw_echo[i % raw_echo.len()]).await);
            }
            let raw_tick_conn = raw::connect(&endpoint, raw_ticks_addr).await;
            let spoke = connecting::<Spoke>(&creds, "spoke", "hub", hub.addr).start().await.unwrap();
            let mut gather_hubs = Vec::new();
            // Spoke i of every gather runs on host thread i % 32, each thread with one runtime,
            // as the raw side's connection i goes to server i % 32.
            let mut hosted: Vec<Vec<_>> = (0..raw_echo.len()).map(|_| Vec::new()).collect();
            for (n, _) in sizes.gathers {
                let gather_hub = listening::<Hub>(&creds, &format!("hub-{n}")).start().await.unwrap();
                for i in 0..n {
                    let builder =
                        connecting::<Spoke>(&creds, &format!("spoke-{n}-{i}"), "hub", gather_hub.local_addr());
                    hosted[i % raw_echo.len()].push((builder, None));
                }
                gather_hubs.push(gather_hub);
            }
            // The fan-out hub's subscribers, spread the same way.
            let fan_out_hub = listening::<Hub>(&creds, "hub-fan-out").start().await.unwrap();
            for i in 0..FAN_OUT as usize {
                let builder = connecting::<Spoke>(&creds, &format!("subscriber-{i}"), "hub", fan_out_hub.local_addr());
                hosted[i % raw_echo.len()].push((builder, Some(Arc::clone(&loci_fanned))));
            }
            let spokes: Vec<std::thread::JoinHandle<()>> = hosted.into_iter().map(host_spokes).collect();
            for (hub, (n, _)) in gather_hubs.iter().zip(sizes.gathers) {
                while hub.here().remotes::<Spoke>().connected().len() < n {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            while fan_out_hub.here().local(ticks).observer_count() < FAN_OUT as usize {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            // The raw side: a stream to each of `FAN_OUT` receivers on 32 threads.
            let mut raw_fan_out = Vec::new();
            for i in 0..FAN_OUT as usize {
                let connection = raw::connect(&endpoint, raw_receivers[i % raw_receivers.len()]).await;
                raw_fan_out.push(connection.open_uni().await.unwrap());
                raw_fan_out_connections.push(connection);
            }
            (endpoint, raw_conn, raw_gather, raw_tick_conn, spoke, gather_hubs, spokes, fan_out_hub, raw_fan_out)
        });
    let raw_fan_out = tokio::sync::Mutex::new(raw_fan_out);

    let raw_receipts = Arc::new(Receipts::default());
    let loci_receipts = Arc::new(Receipts::default());
    let loci_lossy_receipts = Arc::new(Receipts::default());
    let sink = Arc::clone(&raw_receipts);
    runtime.spawn(raw::receive_ticks(raw_tick_conn, move |tick| sink.record(&tick)));
    let raw_ticks = tick_queue_rx.recv().unwrap();
    let sink = Arc::clone(&loci_receipts);
    let _ = spoke.here().remote(ticks).as_local().observe(move |tick| sink.record(tick));
    let sink = Arc::clone(&loci_lossy_receipts);
    let _ = spoke.here().remote(lossy_ticks).as_local().observe(move |tick| sink.record(tick));
    // The subscription is written by the spoke's connection task, which runs on this runtime.
    runtime.block_on(async {
        while hub.here.local(ticks).observer_count() == 0 || hub.here.local(lossy_ticks).observer_count() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });

    let setup = Setup {
        sizes: &sizes,
        payload,
        creds: &creds,
        raw_conn: &raw_conn,
        raw_gather: &raw_gather,
        raw_echo_addr: raw_echo[0],
        raw_ticks: &raw_ticks,
        raw_ticks_runtime: &raw_ticks_runtime,
        raw_receipts: &raw_receipts,
        hub: &hub,
        spoke: &spoke,
        gather_hubs: &gather_hubs,
        loci_receipts: &loci_receipts,
        loci_lossy_receipts: &loci_lossy_receipts,
        tarpc: &tarpc,
        udp: &udp,
        grpc: &grpc,
        fan_out: FanOut {
            hub: &fan_out_hub,
            loci_received: &loci_fanned,
            raw_streams: &raw_fan_out,
            raw_received: &raw_fanned,
        },
    };
    let selected: Vec<usize> =
        (0..NAMES.len()).filter(|i| args.only.as_deref().is_none_or(|only| NAMES[*i].contains(only))).collect();
    let mut results: Vec<Measurement> = NAMES.iter().map(|_| Measurement::default()).collect();
    eprintln!("set up in {:.1} s", setting_up.elapsed().as_secs_f64());
    let started = Instant::now();
    for round in 0..rounds {
        // Alternate which side goes first, so neither always runs on a warmer or cooler machine.
        let order = if round % 2 == 0 { [Side::Raw, Side::Loci] } else { [Side::Loci, Side::Raw] };
        for &index in &selected {
            for side in order {
                if args.side.as_deref().is_some_and(|only| only != side.name()) {
                    continue;
                }
                let (latencies, operations, wall) = runtime.block_on(setup.run(index, side));
                let samples = match side {
                    Side::Raw => &mut results[index].raw,
                    Side::Loci => &mut results[index].loci,
                };
                samples.add_round(latencies, operations, wall);
            }
        }
        eprintln!("round {}/{rounds} done ({:.1} s)", round + 1, started.elapsed().as_secs_f64());
    }
    let held = if args.side.is_none() && args.only.as_deref().is_none_or(|only| HOLD_NAME.contains(only)) {
        let holds = if args.quick { 1 } else { 3 };
        let mut held: Vec<(hold::Held, hold::Held)> = Vec::new();
        for round in 0..holds {
            // Alternate which side goes first here too.
            let (first, second) = if round % 2 == 0 { (Side::Raw, Side::Loci) } else { (Side::Loci, Side::Raw) };
            let a = runtime.block_on(hold::measure(first, HELD_CONNECTIONS, &creds, &client_config));
            let b = runtime.block_on(hold::measure(second, HELD_CONNECTIONS, &creds, &client_config));
            held.push(if round % 2 == 0 { (a, b) } else { (b, a) });
        }
        eprintln!("{HOLD_NAME}: done ({:.1} s)", started.elapsed().as_secs_f64());
        Some(held)
    } else {
        None
    };
    drop(raw_client);

    let reactive =
        runtime.block_on(reactive_figures(&setup, if args.quick { 20_000 } else { 200_000 }, sizes.calls_sequential));
    let calls = runtime.block_on(call_figures(&setup, sizes.calls_concurrent));
    report(&selected, &results, rounds, &args.json, &reactive, &calls, held.as_deref());
    // Server threads run until the process exits.
    std::process::exit(0);
}

/// Runs the spokes `builders` on a thread of their own, on one single-threaded runtime, until
/// the process ends. A spoke given a counter subscribes to its hub's `ticks` and counts them.
fn host_spokes(builders: Vec<(loci::Builder<Spoke>, Option<Arc<AtomicU64>>)>) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("spoke-host".to_owned())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let mut running = Vec::new();
                for (builder, counter) in builders {
                    let spoke = builder.start().await.unwrap();
                    if let Some(counter) = counter {
                        let _ = spoke.here().remote(ticks).as_local().observe(move |_| {
                            counter.fetch_add(1, Ordering::AcqRel);
                        });
                    }
                    running.push(spoke);
                }
                std::future::pending::<()>().await;
            });
        })
        .expect("a spoke host thread")
}

/// Figures of the reactive layer, loci only: propagation inside an instance, and how fast a
/// remote signal's change reaches an observer compared with a remote call in the same run.
struct ReactiveFigures {
    chain_ns_per_propagation: f64,
    signal_p50: Duration,
    signal_p99: Duration,
    call_p50: Duration,
}

async fn reactive_figures(setup: &Setup<'_>, propagations: u64, samples: usize) -> ReactiveFigures {
    let source = loci::Var::new(0u64);
    let mut end = source.signal();
    for _ in 0..10 {
        end = end.map(|v| v + 1);
    }
    let sink = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&sink);
    let _ = end.observe(move |v| seen.store(*v, Ordering::Relaxed));
    let started = Instant::now();
    for n in 1..=propagations {
        source.set(n);
    }
    let chain_ns_per_propagation = started.elapsed().as_nanos() as f64 / propagations as f64;
    assert_eq!(sink.load(Ordering::Relaxed), propagations + 10);

    let followed = setup.spoke.here().remote(level).as_local().await.unwrap();
    let (changes_tx, mut changes) = tokio::sync::mpsc::unbounded_channel();
    let _ = followed.observe(move |v| {
        let _ = changes_tx.send(*v);
    });
    let hub_level = setup.hub.here.local(level);
    let mut signal = Samples::default();
    let mut latencies = Vec::with_capacity(samples);
    let base = hub_level.get();
    for n in 1..=samples as u64 {
        let at = Instant::now();
        hub_level.set(base + n);
        while changes.recv().await != Some(base + n) {}
        latencies.push(at.elapsed());
    }
    signal.add_round(latencies, samples, Duration::from_secs(1));
    let mut call = Samples::default();
    let (latencies, wall) = sequential(samples, || async {
        setup.spoke.here().remote(hub_echo).call(setup.payload).await.unwrap();
    })
    .await;
    call.add_round(latencies, samples, wall);
    ReactiveFigures {
        chain_ns_per_propagation,
        signal_p50: signal.quantile(0.5),
        signal_p99: signal.quantile(0.99),
        call_p50: call.quantile(0.5),
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2} M/s", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1} k/s", r / 1e3)
    } else {
        format!("{r:.0} /s")
    }
}

/// What a measurement is judged by, and the target ratio.
fn target(name: &str, m: &Measurement) -> Option<(String, f64, bool)> {
    let p50 = micros(m.loci.quantile(0.5)) / micros(m.raw.quantile(0.5));
    let throughput = m.loci.rate() / m.raw.rate();
    match name {
        "call p50, 1 in flight" => Some(("p50 ≤ 1.10×".into(), p50, p50 <= 1.10)),
        "call, 64 in flight" => Some(("rate ≥ 1.0×".into(), throughput, throughput >= 1.0)),
        "events" => Some(("rate ≥ 1.0×".into(), throughput, throughput >= 1.0)),
        "events, lossy" => Some(("delivered (informative)".into(), throughput, true)),
        "from_all N=32" | "from_all N=256" => Some(("p50 ≤ 1.2×".into(), p50, p50 <= 1.2)),
        "connect" => Some(("p50 ≤ 1.3×".into(), p50, p50 <= 1.3)),
        "vs tarpc: 64 in flight" => Some(("rate ≥ 1.5×".into(), throughput, throughput >= 1.5)),
        "vs tonic: 64 in flight" => Some(("rate ≥ 2×".into(), throughput, throughput >= 2.0)),
        "vs UDP floor: call p50" => Some(("p50 ≤ 1.15×".into(), p50, p50 <= 1.15)),
        _ => None,
    }
}

/// Figures of the call forms, loci only: one-way calls against calls, a placed function
/// called on its own peer, and a remote block with two captures against a call with the same
/// two arguments.
struct CallFigures {
    tell_rate: f64,
    call_rate_64: f64,
    local_call_ns: f64,
    pair_call: Samples,
    pair_block: Samples,
    pair_call_64: Samples,
    pair_block_64: Samples,
}

async fn call_figures(setup: &Setup<'_>, n: usize) -> CallFigures {
    let spoke = setup.spoke.here();
    let payload = setup.payload;
    // One-way calls need no reply; the call after them is answered once they were all served
    // (frames of a connection are served in order), so the time covers their delivery.
    let started = Instant::now();
    for _ in 0..n {
        spoke.remote(hub_echo).tell(payload).await.unwrap();
    }
    assert_eq!(spoke.remote(hub_echo).call(payload).await.unwrap(), payload);
    let tell_rate = n as f64 / started.elapsed().as_secs_f64();
    let (_, wall) = concurrent(n, || async {
        assert_eq!(spoke.remote(hub_echo).call(payload).await.unwrap(), payload);
    })
    .await;
    let call_rate_64 = n as f64 / wall.as_secs_f64();
    let hub = &setup.hub.here;
    let started = Instant::now();
    for _ in 0..n {
        assert_eq!(hub.local(hub_echo).call(payload).await, payload);
    }
    let local_call_ns = started.elapsed().as_nanos() as f64 / n as f64;

    // Calls and blocks alternate, round by round, the order swapped each round.
    let (mut pair_call, mut pair_block) = (Samples::default(), Samples::default());
    let (mut pair_call_64, mut pair_block_64) = (Samples::default(), Samples::default());
    let sequential_n = (n / 4).max(64);
    for round in 0..4 {
        for block_first in [round % 2 == 0, round % 2 != 0] {
            if block_first {
                let (latencies, wall) = sequential(sequential_n, || async {
                    assert_eq!(block_pair(spoke, 40, 2).await.unwrap(), 42);
                })
                .await;
                pair_block.add_round(latencies, sequential_n, wall);
                let (latencies, wall) = concurrent(n, || async {
                    assert_eq!(block_pair(spoke, 40, 2).await.unwrap(), 42);
                })
                .await;
                pair_block_64.add_round(latencies, n, wall);
            } else {
                let (latencies, wall) = sequential(sequential_n, || async {
                    assert_eq!(spoke.remote(hub_pair).call((40, 2)).await.unwrap(), 42);
                })
                .await;
                pair_call.add_round(latencies, sequential_n, wall);
                let (latencies, wall) = concurrent(n, || async {
                    assert_eq!(spoke.remote(hub_pair).call((40, 2)).await.unwrap(), 42);
                })
                .await;
                pair_call_64.add_round(latencies, n, wall);
            }
        }
    }
    CallFigures { tell_rate, call_rate_64, local_call_ns, pair_call, pair_block, pair_call_64, pair_block_64 }
}

fn report(
    selected: &[usize],
    results: &[Measurement],
    rounds: usize,
    json: &std::path::Path,
    reactive: &ReactiveFigures,
    calls: &CallFigures,
    held: Option<&[(hold::Held, hold::Held)]>,
) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let date = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    println!("loci-bench: {rounds} rounds, {date}, {cores} cores, {cpu}");
    println!(
        "{:<22} {:>10} {:>10} {:>11}   {:>10} {:>10} {:>11}   {:>22} {:>7}",
        "measurement", "base p50", "base p99", "base rate", "loci p50", "loci p99", "loci rate", "target", "ratio"
    );
    let mut rows = Vec::new();
    for (name, m) in selected.iter().map(|&i| (NAMES[i], &results[i])) {
        let judged = target(name, m);
        let (goal, ratio, met) = match &judged {
            Some((goal, ratio, met)) => (goal.clone(), format!("{ratio:.2}×{}", if *met { "" } else { " ✗" }), *met),
            None => {
                ("—".to_owned(), format!("{:.2}×", micros(m.loci.quantile(0.5)) / micros(m.raw.quantile(0.5))), true)
            }
        };
        println!(
            "{:<22} {:>8.1}µs {:>8.1}µs {:>11}   {:>8.1}µs {:>8.1}µs {:>11}   {:>22} {:>7}",
            name,
            micros(m.raw.quantile(0.5)),
            micros(m.raw.quantile(0.99)),
            rate(m.raw.rate()),
            micros(m.loci.quantile(0.5)),
            micros(m.loci.quantile(0.99)),
            rate(m.loci.rate()),
            goal,
            ratio
        );
        rows.push(serde_json::json!({
            "measurement": name,
            "raw": { "p50_us": micros(m.raw.quantile(0.5)), "p99_us": micros(m.raw.quantile(0.99)), "rate_per_s": m.raw.rate(), "samples": m.raw.latencies.len() },
            "loci": { "p50_us": micros(m.loci.quantile(0.5)), "p99_us": micros(m.loci.quantile(0.99)), "rate_per_s": m.loci.rate(), "samples": m.loci.latencies.len() },
            "target": judged.as_ref().map(|(goal, _, _)| goal.clone()),
            "ratio": judged.as_ref().map(|(_, ratio, _)| *ratio),
            "met": judged.as_ref().map(|_| met),
        }));
    }
    println!(
        "signals: a chain of 10 maps costs {:.0} ns per propagation; a remote signal change reaches its observer in {:.1}µs p50 ({:.1}µs p99), a remote call takes {:.1}µs p50 in the same run",
        reactive.chain_ns_per_propagation,
        micros(reactive.signal_p50),
        micros(reactive.signal_p99),
        micros(reactive.call_p50)
    );
    let signals = serde_json::json!({
        "chain_of_10_maps_ns_per_propagation": reactive.chain_ns_per_propagation,
        "remote_signal_p50_us": micros(reactive.signal_p50),
        "remote_signal_p99_us": micros(reactive.signal_p99),
        "remote_call_p50_us": micros(reactive.call_p50),
    });
    println!(
        "calls: one-way {} against {} for calls 64 in flight ({:.2}×); a placed function called locally takes {:.0} ns (no network)",
        rate(calls.tell_rate),
        rate(calls.call_rate_64),
        calls.tell_rate / calls.call_rate_64,
        calls.local_call_ns
    );
    let block_p50 = calls.pair_block.quantile(0.5).as_secs_f64() / calls.pair_call.quantile(0.5).as_secs_f64();
    let block_rate = calls.pair_call_64.rate() / calls.pair_block_64.rate();
    println!(
        "blocks: a remote block with two captures against a call with the same two arguments: p50 {:.1}µs vs {:.1}µs ({block_p50:.2}×, target ≤ 1.10× {}), 64 in flight {} vs {} ({block_rate:.2}× the call's time per operation, target ≤ 1.10× {})",
        micros(calls.pair_block.quantile(0.5)),
        micros(calls.pair_call.quantile(0.5)),
        if block_p50 <= 1.10 { "✓" } else { "✗" },
        rate(calls.pair_block_64.rate()),
        rate(calls.pair_call_64.rate()),
        if block_rate <= 1.10 { "✓" } else { "✗" },
    );
    let call_forms = serde_json::json!({
        "one_way_rate_per_s": calls.tell_rate,
        "call_rate_64_in_flight_per_s": calls.call_rate_64,
        "one_way_over_call": calls.tell_rate / calls.call_rate_64,
        "local_call_ns": calls.local_call_ns,
        "block_two_captures_p50_us": micros(calls.pair_block.quantile(0.5)),
        "call_two_arguments_p50_us": micros(calls.pair_call.quantile(0.5)),
        "block_over_call_p50": block_p50,
        "block_two_captures_rate_64_per_s": calls.pair_block_64.rate(),
        "call_two_arguments_rate_64_per_s": calls.pair_call_64.rate(),
        "block_over_call_time_per_operation_64": block_rate,
    });
    // What waiting for room costs a sender, against offering without waiting and dropping.
    let events = |name: &str| selected.iter().find(|&&i| NAMES[i] == name).map(|&i| &results[i]);
    let delivery = match (events("events"), events("events, lossy")) {
        (Some(lossless), Some(lossy)) => {
            let (missed_raw, missed_loci) = (LOSSY_RAW.missed_fraction(), LOSSY_LOCI.missed_fraction());
            let cost = lossy.loci.rate() / lossless.loci.rate();
            println!(
                "delivery: lossless with backpressure delivers {} against {} for the lossy form, which offers without waiting ({cost:.2}×); lossy rounds missed {:.1} % (loci) and {:.1} % (raw) of what was offered",
                rate(lossless.loci.rate()),
                rate(lossy.loci.rate()),
                100.0 * missed_loci,
                100.0 * missed_raw,
            );
            serde_json::json!({
                "lossless_rate_per_s": lossless.loci.rate(),
                "lossy_rate_per_s": lossy.loci.rate(),
                "lossy_over_lossless": cost,
                "lossy_missed_fraction_loci": missed_loci,
                "lossy_missed_fraction_raw": missed_raw,
            })
        }
        _ => serde_json::Value::Null,
    };
    let connections = held.map_or(serde_json::Value::Null, report_held);
    let document = serde_json::json!({ "date": date, "rounds": rounds, "cores": cores, "cpu": cpu, "results": rows, "signals": signals, "calls": call_forms, "delivery": delivery, "connections": connections });
    if let Some(dir) = json.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::write(json, serde_json::to_string_pretty(&document).unwrap()) {
        Ok(()) => println!("wrote {}", json.display()),
        Err(error) => eprintln!("could not write {}: {error}", json.display()),
    }
}

/// Prints the medians of the holding rounds (raw, loci) and returns them as JSON.
fn report_held(held: &[(hold::Held, hold::Held)]) -> serde_json::Value {
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let bytes = |pick: fn(&(hold::Held, hold::Held)) -> hold::Held| {
        median(held.iter().map(|h| pick(h).bytes_per_connection as f64).collect())
    };
    let seconds = |pick: fn(&(hold::Held, hold::Held)) -> hold::Held| {
        median(held.iter().map(|h| pick(h).connect_all.as_secs_f64()).collect())
    };
    let (raw_bytes, loci_bytes) = (bytes(|h| h.0), bytes(|h| h.1));
    let (raw_seconds, loci_seconds) = (seconds(|h| h.0), seconds(|h| h.1));
    let met = loci_bytes <= 40_000.0;
    println!(
        "connections: one peer holding {HELD_CONNECTIONS}: {:.1} KB each for loci against {:.1} KB for raw (target ≤ 40 KB {}); connecting them all took {:.2} s against {:.2} s ({:.2}×); median of {} rounds",
        loci_bytes / 1e3,
        raw_bytes / 1e3,
        if met { "✓" } else { "✗" },
        loci_seconds,
        raw_seconds,
        loci_seconds / raw_seconds,
        held.len(),
    );
    serde_json::json!({
        "connections": HELD_CONNECTIONS,
        "rounds": held.len(),
        "raw_bytes_per_connection": raw_bytes,
        "loci_bytes_per_connection": loci_bytes,
        "target_bytes_per_connection": 40_000,
        "met": met,
        "raw_connect_all_s": raw_seconds,
        "loci_connect_all_s": loci_seconds,
        "connect_all_ratio": loci_seconds / raw_seconds,
    })
}
