//! Instances: configuring and starting one process of a peer (what runs then is in
//! `running.rs`).

use std::any::Any;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::connection;
use crate::core::{Core, Reconnect};
use crate::error::{Error, Result};
use crate::here::Here;
use crate::local::Local;
use crate::placement::{Module, Peer, PlacedOn, Supplied};
use crate::running::Running;
use crate::spec::ItemKind;
use crate::transport::{self, QuicSettings, Security};
use crate::wire::DEFAULT_MAX_FRAME;

/// Configuration of an instance of peer `P`; [`crate::run`] builds one from the command line.
///
/// ```no_run
/// # #[loci::multitier] mod app {
/// #     #[peer(ties(Node = Multiple))] pub struct Registry;
/// #     #[peer(ties(Registry = Single))] pub struct Node;
/// # }
/// # async fn start() -> loci::Result<()> {
/// loci::Instance::<app::Node>::builder()
///     .connect("registry", "127.0.0.1:4000")
///     .credentials("loci-credentials")
///     .name("alice")
///     .run()
///     .await
/// # }
/// ```
#[derive(Clone)]
pub struct Builder<P> {
    listen: Option<SocketAddr>,
    connect: Vec<(String, String)>,
    security: Security,
    name: Option<String>,
    max_frame: usize,
    max_per_tie: usize,
    max_buffered_per_connection: usize,
    /// Process-wide budgets, set when the instance starts if given.
    partial_frame_budget: Option<usize>,
    window_budget: Option<usize>,
    frame_deadline: Duration,
    idle_timeout: Duration,
    connect_timeout: Duration,
    call_timeout: Option<Duration>,
    reconnect: Reconnect,
    /// The simulated network the instance runs on, instead of UDP.
    #[cfg(feature = "testing")]
    network: Option<crate::testing::Network>,
    /// Values of the peer's supplied items, by item id: each makes a handle (a `Local<T>`)
    /// to the one value, shared by clones of the builder.
    supplied: Vec<(u16, SuppliedValue)>,
    _peer: PhantomData<fn() -> P>,
}

impl<P: Peer> std::fmt::Debug for Builder<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let supplied: Vec<&str> = self.supplied.iter().map(|(id, _)| P::Module::SPEC.item_name(*id)).collect();
        f.debug_struct("Builder")
            .field("peer", &P::NAME)
            .field("listen", &self.listen)
            .field("connect", &self.connect)
            .field("security", &self.security)
            .field("name", &self.name)
            .field("max_frame", &self.max_frame)
            .field("max_per_tie", &self.max_per_tie)
            .field("max_buffered_per_connection", &self.max_buffered_per_connection)
            .field("partial_frame_budget", &self.partial_frame_budget)
            .field("window_budget", &self.window_budget)
            .field("frame_deadline", &self.frame_deadline)
            .field("idle_timeout", &self.idle_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("call_timeout", &self.call_timeout)
            .field("reconnect", &self.reconnect)
            .field("supplied", &supplied)
            .finish()
    }
}

/// The most bytes QUIC buffers for one connection that the instance has not read yet, unless
/// configured ([`Builder::max_buffered_bytes_per_connection`]).
pub const DEFAULT_MAX_BUFFERED_PER_CONNECTION: usize = 1280 << 10;

/// The smallest per-connection limit: the window every connection starts with.
const MIN_BUFFERED_PER_CONNECTION: usize = crate::inbound::BASE_WINDOW as usize;

/// How long a remote access waits for its answer unless the builder or the access says otherwise.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a remote may stay silent before it counts as gone. Keep-alives go out every
/// eighth of it, so a remote that stalls for up to 3.5 s (a pause, a busy runtime) is not
/// noticed, and one that died is noticed within 4.5 s.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// Entry point for configuring instances: `Instance::<Node>::builder()`.
#[derive(Debug)]
pub struct Instance<P>(PhantomData<fn() -> P>);

