//! The QUIC transport: quinn endpoints configured for mutual TLS and fast failure detection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};

use crate::credentials::{self, Credentials, DenyList};
use crate::error::Error;
use crate::wire::handshake::Grant;

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

/// The QUIC settings of an instance's connections: liveness checks and how much a remote may
/// make this side buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QuicSettings {
    pub idle_timeout: Duration,
    /// The most bytes QUIC buffers for one connection that this side has not read yet, once
    /// its window grew (it starts at [`crate::inbound::BASE_WINDOW`]).
    pub max_window: u32,
}

impl QuicSettings {
    fn transport(self) -> Result<Arc<quinn::TransportConfig>, Error> {
        let mut transport = quinn::TransportConfig::default();
        // Keep-alives every eighth of the idle timeout: a remote that stalls for up to seven
        // eighths of it goes unnoticed, and a dead one is noticed within nine eighths (sending
        // a keep-alive after the last packet received restarts the idle timer once).
        transport.keep_alive_interval(Some(self.idle_timeout / 8));
        let idle = quinn::IdleTimeout::try_from(self.idle_timeout)
            .map_err(|_| Error::Config(format!("idle timeout {:?} is too large", self.idle_timeout)))?;
        transport.max_idle_timeout(Some(idle));
        // One bidirectional stream per connection, opened by the dialler, and no other: a
        // remote cannot make this side buffer data on streams nobody reads.
        transport.max_concurrent_bidi_streams(1u32.into());
        transport.max_concurrent_uni_streams(0u32.into());
        // What a remote can make QUIC hold for this side while the reader does not read (it
        // waits for the budget of a large frame, or for a slow subscriber): the connection's
        // flow-control window. It starts small; the reader grows it for a remote that sends
        // fast, within a process-wide budget (`inbound`). The stream's own window is the
        // most the connection's may grow to, so it never limits first.
        transport.stream_receive_window(quinn::VarInt::from_u32(self.max_window));
        transport.receive_window(quinn::VarInt::from_u32(crate::inbound::BASE_WINDOW));
        Ok(Arc::new(transport))
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_error(error: impl std::fmt::Display) -> Error {
    Error::Credentials(format!("TLS configuration: {error}"))
}

/// What an endpoint runs with: its QUIC configurations, and, with credentials, what its own
/// certificate grants and the certificates it refuses.
pub(crate) struct Tls {
    server: quinn::ServerConfig,
    client: quinn::ClientConfig,
    /// The stateless reset and connection id keys, derived from the instance key.
    keys: Option<(Vec<u8>, Vec<u8>)>,
    /// What the instance's own certificate grants; `None` when insecure.
    pub grant: Option<Grant>,
    /// The certificates refused at the TLS handshake.
    pub deny: DenyList,
}

impl Tls {
    /// The configurations for `security`.
    pub fn new(security: &Security, settings: QuicSettings) -> Result<Self, Error> {
        let transport = settings.transport()?;
        let (server, client, keys, grant, deny) = match security {
            Security::Credentials(dir) => {
                let creds = credentials::load(dir)?;
                // A restarted instance derives the same keys from its key.
                let derive = |label: &[u8]| {
                    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
                    digest.update(label);
                    digest.update(creds.key.secret_der());
                    digest.finish().as_ref().to_vec()
                };
                let keys = (derive(b"loci stateless reset key"), derive(b"loci connection id key"));
                let grant = creds.grant.clone();
                let deny = creds.deny.clone();
                let (server, client) = verified_configs(creds)?;
                (server, client, Some(keys), Some(grant), deny)
            }
            Security::Insecure => {
                let (server, client) = insecure_configs()?;
                (server, client, None, None, DenyList::default())
            }
        };
        let mut server =
            quinn::ServerConfig::with_crypto(Arc::new(QuicServerConfig::try_from(server).map_err(tls_error)?));
        server.transport_config(Arc::clone(&transport));
        let mut client = quinn::ClientConfig::new(Arc::new(QuicClientConfig::try_from(client).map_err(tls_error)?));
        client.transport_config(transport);
        Ok(Tls { server, client, keys, grant, deny })
    }

    /// Makes `endpoint` accept new connections with these configurations (a reload); the
    /// ones that run keep theirs. Dialling takes [`Tls::client`] for each connection.
    pub fn install(&self, endpoint: &quinn::Endpoint, listening: bool) {
        if listening {
            endpoint.set_server_config(Some(self.server.clone()));
        }
    }

    /// The configuration to dial with.
    pub fn client(&self) -> quinn::ClientConfig {
        self.client.clone()
    }
}

/// Opens the instance's endpoint: it accepts on `listen` (if given) and dials from the same
/// socket, a UDP socket or one on a simulated `network`.
pub(crate) fn endpoint(
    listen: Option<SocketAddr>,
    tls: &Tls,
    #[cfg(feature = "testing")] network: Option<&crate::testing::Network>,
) -> Result<quinn::Endpoint, Error> {
    // A stateless reset must be recognisable by remotes of the process that ran before on the
    // same address: with a reset key derived from the instance key, a restarted instance
    // resets its predecessor's connections at their next packet, so remotes notice at once
    // and dial again. The connection ids it issued must pass its successor's check too, or
    // the successor drops their packets instead of resetting them.
    let config = match &tls.keys {
        Some((reset, cid)) => {
            let mut config = quinn::EndpointConfig::new(Arc::new(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, reset)));
            let cid_key = cid.iter().take(8).fold(0u64, |key, byte| key << 8 | u64::from(*byte));
            config.cid_generator(move || Box::new(quinn_proto::HashedConnectionIdGenerator::from_key(cid_key)));
            config
        }
        None => quinn::EndpointConfig::default(),
    };
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| Error::Config("loci's QUIC endpoint needs a tokio runtime".to_owned()))?;
    let runtime: Arc<dyn quinn::Runtime> = Arc::new(InstanceRuntime(runtime));
    let server = listen.is_some().then(|| tls.server.clone());
    #[cfg(feature = "testing")]
    if let Some(network) = network {
        let mut config = config;
        // QUIC's own randomness (padding, skipped packet numbers) from the network's seed.
        config.rng_seed(Some(network.endpoint_seed()));
        let addr = listen.unwrap_or_else(|| network.address());
        return quinn::Endpoint::new_with_abstract_socket(config, server, network.bind(addr), runtime)
            .map_err(|source| Error::Bind { addr, source });
    }
    let addr = listen.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    let socket = std::net::UdpSocket::bind(addr).map_err(|source| Error::Bind { addr, source })?;
    quinn::Endpoint::new(config, server, socket, runtime).map_err(|source| Error::Bind { addr, source })
}

