//! The standard command line of every peer executable.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, FromArgMatches};

use crate::core::Reconnect;
use crate::error::{Error, Result};
use crate::instance::{Builder, Instance};
use crate::placement::{Module, Peer};
use crate::wire::DEFAULT_MAX_FRAME;

/// The flags every peer executable understands; each can also be given as the `LOCI_*`
/// environment variable `--help` shows next to it (a flag wins over the variable).
#[derive(Debug, Clone, Args)]
pub struct InstanceArgs {
    /// Accept connections from tied peers on this address, e.g. 127.0.0.1:4000
    #[arg(long, value_name = "ADDR", env = "LOCI_LISTEN")]
    pub listen: Option<SocketAddr>,

    /// Connect to a tied peer at start-up, e.g. `registry=127.0.0.1:4000` or `registry=localhost:4000` (resolved again on every attempt), or on a named tie, `next=HOST:PORT`; repeat, or separate several with commas
    #[arg(long, value_name = "TIE=HOST:PORT", value_parser = parse_connect, value_delimiter = ',', env = "LOCI_CONNECT")]
    pub connect: Vec<(String, String)>,

    /// Directory with this instance's credentials, written by `loci credentials issue`; loaded again on SIGHUP and when its files change
    #[arg(long, value_name = "DIR", env = "LOCI_CREDENTIALS", default_value = "loci-credentials")]
    pub credentials: PathBuf,

    /// Do not check certificates: anyone can connect. For local experiments only
    #[arg(long, env = "LOCI_INSECURE", value_parser = clap::builder::BoolishValueParser::new())]
    pub insecure: bool,

    /// Name of this instance, shown to remotes and in logs: its certificate's instance name, or a name under it (`NAME/...`) [default: the certificate's; PEER-PID with --insecure]
    #[arg(long, env = "LOCI_NAME")]
    pub name: Option<String>,

    /// Log filter, e.g. `info`, `debug` or `loci=trace,warn`
    #[arg(long, value_name = "FILTER", env = "LOCI_LOG", default_value = "info")]
    pub log_level: String,

    /// Largest frame accepted or sent, in bytes; a larger incoming frame closes its connection
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_FRAME, env = "LOCI_MAX_FRAME_BYTES")]
    pub max_frame_bytes: usize,

    /// The most remotes one Multiple tie takes; a connection past it is refused at the handshake
    #[arg(long, value_name = "N", default_value_t = crate::core::DEFAULT_MAX_PER_TIE, env = "LOCI_MAX_CONNECTIONS_PER_TIE")]
    pub max_connections_per_tie: usize,

    /// The most bytes QUIC buffers for one connection that this instance has not read yet: the most its flow-control window grows to from 16 KiB, for a remote that sends fast
    #[arg(long, value_name = "BYTES", default_value_t = crate::instance::DEFAULT_MAX_BUFFERED_PER_CONNECTION, env = "LOCI_MAX_BUFFERED_BYTES_PER_CONNECTION")]
    pub max_buffered_bytes_per_connection: usize,

    /// The bytes of frames over 64 KiB this process receives at once, over all connections; a large frame past it waits, unread, for room [default: 32 MiB]
    #[arg(long, value_name = "BYTES", env = "LOCI_PARTIAL_FRAME_BUDGET_BYTES")]
    pub partial_frame_budget_bytes: Option<usize>,

    /// What the flow-control windows of all connections of this process may grow by, beyond 16 KiB each [default: 32 MiB]
    #[arg(long, value_name = "BYTES", env = "LOCI_RECEIVE_WINDOW_BUDGET_BYTES")]
    pub receive_window_budget_bytes: Option<usize>,

    /// How long a frame over 64 KiB may take to arrive once started, besides a second per MiB of it, in milliseconds; a slower one closes its connection
    #[arg(long, value_name = "MS", default_value_t = 5000, env = "LOCI_FRAME_DEADLINE_MS")]
    pub frame_deadline_ms: u64,

    /// A remote silent for this long (no data, no keep-alive) counts as gone, in milliseconds; keep-alives go out every eighth of it: a stall of up to seven eighths goes unnoticed, a dead remote is noticed within nine eighths
    #[arg(long, value_name = "MS", default_value_t = 4000, env = "LOCI_IDLE_TIMEOUT_MS")]
    pub idle_timeout_ms: u64,

    /// How long to keep dialling `--connect` targets and waiting for Single ties, in milliseconds
    #[arg(long, value_name = "MS", default_value_t = 10_000, env = "LOCI_CONNECT_TIMEOUT_MS")]
    pub connect_timeout_ms: u64,

    /// How long a remote access waits for its answer, in milliseconds; 0 waits as long as the remote stays connected
    #[arg(long, value_name = "MS", default_value_t = 30_000, env = "LOCI_CALL_TIMEOUT_MS")]
    pub call_timeout_ms: u64,

    /// How long a lost Single remote may stay away before the instance ends, in milliseconds; lost `--connect` targets are dialled again meanwhile; 0 ends at once and dials nothing again
    #[arg(long, value_name = "MS", default_value_t = 30_000, env = "LOCI_RECONNECT_GIVE_UP_MS")]
    pub reconnect_give_up_ms: u64,

    /// The longest wait between two attempts to dial a lost `--connect` target, in milliseconds
    #[arg(long, value_name = "MS", default_value_t = 1000, env = "LOCI_RECONNECT_MAX_DELAY_MS")]
    pub reconnect_max_delay_ms: u64,
}

