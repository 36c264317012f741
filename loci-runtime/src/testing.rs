//! Testing multitier programs under faults: every instance of a module in one test process,
//! over real QUIC (quinn, rustls, loci's own protocol), on a simulated network the test
//! controls. Behind the `testing` feature.
//!
//! A [`Network`] carries the datagrams of the instances bound to it
//! ([`crate::Builder::network`]). The test makes it drop, delay, duplicate and reorder
//! packets ([`Faults`]), partitions addresses from one another and heals them, and kills an
//! address (its packets vanish, as a killed process's would) to start an instance there again.
//!
//! ```
//! # #[cfg(feature = "testing")] {
//! use loci::testing::{Faults, Network};
//!
//! let network = Network::new(7);
//! network.set_faults(Faults { drop: 0.05, ..Faults::default() });
//! let registry = network.address();
//! assert_ne!(registry, network.address(), "every address is new");
//! network.partition(&[registry], &[network.address()]);
//! network.heal();
//! # }
//! ```
//!
//! # What is reproducible
//!
//! Every decision of the network (which packet is dropped, duplicated or held back, and by how
//! much) comes from a generator seeded with [`Network::new`]'s seed, taken in the order packets
//! are sent. In a test on a current-thread runtime with paused time
//! (`#[tokio::test(start_paused = true)]`), that order is the same from run to run, and so
//! are the faults. What is not: TLS draws fresh keys and nonces from the operating system on
//! every run (the packets' bytes differ, not their number or sizes), and a test that uses
//! other threads or real time brings their scheduling in.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use quinn::udp::{RecvMeta, Transmit};
use quinn::{AsyncUdpSocket, UdpPoller};

/// What the network does to each packet. Probabilities are from 0 to 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Faults {
    /// The chance a packet is lost.
    pub drop: f64,
    /// The chance a packet arrives twice.
    pub duplicate: f64,
    /// The chance a packet is held back by [`Faults::reorder_by`], so later ones overtake it.
    pub reorder: f64,
    /// How long a held-back packet is held.
    pub reorder_by: Duration,
    /// How long every packet takes.
    pub delay: Duration,
}

impl Default for Faults {
    /// A perfect network: nothing lost, nothing late.
    fn default() -> Self {
        Faults { drop: 0.0, duplicate: 0.0, reorder: 0.0, reorder_by: Duration::from_millis(10), delay: Duration::ZERO }
    }
}

/// What the network did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetworkStats {
    /// Packets instances sent.
    pub sent: u64,
    /// Packets delivered (a duplicate counts twice).
    pub delivered: u64,
    /// Packets lost to [`Faults::drop`].
    pub dropped: u64,
    /// Packets lost to a partition or a killed address.
    pub cut: u64,
    /// Packets delivered twice.
    pub duplicated: u64,
    /// Packets held back.
    pub reordered: u64,
}

/// A simulated network of QUIC instances in one process; see the [module](self) documentation.
/// Clones are the same network.
#[derive(Clone)]
pub struct Network {
    inner: Arc<Mutex<State>>,
}

impl fmt::Debug for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("Network").field("faults", &state.faults).field("stats", &state.stats).finish_non_exhaustive()
    }
}

struct State {
    rng: fastrand::Rng,
    faults: Faults,
    /// The sockets bound to each address.
    sockets: HashMap<SocketAddr, Weak<Inbox>>,
    /// Pairs of addresses that cannot reach each other, both ways.
    cut: HashSet<(SocketAddr, SocketAddr)>,
    /// Addresses whose packets vanish, as a killed process's.
    dead: HashSet<SocketAddr>,
    next_host: u32,
    stats: NetworkStats,
}

/// The packets waiting for one socket.
#[derive(Default)]
struct Inbox {
    queue: Mutex<Queue>,
}

/// Packets with their senders, and the task waiting for them.
#[derive(Default)]
struct Queue {
    packets: VecDeque<(SocketAddr, Vec<u8>)>,
    reader: Option<Waker>,
}

impl Inbox {
    fn push(&self, from: SocketAddr, packet: Vec<u8>) {
        let mut queue = lock(&self.queue);
        // A socket nobody reads holds a bounded number of packets, as a real one does.
        if queue.packets.len() < 4096 {
            queue.packets.push_back((from, packet));
        }
        if let Some(waker) = queue.reader.take() {
            waker.wake();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Network {
    /// A network whose faults are drawn from a generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        let state = State {
            rng: fastrand::Rng::with_seed(seed),
            faults: Faults::default(),
            sockets: HashMap::new(),
            cut: HashSet::new(),
            dead: HashSet::new(),
            next_host: 1,
            stats: NetworkStats::default(),
        };
        Network { inner: Arc::new(Mutex::new(state)) }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.inner)
    }