/// quinn's tokio runtime, pinned to the instance's runtime: connections dialled from another
/// runtime (a test's, a caller's thread) are still driven by the instance, and do not die with
/// the runtime they were dialled from.
#[derive(Debug)]
struct InstanceRuntime(tokio::runtime::Handle);

impl quinn::Runtime for InstanceRuntime {
    fn new_timer(&self, at: std::time::Instant) -> std::pin::Pin<Box<dyn quinn::AsyncTimer>> {
        let _runtime = self.0.enter();
        quinn::TokioRuntime.new_timer(at)
    }

    fn spawn(&self, future: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>) {
        self.0.spawn(future);
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> std::io::Result<Arc<dyn quinn::AsyncUdpSocket>> {
        let _runtime = self.0.enter();
        quinn::TokioRuntime.wrap_udp_socket(socket)
    }

    fn now(&self) -> std::time::Instant {
        quinn::TokioRuntime.now()
    }
}

fn verified_configs(creds: Credentials) -> Result<(rustls::ServerConfig, rustls::ClientConfig), Error> {
    let roots = Arc::new(creds.roots);
    let deny = Arc::new(creds.deny);
    let clients = RefuseDenied {
        inner: WebPkiClientVerifier::builder_with_provider(Arc::clone(&roots), provider())
            .build()
            .map_err(tls_error)?,
        deny: Arc::clone(&deny),
    };
    let servers = RefuseDenied {
        inner: WebPkiServerVerifier::builder_with_provider(roots, provider()).build().map_err(tls_error)?,
        deny,
    };
    let mut server = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls_error)?
        .with_client_cert_verifier(Arc::new(clients))
        .with_single_cert(creds.chain.clone(), creds.key.clone_key())
        .map_err(tls_error)?;
    server.alpn_protocols = vec![ALPN.to_vec()];
    let mut client = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls_error)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(servers))
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

/// A verifier of the cluster CA's certificates that also refuses the certificates on the deny
/// list, so a revoked instance fails at the TLS handshake, before it sends anything.
#[derive(Debug)]
struct RefuseDenied<V: ?Sized> {
    inner: Arc<V>,
    deny: Arc<DenyList>,
}

impl<V: ?Sized> RefuseDenied<V> {
    fn check(&self, end_entity: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        if self.deny.denies(end_entity) {
            return Err(rustls::Error::InvalidCertificate(CertificateError::Revoked));
        }
        Ok(())
    }
}

impl ClientCertVerifier for RefuseDenied<dyn ClientCertVerifier> {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self.inner.verify_client_cert(end_entity, intermediates, now)?;
        self.check(end_entity)?;
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

impl ServerCertVerifier for RefuseDenied<WebPkiServerVerifier> {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)?;
        self.check(end_entity)?;
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
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
