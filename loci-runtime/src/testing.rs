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
//! are sent. So do the instances' ids and their QUIC endpoints' own randomness (handshake
//! padding, skipped packet numbers). In a test on a current-thread runtime with paused time
//! (`#[tokio::test(start_paused = true)]`), packets are then sent in the same order, with the
//! same faults, from run to run (`tests/tests/simulation.rs` checks that two runs with one
//! seed see the same [`NetworkStats`]). Not reproduced: TLS draws its keys, nonces and
//! signatures from the operating system (the bytes differ, and a signature's length by a
//! byte or two); a test that uses other threads or real time brings their scheduling in; and
//! all instances of a network must run on one runtime (a delayed packet travels on the
//! sender's).

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
    /// Packets a socket had no room for (it holds 4 096 unread).
    pub overflowed: u64,
    /// Packets lost to [`Faults::drop`].
    pub dropped: u64,
    /// Packets lost to a partition, a killed address, or an address nobody is bound to.
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
    seed: u64,
    rng: fastrand::Rng,
    /// Draws for the instances: their ids and their QUIC endpoints' seeds.
    instances: fastrand::Rng,
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
    /// Queues a packet; `false` if the socket holds as many as it takes.
    fn push(&self, from: SocketAddr, packet: Vec<u8>) -> bool {
        let mut queue = lock(&self.queue);
        // A socket nobody reads holds a bounded number of packets, as a real one does.
        let taken = queue.packets.len() < 4096;
        if taken {
            queue.packets.push_back((from, packet));
        }
        if let Some(waker) = queue.reader.take() {
            waker.wake();
        }
        taken
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Network {
    /// A network whose faults are drawn from a generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        let state = State {
            seed,
            rng: fastrand::Rng::with_seed(seed),
            instances: fastrand::Rng::with_seed(seed ^ 0x9e37_79b9_7f4a_7c15),
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

    /// An instance id for an instance on this network, drawn from its seed: ids decide the
    /// size of hellos and which of two connections stays, so they must repeat with the seed.
    pub(crate) fn instance_id(&self) -> u64 {
        self.state().instances.u64(..)
    }

    /// The seed of a QUIC endpoint's own randomness (padding, skipped packet numbers), drawn
    /// from the network's seed.
    pub(crate) fn endpoint_seed(&self) -> [u8; 32] {
        let mut state = self.state();
        let mut seed = [0u8; 32];
        for chunk in seed.chunks_mut(8) {
            chunk.copy_from_slice(&state.instances.u64(..).to_le_bytes());
        }
        seed[..8].copy_from_slice(&state.seed.to_le_bytes());
        seed
    }

    /// Carries one datagram from `from` to `to`, as the faults say.
    fn carry(&self, from: SocketAddr, to: SocketAddr, packet: &[u8]) {
        let mut state = self.state();
        state.stats.sent += 1;
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
        if delay.is_zero() {
            for _ in 0..copies {
                state.deliver(from, to, packet.to_vec());
            }
            return;
        }
        drop(state);
        let (network, packet) = (self.clone(), packet.to_vec());
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            // Where the packet lands, and whether it may, is decided when it arrives: a
            // partition, a kill or a restart that came meanwhile applies to it.
            let mut state = network.state();
            for _ in 0..copies {
                state.deliver(from, to, packet.clone());
            }
        });
    }
}

impl State {
    /// Hands `packet` to the socket bound to `to` now, unless a partition or a kill cuts it.
    fn deliver(&mut self, from: SocketAddr, to: SocketAddr, packet: Vec<u8>) {
        let cut = self.dead.contains(&from) || self.dead.contains(&to) || self.cut.contains(&(from, to));
        match self.sockets.get(&to).and_then(Weak::upgrade) {
            Some(inbox) if !cut => {
                if inbox.push(from, packet) {
                    self.stats.delivered += 1;
                } else {
                    self.stats.overflowed += 1;
                }
            }
            _ => self.stats.cut += 1,
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
