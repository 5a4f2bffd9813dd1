//! The conformance suite for `hatch_transport::uring`: the io_uring server with two threads and
//! the shareable io_uring client.

#![cfg(all(feature = "uring", target_os = "linux"))]

mod raw_peer;
mod suite;

use std::net::SocketAddr;
use std::sync::Arc;

use hatch_transport::uring::{Client, Server};
use hatch_transport::{Channel, Config, RemoteError, Service};

struct UringBackend;

impl suite::Backend for UringBackend {
    const NAME: &'static str = "io_uring";
    type Server = Server;

    fn serve(service: Arc<dyn Service>, config: Config) -> (Self::Server, SocketAddr) {
        let server = Server::bind("127.0.0.1:0".parse().unwrap(), config, service, 2).unwrap();
        let addr = server.local_addr();
        (server, addr)
    }

    fn connect(addr: SocketAddr, config: Config) -> Result<Arc<dyn Channel>, RemoteError> {
        Ok(Arc::new(Client::connect(addr, config)?))
    }

    fn stop(server: Self::Server) {
        server.shutdown();
    }
}

suite::conformance_tests!(UringBackend);