fn parse_connect(value: &str) -> std::result::Result<(String, String), String> {
    let (peer, target) = value
        .split_once('=')
        .ok_or_else(|| format!("expected TIE=HOST:PORT (the tied peer's name or a named tie's), e.g. registry=127.0.0.1:4000, got `{value}`"))?;
    let (host, port) =
        target.rsplit_once(':').ok_or_else(|| format!("expected HOST:PORT after `{peer}=`, got `{target}`"))?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(format!("expected HOST:PORT after `{peer}=`, got `{target}`"));
    }
    Ok((peer.trim().to_owned(), target.to_owned()))
}

/// With [`crate::launch::DESCRIBE_PEER_VAR`] set, prints which peer this executable runs
/// and exits: a launcher asks so, to issue the process a certificate for that peer kind.
fn describe_if_asked<P: Peer>() {
    if std::env::var_os(crate::launch::DESCRIBE_PEER_VAR).is_some() {
        println!("loci peer {} of module {}", P::NAME, P::Module::SPEC.name);
        std::process::exit(0);
    }
}

impl InstanceArgs {
    /// Parses the process's command line for peer `P`; `--help` describes the peer and its ties.
    pub fn parse_for<P: Peer>() -> Self {
        describe_if_asked::<P>();
        let spec = &P::Module::SPEC;
        // The description goes on after the flags: deriving `Args` sets one of its own.
        let command = Self::augment_args(clap::Command::new(P::NAME).bin_name(P::NAME.to_lowercase()));
        let command = command.about(format!(
            "The `{}` peer of the `{}` multitier module (ties: {}).",
            P::NAME,
            spec.name,
            spec.describe_ties(P::INDEX)
        ));
        let matches = command.get_matches();
        match Self::from_arg_matches(&matches) {
            Ok(args) => args,
            Err(error) => error.exit(),
        }
    }

    /// A builder configured by these flags.
    pub fn builder<P: Peer>(&self) -> Builder<P> {
        describe_if_asked::<P>();
        let mut builder = Instance::<P>::builder()
            .max_frame_bytes(self.max_frame_bytes)
            .max_connections_per_tie(self.max_connections_per_tie)
            .max_buffered_bytes_per_connection(self.max_buffered_bytes_per_connection)
            .frame_deadline(Duration::from_millis(self.frame_deadline_ms))
            .idle_timeout(Duration::from_millis(self.idle_timeout_ms))
            .connect_timeout(Duration::from_millis(self.connect_timeout_ms))
            .call_timeout((self.call_timeout_ms > 0).then(|| Duration::from_millis(self.call_timeout_ms)))
            .reconnect(Reconnect {
                max_delay: Duration::from_millis(self.reconnect_max_delay_ms),
                give_up: Some(Duration::from_millis(self.reconnect_give_up_ms)),
                ..Reconnect::default()
            });
        builder = if self.insecure { builder.insecure() } else { builder.credentials(self.credentials.clone()) };
        if let Some(bytes) = self.partial_frame_budget_bytes {
            builder = builder.partial_frame_budget_bytes(bytes);
        }
        if let Some(bytes) = self.receive_window_budget_bytes {
            builder = builder.receive_window_budget_bytes(bytes);
        }
        if let Some(addr) = self.listen {
            builder = builder.listen(addr);
        }
        if let Some(name) = &self.name {
            builder = builder.name(name.clone());
        }
        for (peer, target) in &self.connect {
            builder = builder.connect(peer.clone(), target);
        }
        builder
    }

    /// Installs a `tracing` subscriber on stderr with `--log-level` (once per process).
    pub fn init_logging(&self) {
        let filter = tracing_subscriber::EnvFilter::try_new(&self.log_level)
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_target(false)
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .try_init();
    }
}

/// Runs an instance of peer `P` configured from the command line, on a single-threaded
/// tokio runtime, until its `main` returns, Ctrl-C, or the loss of a `Single` remote.
///
/// A peer executable's whole `main.rs` can be `fn main() -> loci::Result<()> { loci::run::<app::Node>() }`.
pub fn run<P: Peer>() -> Result<()> {
    run_with::<P>(InstanceArgs::parse_for::<P>())
}

/// Like [`run`], with flags parsed by the caller: an executable with flags of its own
/// flattens [`InstanceArgs`] into its clap parser and passes them here.
pub fn run_with<P: Peer>(args: InstanceArgs) -> Result<()> {
    run_configured::<P>(args, |builder| builder)
}

/// Like [`run_with`], with the builder adjusted by `configure` before the instance starts:
/// an executable supplies the values its module declares without a body
/// ([`Builder::supply`]) from flags of its own here.
///
/// An error is returned, not logged: `fn main() -> loci::Result<()>` prints it once, in words.
pub fn run_configured<P: Peer>(args: InstanceArgs, configure: impl FnOnce(Builder<P>) -> Builder<P>) -> Result<()> {
    args.init_logging();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(Error::Io)?;
    let outcome = runtime.block_on(configure(args.builder::<P>()).run());
    // Blocking tasks (a `main` reading stdin, say) must not keep a finished instance alive.
    runtime.shutdown_background();
    outcome
}
