//! Loading an instance's credentials again while it runs, on SIGHUP or when one of its files
//! changes: a renewed certificate, a new CA, or a longer deny list take effect without a
//! restart. Connections of certificates the deny list now names are closed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::connection::CLOSE_REFUSED;
use crate::here::Here;
use crate::placement::Peer;
use crate::transport::{QuicSettings, Security, Tls};

/// How often the credentials' files are checked for changes.
pub(crate) const POLL: Duration = Duration::from_secs(1);

/// Watches the credentials in `dir` for as long as the task runs.
pub(crate) async fn watch<P: Peer>(here: Here<P>, dir: PathBuf, settings: QuicSettings, listening: bool) {
    let mut hangups = hangups();
    let mut seen = crate::credentials::modified(&dir);
    loop {
        let asked = tokio::select! {
            asked = next_hangup(&mut hangups) => asked,
            () = tokio::time::sleep(POLL) => false,
        };
        let now = crate::credentials::modified(&dir);
        if !asked && now == seen {
            continue;
        }
        seen = now;
        reload(&here, &dir, settings, listening);
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
/// the ones it runs with, and says why.
fn reload<P: Peer>(here: &Here<P>, dir: &Path, settings: QuicSettings, listening: bool) {
    let core = &here.core;
    let tls = match Tls::new(&Security::Credentials(dir.to_owned()), settings) {
        Ok(tls) => tls,
        Err(error) => {
            tracing::warn!("{} \"{}\" keeps its credentials: loading them again failed: {error}", P::NAME, core.name);
            return;
        }
    };
    if let Some(grant) = tls.grant.as_ref().filter(|grant| !grant.allows(P::NAME, &core.name)) {
        tracing::warn!(
            "{} \"{}\" keeps its credentials: the new certificate grants {:?} to instance `{}`",
            P::NAME,
            core.name,
            grant.peers,
            grant.instance
        );
        return;
    }
    let Some(endpoint) = core.endpoint.get() else { return };
    tls.install(endpoint, listening);
    *crate::core::lock(&core.client_config) = Some(tls.client());
    let mut closed = 0;
    for connection in core.all_connections() {
        let certificate = connection
            .quic
            .peer_identity()
            .and_then(|identity| identity.downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>().ok());
        if certificate.as_deref().and_then(|chain| chain.first()).is_some_and(|leaf| tls.deny.denies(leaf)) {
            tracing::warn!(remote = %connection.info, "closing the connection: its certificate is on the deny list");
            connection.quic.close(CLOSE_REFUSED.into(), b"its certificate is on the deny list");
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
}
