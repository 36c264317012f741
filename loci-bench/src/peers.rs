//! What a Rust user would pick instead of loci, doing the same echo: tarpc over TCP (bincode),
//! tonic (gRPC over HTTP/2, prost),
//! and the floor under every RPC on this machine, a UDP ping-pong of the same 16 bytes.

use std::net::SocketAddr;

use futures_util::StreamExt;
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

/// Serves the tarpc echo on a loopback port until the process ends; its address. Like
/// `tarpc::serde_transport::tcp::listen`, with `TCP_NODELAY` set on every connection, as for
/// every other TCP peer here.
pub async fn serve_tarpc() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a tarpc listener");
    let addr = listener.local_addr().expect("its address");
    tokio::spawn(async move {
        // A failed accept (out of descriptors, say) is skipped, as tarpc's `Incoming` does.
        let accepted = futures_util::stream::unfold(listener, |listener| async move {
            loop {
                if let Ok((stream, _)) = listener.accept().await {
                    return Some((stream, listener));
                }
            }
        });
        accepted
            .map(|stream| server::BaseChannel::with_defaults(tarpc_transport(stream)))
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

/// A TCP stream framed as tarpc's TCP transport frames it (length-delimited bincode).
fn tarpc_transport<Item, SinkItem>(
    stream: tokio::net::TcpStream,
) -> tarpc::serde_transport::Transport<tokio::net::TcpStream, Item, SinkItem, Bincode<Item, SinkItem>>
where
    Item: for<'de> serde::Deserialize<'de>,
    SinkItem: serde::Serialize,
{
    stream.set_nodelay(true).expect("TCP_NODELAY");
    let framing = tokio_util::codec::LengthDelimitedCodec::builder().max_frame_length(1 << 20).new_codec();
    tarpc::serde_transport::new(tokio_util::codec::Framed::new(stream, framing), Bincode::default())
}

/// A tarpc client connected to `addr`.
pub async fn tarpc_client(addr: SocketAddr) -> EchoClient {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("a tarpc connection");
    EchoClient::new(tarpc::client::Config::default(), tarpc_transport(stream)).spawn()
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

/// The echo service as tonic (gRPC over HTTP/2) users write one. `tonic-build` would generate
/// this from a `.proto` file; it is written out here because the build machine has no
/// `protoc`, and it is what the generator emits for one unary method: prost messages, a
/// `Grpc` with `ProstCodec` on both ends, and a router entry under `/bench.Echo/Echo`.
pub mod grpc {
    use std::convert::Infallible;
    use std::net::SocketAddr;
    use std::task::{Context, Poll};

    use tonic::codegen::{http, BoxFuture, Service};
    use tonic::{Request, Response, Status};

    use crate::Payload;

    /// The message both ways: `message Echo { bytes payload = 1; }`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct EchoMessage {
        /// The 16-byte payload.
        #[prost(bytes = "vec", tag = "1")]
        pub payload: Vec<u8>,
    }

    const PATH: &str = "/bench.Echo/Echo";

    /// The server side: routes `/bench.Echo/Echo` to an echo.
    #[derive(Clone)]
    struct EchoServer;

    impl tonic::server::NamedService for EchoServer {
        const NAME: &'static str = "bench.Echo";
    }

    /// The unary method itself.
    struct EchoMethod;

    impl tonic::server::UnaryService<EchoMessage> for EchoMethod {
        type Response = EchoMessage;
        type Future = std::future::Ready<Result<Response<EchoMessage>, Status>>;

        fn call(&mut self, request: Request<EchoMessage>) -> Self::Future {
            std::future::ready(Ok(Response::new(request.into_inner())))
        }
    }

    impl Service<http::Request<tonic::body::Body>> for EchoServer {
        type Response = http::Response<tonic::body::Body>;
        type Error = Infallible;
        type Future = BoxFuture<Self::Response, Infallible>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
            if request.uri().path() != PATH {
                return Box::pin(async { Ok(Status::unimplemented("no such method").into_http()) });
            }
            Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::default());
                Ok(grpc.unary(EchoMethod, request).await)
            })
        }
    }

    /// Serves the gRPC echo on a loopback port until the process ends; its address.
    pub async fn serve() -> SocketAddr {
        let incoming = tonic::transport::server::TcpIncoming::bind("127.0.0.1:0".parse().unwrap())
            .expect("a gRPC listener")
            .with_nodelay(Some(true));
        let addr = incoming.local_addr().expect("its address");
        tokio::spawn(tonic::transport::Server::builder().add_service(EchoServer).serve_with_incoming(incoming));
        addr
    }

    /// A gRPC client on one HTTP/2 connection to `addr`; clones share the connection.
    #[derive(Clone)]
    pub struct EchoClient(tonic::client::Grpc<tonic::transport::Channel>);

    impl EchoClient {
        /// Connects to the server at `addr`.
        pub async fn connect(addr: SocketAddr) -> Self {
            let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
                .expect("a gRPC endpoint")
                .tcp_nodelay(true)
                .connect()
                .await
                .expect("a gRPC connection");
            EchoClient(tonic::client::Grpc::new(channel))
        }

        /// One echo through gRPC.
        pub async fn call(&self, payload: &Payload) -> Payload {
            let mut grpc = self.0.clone();
            grpc.ready().await.expect("a ready gRPC channel");
            let request = Request::new(EchoMessage { payload: payload.to_vec() });
            let path = http::uri::PathAndQuery::from_static(PATH);
            let answer: Response<EchoMessage> =
                grpc.unary(request, path, tonic_prost::ProstCodec::default()).await.expect("a gRPC answer");
            answer.into_inner().payload.as_slice().try_into().expect("a 16-byte answer")
        }
    }
}
