//! The baseline: the same work written by hand with quinn and postcard, configured like
//! loci (mutual TLS with the same credentials, TLS 1.3 with ring, same keep-alive and idle
//! timeout), the way a careful engineer would write it.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use futures_util::StreamExt;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::mpsc;

use crate::{Payload, Tick};

const ALPN: &[u8] = b"loci-bench-raw";

fn transport() -> Arc<quinn::TransportConfig> {
    Arc::new(transport_config())
}

fn transport_config() -> quinn::TransportConfig {
    let mut transport = quinn::TransportConfig::default();
    transport.keep_alive_interval(Some(Duration::from_millis(500)));
    transport.max_idle_timeout(Some(quinn::IdleTimeout::try_from(Duration::from_secs(2)).unwrap()));
    transport
}

/// The same transport, allowing a remote at most `bidi` bidirectional and `uni`
/// unidirectional streams at once.
pub fn transport_with_streams(bidi: u32, uni: u32) -> Arc<quinn::TransportConfig> {
    let mut transport = transport_config();
    transport.max_concurrent_bidi_streams(bidi.into());
    transport.max_concurrent_uni_streams(uni.into());
    Arc::new(transport)
}

/// Server and client configurations from the instance credentials in `dir`.
pub fn configs(dir: &Path) -> (quinn::ServerConfig, quinn::ClientConfig) {
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(dir.join(loci::credentials::INSTANCE_CERT_FILE))
            .unwrap()
            .map(Result::unwrap)
            .collect();
    let key = PrivateKeyDer::from_pem_file(dir.join(loci::credentials::INSTANCE_KEY_FILE)).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(dir.join("ca.pem")).unwrap() {
        roots.add(ca.unwrap()).unwrap();
    }
    let roots = Arc::new(roots);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::clone(&roots), Arc::clone(&provider))
            .build()
            .unwrap();
    let mut server = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain.clone(), key.clone_key())
        .unwrap();
    server.alpn_protocols = vec![ALPN.to_vec()];
    let mut client = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    client.alpn_protocols = vec![ALPN.to_vec()];
    let mut server =
        quinn::ServerConfig::with_crypto(Arc::new(quinn::crypto::rustls::QuicServerConfig::try_from(server).unwrap()));
    server.transport_config(transport());
    let mut client =
        quinn::ClientConfig::new(Arc::new(quinn::crypto::rustls::QuicClientConfig::try_from(client).unwrap()));
    client.transport_config(transport());
    (server, client)
}

/// A client endpoint that dials with `config`.
pub fn client_endpoint(config: &quinn::ClientConfig) -> quinn::Endpoint {
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(config.clone());
    endpoint
}

/// Dials `addr` and completes the handshake.
pub async fn connect(endpoint: &quinn::Endpoint, addr: SocketAddr) -> quinn::Connection {
    endpoint.connect(addr, "loci.cluster").unwrap().await.unwrap()
}

/// An echo server: every bidirectional stream carries one request and one response.
pub async fn serve_echo(endpoint: quinn::Endpoint) {
    while let Some(incoming) = endpoint.accept().await {
        tokio::spawn(async move {
            let Ok(connection) = incoming.await else { return };
            while let Ok((mut send, mut recv)) = connection.accept_bi().await {
                tokio::spawn(async move {
                    let Ok(request) = recv.read_to_end(1024).await else { return };
                    let Ok(payload) = postcard::from_bytes::<Payload>(&request) else { return };
                    let response = postcard::to_allocvec(&payload).unwrap();
                    let _ = send.write_all(&response).await;
                    let _ = send.finish();
                });
            }
        });
    }
}

/// One request on its own stream.
pub async fn call(connection: &quinn::Connection, payload: &Payload) -> Payload {
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    send.write_all(&postcard::to_allocvec(payload).unwrap()).await.unwrap();
    send.finish().unwrap();
    postcard::from_bytes(&recv.read_to_end(1024).await.unwrap()).unwrap()
}

/// Sends every tick queued on `queue` over one unidirectional stream of `connection`,
/// length-prefixed, gathering what is queued into one write.
pub async fn drain_ticks(connection: quinn::Connection, mut queue: mpsc::Receiver<Tick>) {
    let Ok(mut send) = connection.open_uni().await else { return };
    let mut buffer = BytesMut::with_capacity(64 * 1024);
    let mut encoded = [0u8; 64];
    let mut push = |buffer: &mut BytesMut, tick: &Tick| {
        let bytes = postcard::to_slice(tick, &mut encoded).unwrap();
        buffer.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        buffer.extend_from_slice(bytes);
    };
    while let Some(tick) = queue.recv().await {
        push(&mut buffer, &tick);
        while buffer.len() < 64 * 1024 {
            match queue.try_recv() {
                Ok(tick) => push(&mut buffer, &tick),
                Err(_) => break,
            }
        }
        if send.write_chunk(buffer.split().freeze()).await.is_err() {
            return;
        }
    }
}

/// Receives ticks from the first unidirectional stream of `connection`, calling `on_tick`.
pub async fn receive_ticks(connection: quinn::Connection, mut on_tick: impl FnMut(Tick)) {
    let Ok(recv) = connection.accept_uni().await else { return };
    let codec = tokio_util_codec();
    let mut frames = tokio_util::codec::FramedRead::new(recv, codec);
    while let Some(Ok(frame)) = frames.next().await {
        on_tick(postcard::from_bytes(&frame).unwrap());
    }
}

fn tokio_util_codec() -> tokio_util::codec::LengthDelimitedCodec {
    tokio_util::codec::LengthDelimitedCodec::builder().length_field_length(4).max_frame_length(1 << 20).new_codec()
}
