//! What a Rust user would pick instead of loci, doing the same echo: tarpc over TCP (bincode),
//! and the floor under every RPC on this machine, a UDP ping-pong of the same 16 bytes.

use std::net::SocketAddr;

use futures_util::{future, StreamExt};
use tarpc::server::{self, Channel};
use tarpc::tokio_serde::formats::Bincode;

use crate::Payload;

/// The echo service, as tarpc users write one.
#[tarpc::service]
pub trait Echo {
    /// Answers with the payload.
    async fn echo(payload: Payload) -> Payload;
}

#[derive(Clone)]
struct EchoServer;

impl Echo for EchoServer {
    async fn echo(self, _: tarpc::context::Context, payload: Payload) -> Payload {
        payload
    }
}

/// Serves the tarpc echo on a loopback port until the process ends; its address.
pub async fn serve_tarpc() -> SocketAddr {
    let mut listener =
        tarpc::serde_transport::tcp::listen("127.0.0.1:0", Bincode::default).await.expect("a tarpc listener");
    let addr = listener.local_addr();
    listener.config_mut().max_frame_length(1 << 20);
    tokio::spawn(async move {
        listener
            .filter_map(|accepted| future::ready(accepted.ok()))
            .map(server::BaseChannel::with_defaults)
            .map(|channel| {
                channel.execute(EchoServer.serve()).for_each(|response| async move {
                    tokio::spawn(response);
                })
            })
            .buffer_unordered(64)
            .for_each(|_| async {})
            .await;
    });
    addr
}

/// A tarpc client connected to `addr`.
pub async fn tarpc_client(addr: SocketAddr) -> EchoClient {
    let transport = tarpc::serde_transport::tcp::connect(addr, Bincode::default).await.expect("a tarpc connection");
    EchoClient::new(tarpc::client::Config::default(), transport).spawn()
}

/// One echo through tarpc.
pub async fn tarpc_call(client: &EchoClient, payload: &Payload) -> Payload {
    client.echo(tarpc::context::current(), *payload).await.expect("a tarpc answer")
}

/// Echoes every UDP datagram back to its sender, until the process ends; its address.
pub async fn serve_udp() -> SocketAddr {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("a UDP socket");
    let addr = socket.local_addr().expect("its address");
    tokio::spawn(async move {
        let mut buffer = [0u8; 64];
        while let Ok((len, from)) = socket.recv_from(&mut buffer).await {
            let _ = socket.send_to(&buffer[..len], from).await;
        }
    });
    addr
}

/// A UDP socket that talks to `server` only.
pub async fn udp_client(server: SocketAddr) -> tokio::net::UdpSocket {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("a UDP socket");
    socket.connect(server).await.expect("a connected UDP socket");
    socket
}

/// One ping-pong of the payload; loopback does not lose datagrams at one in flight.
pub async fn udp_ping(socket: &tokio::net::UdpSocket, payload: &Payload) -> Payload {
    socket.send(payload).await.expect("a sent datagram");
    let mut answer = [0u8; 16];
    let len = socket.recv(&mut answer).await.expect("an answer");
    assert_eq!(len, 16);
    answer
}