    /// A new address on the network (`10.x.y.z:4000`), for an instance to listen on.
    pub fn address(&self) -> SocketAddr {
        let mut state = self.state();
        let host = state.next_host;
        state.next_host += 1;
        SocketAddr::new(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | host)), 4000)
    }

    /// Makes the network do `faults` to every packet from now on.
    pub fn set_faults(&self, faults: Faults) {
        self.state().faults = faults;
    }

    /// Cuts every address in `one` off from every address in `other`, both ways, until
    /// [`Network::heal`].
    pub fn partition(&self, one: &[SocketAddr], other: &[SocketAddr]) {
        let mut state = self.state();
        for a in one {
            for b in other {
                state.cut.insert((*a, *b));
                state.cut.insert((*b, *a));
            }
        }
    }

    /// Ends every partition.
    pub fn heal(&self) {
        self.state().cut.clear();
    }

    /// Makes `addr` vanish: nothing it sends arrives, nothing sent to it is delivered, as for
    /// a killed process. Stop the instance there afterwards (its goodbyes vanish too), and
    /// [`Network::revive`] the address to start another instance on it.
    pub fn kill(&self, addr: SocketAddr) {
        self.state().dead.insert(addr);
    }

    /// Lets `addr` send and receive again.
    pub fn revive(&self, addr: SocketAddr) {
        self.state().dead.remove(&addr);
    }

    /// What the network did so far.
    pub fn stats(&self) -> NetworkStats {
        self.state().stats
    }

    /// A socket bound to `addr`; it replaces a socket bound there before.
    pub(crate) fn bind(&self, addr: SocketAddr) -> Arc<dyn AsyncUdpSocket> {
        let inbox = Arc::new(Inbox::default());
        self.state().sockets.insert(addr, Arc::downgrade(&inbox));
        Arc::new(Socket { network: self.clone(), addr, inbox })
    }

    /// Carries one datagram from `from` to `to`, as the faults say.
    fn carry(&self, from: SocketAddr, to: SocketAddr, packet: &[u8]) {
        let mut state = self.state();
        state.stats.sent += 1;
        let Some(inbox) = state.sockets.get(&to).and_then(Weak::upgrade) else {
            state.stats.cut += 1;
            return;
        };
        if state.dead.contains(&from) || state.dead.contains(&to) || state.cut.contains(&(from, to)) {
            state.stats.cut += 1;
            return;
        }
        let faults = state.faults;
        if state.rng.f64() < faults.drop {
            state.stats.dropped += 1;
            return;
        }
        let copies = if state.rng.f64() < faults.duplicate {
            state.stats.duplicated += 1;
            2
        } else {
            1
        };
        let mut delay = faults.delay;
        if state.rng.f64() < faults.reorder {
            state.stats.reordered += 1;
            delay += faults.reorder_by;
        }
        state.stats.delivered += copies;
        drop(state);
        for _ in 0..copies {
            let packet = packet.to_vec();
            if delay.is_zero() {
                inbox.push(from, packet);
            } else {
                let (inbox, network) = (Arc::clone(&inbox), self.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    // A partition or a kill that came meanwhile cuts what was on its way.
                    let state = network.state();
                    if !state.dead.contains(&to) && !state.cut.contains(&(from, to)) {
                        drop(state);
                        inbox.push(from, packet);
                    }
                });
            }
        }
    }
}

/// One instance's socket on a [`Network`].
struct Socket {
    network: Network,
    addr: SocketAddr,
    inbox: Arc<Inbox>,
}

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Socket").field("addr", &self.addr).finish_non_exhaustive()
    }
}

/// Sending never waits on a simulated network.
#[derive(Debug)]
struct AlwaysWritable;

impl UdpPoller for AlwaysWritable {
    fn poll_writable(self: Pin<&mut Self>, _: &mut Context) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncUdpSocket for Socket {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        Box::pin(AlwaysWritable)
    }

    fn try_send(&self, transmit: &Transmit) -> io::Result<()> {
        let size = transmit.segment_size.unwrap_or(transmit.contents.len()).max(1);
        for datagram in transmit.contents.chunks(size) {
            self.network.carry(self.addr, transmit.destination, datagram);
        }
        Ok(())
    }

    fn poll_recv(
        &self,
        cx: &mut Context,
        bufs: &mut [io::IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let mut queue = lock(&self.inbox.queue);
        let mut received = 0;
        while received < bufs.len().min(meta.len()) {
            let Some((from, packet)) = queue.packets.pop_front() else { break };
            let len = packet.len().min(bufs[received].len());
            bufs[received][..len].copy_from_slice(&packet[..len]);
            meta[received] = RecvMeta { addr: from, len, stride: len, ..RecvMeta::default() };
            received += 1;
        }
        if received > 0 {
            return Poll::Ready(Ok(received));
        }
        queue.reader = Some(cx.waker().clone());
        Poll::Pending
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }

    fn may_fragment(&self) -> bool {
        false
    }
}
