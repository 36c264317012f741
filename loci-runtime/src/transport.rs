//! The QUIC transport: quinn endpoints configured for mutual TLS and fast failure detection.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::credentials;
use crate::error::Error;

/// ALPN protocol id; a QUIC peer that is not loci fails the TLS handshake.
const ALPN: &[u8] = b"loci/1";

/// How the instance authenticates itself and its remotes.
#[derive(Debug, Clone)]
pub enum Security {
    /// Mutual TLS with the cluster credentials in this directory.
    Credentials(std::path::PathBuf),
    /// Encryption without authentication. Any process can connect. Local experiments only.
    Insecure,
}

/// Timing of liveness checks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Liveness {
    pub idle_timeout: Duration,
}

impl Liveness {
    fn transport(self) -> Result<Arc<quinn::TransportConfig>, Error> {
        let mut transport = quinn::TransportConfig::default();
        // Keep-alives every eighth of the idle timeout: a remote that stalls for up to seven
        // eighths of it goes unnoticed, and a dead one is noticed within nine eighths (sending
        // a keep-alive after the last packet received restarts the idle timer once).
        transport.keep_alive_interval(Some(self.idle_timeout / 8));
        let idle = quinn::IdleTimeout::try_from(self.idle_timeout)
            .map_err(|_| Error::Config(format!("idle timeout {:?} is too large", self.idle_timeout)))?;
        transport.max_idle_timeout(Some(idle));
        Ok(Arc::new(transport))
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_error(error: impl std::fmt::Display) -> Error {
    Error::Credentials(format!("TLS configuration: {error}"))
}

/// Opens the instance's endpoint: it accepts on `listen` (if given) and dials from the same socket.
pub(crate) fn endpoint(
    listen: Option<SocketAddr>,
    security: &Security,
    liveness: Liveness,
) -> Result<quinn::Endpoint, Error> {
    let transport = liveness.transport()?;
    let (server, client) = match security {
        Security::Credentials(dir) => verified_configs(dir)?,
        Security::Insecure => insecure_configs()?,
    };
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(QuicServerConfig::try_from(server).map_err(tls_error)?));
    server.transport_config(Arc::clone(&transport));
    let mut client = quinn::ClientConfig::new(Arc::new(QuicClientConfig::try_from(client).map_err(tls_error)?));
    client.transport_config(transport);

    let mut endpoint = match listen {
        Some(addr) => quinn::Endpoint::server(server, addr).map_err(|source| Error::Bind { addr, source })?,
        None => {
            let addr = SocketAddr::from(([0, 0, 0, 0], 0));
            quinn::Endpoint::client(addr).map_err(|source| Error::Bind { addr, source })?
        }
    };
    endpoint.set_default_client_config(client);
    Ok(endpoint)
}

fn verified_configs(dir: &Path) -> Result<(rustls::ServerConfig, rustls::ClientConfig), Error> {
    let creds = credentials::load(dir)?;
    let roots = Arc::new(creds.roots);
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::clone(&roots), provider()).build().map_err(tls_error)?;
    let mut server = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls_error)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(creds.chain.clone(), creds.key.clone_key())
        .map_err(tls_error)?;
    server.alpn_protocols = vec![ALPN.to_vec()];
    let mut client = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls_error)?
        .with_root_certificates(roots)
        .with_client_auth_cert(creds.chain, creds.key)
        .map_err(tls_error)?;
    client.alpn_protocols = vec![ALPN.to_vec()];
    Ok((server, client))
}

fn insecure_configs() -> Result<(rustls::ServerConfig, rustls::ClientConfig), Error> {
    let (chain, key) = credentials::ephemeral()?;
    let mut server = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls_error)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(tls_error)?;
    server.alpn_protocols = vec![ALPN.to_vec()];
    let mut client = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls_error)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyServer(provider())))
        .with_no_client_auth();
    client.alpn_protocols = vec![ALPN.to_vec()];
    Ok((server, client))
}

/// Accepts any server certificate but still checks handshake signatures: `--insecure` only.
#[derive(Debug)]
struct AcceptAnyServer(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