impl<P: Peer> Instance<P> {
    /// A builder with the defaults: no listener, no connections, credentials from
    /// `./loci-credentials`, 16 MiB frames, 4 s idle timeout, 10 s connect timeout, 30 s
    /// call timeout, lost targets dialled again (see [`Reconnect`]).
    pub fn builder() -> Builder<P> {
        Builder {
            listen: None,
            connect: Vec::new(),
            security: Security::Credentials(PathBuf::from("loci-credentials")),
            name: None,
            max_frame: DEFAULT_MAX_FRAME,
            max_per_tie: crate::core::DEFAULT_MAX_PER_TIE,
            max_buffered_per_connection: DEFAULT_MAX_BUFFERED_PER_CONNECTION,
            partial_frame_budget: None,
            window_budget: None,
            frame_deadline: crate::inbound::DEFAULT_FRAME_DEADLINE,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            connect_timeout: Duration::from_secs(10),
            call_timeout: Some(DEFAULT_CALL_TIMEOUT),
            reconnect: Reconnect::default(),
            supplied: Vec::new(),
            #[cfg(feature = "testing")]
            network: None,
            _peer: PhantomData,
        }
    }
}

impl<P: Peer> Builder<P> {
    /// Accept connections from tied peers on `addr` (port 0 picks a free port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = Some(addr);
        self
    }

    /// Connect to an instance of peer `peer` (its name, any case) at `target` when starting: a
    /// socket address, or `host:port` with a host name that is resolved again on every attempt.
    /// A lost target is dialled again (see [`Builder::reconnect`]).
    pub fn connect(mut self, peer: impl Into<String>, target: impl ToString) -> Self {
        self.connect.push((peer.into(), target.to_string()));
        self
    }

    /// How lost `connect` targets are dialled again, and how long a lost `Single` remote may
    /// stay away before the instance ends. [`Reconnect::never`] restores ending at once.
    pub fn reconnect(mut self, policy: Reconnect) -> Self {
        self.reconnect = policy;
        self
    }

    /// Run on the simulated `network` instead of UDP (`loci::testing`): the instance listens
    /// on its `listen` address there, or dials from a new address of it.
    #[cfg(feature = "testing")]
    pub fn network(mut self, network: &crate::testing::Network) -> Self {
        self.network = Some(network.clone());
        self
    }

    /// Use the instance credentials in `dir`: the cluster CA's certificate, and this
    /// instance's certificate and key (see `loci credentials issue`). They are loaded again on
    /// SIGHUP and when one of the files changes.
    pub fn credentials(mut self, dir: impl Into<PathBuf>) -> Self {
        self.security = Security::Credentials(dir.into());
        self
    }

    /// Encrypt without authenticating anyone. Any process can connect: local experiments only.
    pub fn insecure(mut self) -> Self {
        self.security = Security::Insecure;
        self
    }

    /// The name remotes and logs show for this instance (default: `peer-PID`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The largest frame accepted or sent, in bytes. Larger incoming frames close the connection.
    pub fn max_frame_bytes(mut self, bytes: usize) -> Self {
        self.max_frame = bytes;
        self
    }

    /// The most remotes one `Multiple` tie takes (1 024 by default); a connection past it is
    /// refused at the handshake. `Single` and `Optional` ties take one.
    pub fn max_connections_per_tie(mut self, connections: usize) -> Self {
        self.max_per_tie = connections;
        self
    }

    /// The most bytes QUIC buffers for one connection that the instance has not read yet: the
    /// most its flow-control window grows to (1.25 MiB by default). Every window starts at
    /// 16 KiB and doubles while its remote sends as fast as it allows, within the
    /// process-wide [`Builder::receive_window_budget_bytes`].
    pub fn max_buffered_bytes_per_connection(mut self, bytes: usize) -> Self {
        self.max_buffered_per_connection = bytes;
        self
    }

    /// What the windows of all connections of the process may grow by, beyond 16 KiB each
    /// (32 MiB by default). Process-wide, like [`Builder::partial_frame_budget_bytes`].
    pub fn receive_window_budget_bytes(mut self, bytes: usize) -> Self {
        self.window_budget = Some(bytes);
        self
    }

    /// The bytes of frames over 64 KiB the process receives at once, over all its
    /// connections (32 MiB by default); a large frame past it waits, unread, for room.
    /// Process-wide: the instances of one process share one budget, and an instance started
    /// with this setting sets it for all of them.
    pub fn partial_frame_budget_bytes(mut self, bytes: usize) -> Self {
        self.partial_frame_budget = Some(bytes);
        self
    }

    /// How long a frame over 64 KiB may take to arrive once it started, besides a second per
    /// MiB of it (5 s by default); one that takes longer closes its connection.
    pub fn frame_deadline(mut self, base: Duration) -> Self {
        self.frame_deadline = base;
        self
    }

    /// A remote silent for this long is considered gone; keep-alives go out at a quarter of it.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// How long to keep dialling `connect` targets and to wait for `Single` ties when starting.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a remote access (a call, or the first value of a remote signal) waits for its
    /// answer before it fails with `RemoteError::TimedOut`, unless the access sets its own with
    /// `.timeout(..)`. `None` waits as long as the remote stays connected.
    pub fn call_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// Supplies the value of `item`, local state of `P` declared without a body
    /// (`fn mode() -> Local<Mode>;`). Every such item must be supplied before the instance
    /// starts; placed code reads it with `ctx.local(item)`.
    ///
    /// ```no_run
    /// #[loci::multitier]
    /// pub mod game {
    ///     use loci::{Here, Local};
    ///     #[peer(ties(Client = Multiple))] pub struct Server;
    ///     #[peer(ties(Server = Single))] pub struct Client;
    ///
    ///     /// How this client plays, chosen on its command line.
    ///     #[on(Client)]
    ///     pub fn bot() -> Local<bool>;
    ///
    ///     #[on(Client)]
    ///     pub async fn main(ctx: Here<Client>) -> loci::Result<()> {
    ///         if *ctx.local(bot) { println!("playing by myself") }
    ///         Ok(())
    ///     }
    /// }
    /// # async fn start() -> loci::Result<()> {
    /// loci::Instance::<game::Client>::builder().supply(game::bot, true).run().await
    /// # }
    /// ```
    pub fn supply<V>(mut self, item: impl FnOnce() -> V, value: V::Item) -> Self
    where
        V: Supplied + PlacedOn<P>,
    {
        let _ = item;
        self.supplied.retain(|(id, _)| *id != V::ID);
        let value = Local::new(value);
        self.supplied.push((V::ID, Arc::new(move || Box::new(value.clone()) as Box<dyn Any + Send + Sync>)));
        self
    }

    /// The `connect` targets, each with the local tie it is dialled on.
    fn resolve_targets(&self) -> Result<Vec<(u16, String)>> {
        let spec = &P::Module::SPEC;
        self.connect
            .iter()
            .map(|(name, addr)| {
                let tie = spec.tie_by_name(P::INDEX, name).map_err(|reason| {
                    let peers: Vec<_> = spec.peers.iter().map(|p| p.name.to_lowercase()).collect();
                    Error::Config(format!("`--connect {name}=...`: {reason} (peers of module `{}`: {})", spec.name, peers.join(", ")))
                })?;
                if !addr.contains(':') {
                    return Err(Error::Config(format!(
                        "`--connect {name}={addr}`: expected HOST:PORT, e.g. `{name}=127.0.0.1:4000` or `{name}=localhost:4000`"
                    )));
                }
                Ok((tie, addr.clone()))
            })
            .collect()
    }

    /// Opens the endpoint, connects, waits for `Single` ties and creates the placed values.
    /// The instance then serves remotes until [`Running::shutdown`] (or until its runtime ends).
    pub async fn start(self) -> Result<Running<P>> {
        let spec = &P::Module::SPEC;
        let targets = self.resolve_targets()?;
        if self.max_per_tie == 0 {
            return Err(Error::Config("--max-connections-per-tie 0 would refuse every remote (at least 1)".to_owned()));
        }
        if self.max_frame < 1024 {
            return Err(Error::Config(format!("--max-frame-bytes {} is too small (at least 1024)", self.max_frame)));
        }
        if matches!(self.security, Security::Insecure) {
            tracing::warn!(
                "INSECURE MODE: TLS certificates are not checked; any process can connect to this {}",
                P::NAME
            );
        }
        if !(MIN_BUFFERED_PER_CONNECTION..=u32::MAX as usize).contains(&self.max_buffered_per_connection) {
            return Err(Error::Config(format!(
                "--max-buffered-bytes-per-connection {} is out of range ({} to {})",
                self.max_buffered_per_connection,
                MIN_BUFFERED_PER_CONNECTION,
                u32::MAX
            )));
        }
        if let Some(budget) = self.partial_frame_budget {
            if budget < crate::inbound::LARGE_FRAME * 2 {
                return Err(Error::Config(format!(
                    "--partial-frame-budget-bytes {budget} is too small (at least {} bytes)",
                    crate::inbound::LARGE_FRAME * 2
                )));
            }
            crate::inbound::set_partial_budget(budget);
        }
        if let Some(budget) = self.window_budget {
            crate::inbound::set_window_budget(budget);
        }
        let settings = QuicSettings {
            idle_timeout: self.idle_timeout,
            max_window: u32::try_from(self.max_buffered_per_connection).unwrap_or(u32::MAX),
        };
        // The files' times before they are read: a change while they load is seen later.
        let seen = match &self.security {
            Security::Credentials(dir) => crate::credentials::modified(dir),
            Security::Insecure => Vec::new(),
        };
        let tls = transport::Tls::new(&self.security, settings)?;
        let name = self.name.unwrap_or_else(|| match &tls.grant {
            // An instance is named as its certificate names it, unless told otherwise.
            Some(grant) => grant.instance.clone(),
            None => format!("{}-{}", P::NAME.to_lowercase(), std::process::id()),
        });
        if let (Some(grant), Security::Credentials(dir)) = (&tls.grant, &self.security) {
            check_own_grant::<P>(grant, &name, dir)?;
        }
        let endpoint = transport::endpoint(
            self.listen,
            &tls,
            #[cfg(feature = "testing")]
            self.network.as_ref(),
        )?;
        #[cfg(feature = "testing")]
        let instance = self.network.as_ref().map_or_else(rand_instance_id, crate::testing::Network::instance_id);
        #[cfg(not(feature = "testing"))]
        let instance = rand_instance_id();
        let core = Core::new(spec, P::INDEX, instance, name, self.max_frame, self.call_timeout, self.reconnect);
        core.max_per_tie.store(self.max_per_tie, std::sync::atomic::Ordering::Relaxed);
        core.checks_certificates.store(tls.grant.is_some(), std::sync::atomic::Ordering::Relaxed);
        let deadline_ms = u64::try_from(self.frame_deadline.as_millis()).unwrap_or(u64::MAX);
        core.frame_deadline_ms.store(deadline_ms, std::sync::atomic::Ordering::Relaxed);
        core.max_window.store(u64::from(settings.max_window), std::sync::atomic::Ordering::Relaxed);
        *crate::core::lock(&core.client_config) = Some(tls.client());
        *crate::core::lock(&core.deny) = std::sync::Arc::new(tls.deny.clone());
        // Supplied values go in first: the other values may read them while they are created.
        for (id, item) in spec.items.iter().enumerate() {
            if item.peer != P::INDEX || !item.supplied {
                continue;
            }
            let value = self.supplied.iter().find(|(supplied, _)| usize::from(*supplied) == id).ok_or_else(|| {
                Error::Config(format!(
                    "`{}` of `{}` is supplied when the instance starts, but no value was given; pass one with `.supply({}, value)` on the builder",
                    item.name,
                    P::NAME,
                    item.name
                ))
            })?;
            let _ = core.values[id].set((value.1)());
        }
        let _ = core.endpoint.set(endpoint.clone());
        if self.listen.is_some() {
            let _ = core.listen.set(endpoint.local_addr()?);
        }
        let here = Here::<P>::new(core);

        for (id, item) in spec.items.iter().enumerate() {
            let instance_value = item.kind != ItemKind::Function && !item.per_remote && !item.supplied;
            if item.peer == P::INDEX && instance_value {
                let id = id as u16;
                here.core.values[usize::from(id)].get_or_init(|| match P::__init_value(&here, id) {
                    Some(value) => value,
                    None => panic!(
                        "loci: `{}` is not a value placed on `{}` (generated code is out of sync)",
                        item.name,
                        P::NAME
                    ),
                });
            }
        }

        let accept_task = if self.listen.is_some() {
            let endpoint = endpoint.clone();
            let here = here.clone();
            Some(tokio::spawn(async move {
                while let Some(incoming) = endpoint.accept().await {
                    tokio::spawn(connection::accept(here.clone(), incoming));
                }
            }))
        } else {
            None
        };
        let local_addr = endpoint.local_addr()?;
        if self.listen.is_some() {
            tracing::info!(%local_addr, "{} \"{}\" listening", P::NAME, here.core.name);
        }
        let mut running = Running { here, endpoint, accept_task, local_addr, supervisors: Vec::new() };
        if let Security::Credentials(dir) = &self.security {
            let watch = crate::reload::watch(running.here.clone(), dir.clone(), settings, self.listen.is_some(), seen);
            running.supervisors.push(tokio::spawn(watch));
        }

        let deadline = tokio::time::Instant::now() + self.connect_timeout;
        for (tie, target) in targets {
            let instance = running.dial_until(tie, &target, deadline).await?;
            if self.reconnect.enabled() {
                let here = running.here.clone();
                running.supervisors.push(tokio::spawn(crate::running::supervise(here, tie, target, instance)));
            }
        }
        running.await_single_ties(deadline, self.connect_timeout).await?;
        Ok(running)
    }

    /// Starts the instance and runs it: `main` if the peer has one, else until Ctrl-C/SIGTERM.
    /// Ends with an error when a `Single` remote is lost.
    pub async fn run(self) -> Result<()> {
        self.start().await?.run().await
    }
}

/// A supplied value as the builder holds it: makes the boxed `Local<T>` the instance keeps.
type SuppliedValue = Arc<dyn Fn() -> Box<dyn Any + Send + Sync> + Send + Sync>;

fn rand_instance_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// Checks that the instance's own certificate lets it be an instance of `P` named `name`: a
/// remote would refuse it otherwise, so it is better not to start.
fn check_own_grant<P: Peer>(grant: &crate::wire::handshake::Grant, name: &str, dir: &std::path::Path) -> Result<()> {
    if !grant.grants_peer(P::NAME) {
        return Err(Error::Credentials(format!(
            "the certificate in {} grants {:?} to instance `{}`, not `{}`; issue this instance one with `loci credentials issue CA_DIR --peer {} --name {name}`",
            dir.display(),
            grant.peers,
            grant.instance,
            P::NAME,
            P::NAME
        )));
    }
    if !grant.covers_name(name) {
        return Err(Error::Credentials(format!(
            "this instance is named `{name}`, but the certificate in {} was issued to `{}` (names under it, `{}/...`, are covered too); drop `--name`, or issue it a certificate of its own",
            dir.display(),
            grant.instance,
            grant.instance
        )));
    }
    Ok(())
}
