//! Loading an instance's credentials again while it runs, on SIGHUP or when one of its files
//! changes: a renewed certificate, a new CA, or a longer deny list take effect without a
//! restart. Connections of certificates the deny list now names are closed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use std::sync::Arc;

use crate::connection::{is_denied, CLOSE_REFUSED, DENIED};
use crate::here::Here;
use crate::placement::Peer;
use crate::transport::{QuicSettings, Security, Tls};

/// How often the credentials' files are checked for changes.
pub(crate) const POLL: Duration = Duration::from_secs(1);

/// The modification times of an instance's credentials, as [`watch`] compares them.
pub(crate) type Seen = Vec<Option<std::time::SystemTime>>;

/// Watches the credentials in `dir`, last loaded when their files were as `seen` says, for as
/// long as the task runs. Credentials that did not load are tried again at the next poll
/// (a file may have been caught half written), with a warning once per state of the files.
pub(crate) async fn watch<P: Peer>(here: Here<P>, dir: PathBuf, settings: QuicSettings, listening: bool, seen: Seen) {
    let mut hangups = hangups();
    let mut loaded = seen;
    let mut failed: Option<Seen> = None;
    loop {
        let asked = tokio::select! {
            asked = next_hangup(&mut hangups) => asked,
            () = tokio::time::sleep(POLL) => false,
        };
        let now = crate::credentials::modified(&dir);
        if !asked && now == loaded {
            continue;
        }
        match reload(&here, &dir, settings, listening) {
            Ok(()) => {
                loaded = now;
                failed = None;
            }
            Err(why) => {
                if asked || failed.as_ref() != Some(&now) {
                    tracing::warn!("{} \"{}\" keeps its credentials: {why}", P::NAME, here.core.name);
                }
                failed = Some(now);
            }
        }
    }
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = Option<()>;

fn hangups() -> Hangups {
    #[cfg(unix)]
    {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
    }
    #[cfg(not(unix))]
    None
}

/// Waits for the next SIGHUP; never returns where there are none.
async fn next_hangup(hangups: &mut Hangups) -> bool {
    #[cfg(unix)]
    if let Some(signals) = hangups {
        return signals.recv().await.is_some();
    }
    let _ = hangups;
    std::future::pending().await
}

/// Loads the credentials in `dir` and makes new connections use them. Credentials that do not
/// load, or that would not let this instance be what it is, are refused: the instance keeps
/// the ones it runs with, and the error says why.
fn reload<P: Peer>(here: &Here<P>, dir: &Path, settings: QuicSettings, listening: bool) -> Result<(), String> {
    let core = &here.core;
    let tls = Tls::new(&Security::Credentials(dir.to_owned()), settings)
        .map_err(|error| format!("loading them again failed: {error}"))?;
    if let Some(grant) = tls.grant.as_ref().filter(|grant| !grant.allows(P::NAME, &core.name)) {
        return Err(format!("the new certificate grants {:?} to instance `{}`", grant.peers, grant.instance));
    }
    let Some(endpoint) = core.endpoint.get() else { return Ok(()) };
    tls.install(endpoint, listening);
    *crate::core::lock(&core.client_config) = Some(tls.client());
    // The list first, then the connections registered by now; one registered later checks
    // the new list itself.
    *crate::core::lock(&core.deny) = Arc::new(tls.deny.clone());
    let mut closed = 0;
    for connection in core.all_connections() {
        if is_denied(core, &connection.quic) {
            tracing::warn!(remote = %connection.info, "closing the connection: {DENIED}");
            connection.quic.close(CLOSE_REFUSED.into(), DENIED.as_bytes());
            closed += 1;
        }
    }
    tracing::info!(
        "{} \"{}\" loaded its credentials again from {} ({} certificate(s) denied, {closed} connection(s) closed)",
        P::NAME,
        core.name,
        dir.display(),
        tls.deny.len()
    );
    Ok(())
}
