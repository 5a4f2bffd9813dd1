//! Choosing the transport by configuration: the same [`Channel`] (so the same generated proxies)
//! and the same [`Service`] run over kernel TCP with io_uring, over the UDP driver, or over
//! AF_XDP, depending on a value that can come from a config file.
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//! use hatch_transport::{Channel, Echo};
//! use hatch_xdp::select::{ClientTransport, ServerTransport};
//!
//! let server = ServerTransport::Udp { addr: "127.0.0.1:0".parse()?, options: Default::default() }
//!     .serve(Arc::new(Echo))?;
//! let channel = ClientTransport::Udp { addr: server.udp_addr().unwrap(), options: Default::default() }.connect()?;
//! assert_eq!(&channel.call(1, b"hi", None)?[..], b"hi");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use hatch_transport::{Channel, Config, Service, uring};

use crate::error::DriverError;
use crate::udp;

/// Which transport a client uses, with its settings.
#[derive(Clone, Debug)]
pub enum ClientTransport {
    /// Kernel TCP through io_uring ([`hatch_transport::uring::Client`]).
    Uring {
        /// Server address.
        addr: SocketAddr,
        /// RPC settings.
        config: Config,
    },
    /// The UDP driver ([`udp::Client`]).
    Udp {
        /// Server address.
        addr: SocketAddr,
        /// Driver settings.
        options: udp::ClientOptions,
    },
    /// AF_XDP ([`crate::xdp::Client`]); Linux with the `af-xdp` feature.
    #[cfg(all(feature = "af-xdp", target_os = "linux"))]
    Xdp {
        /// Our interface, address, port and settings.
        options: crate::xdp::XdpOptions,
        /// Server address.
        server: std::net::SocketAddrV4,
        /// Server MAC, or `None` to resolve it through ARP.
        server_mac: Option<[u8; 6]>,
    },
}

impl ClientTransport {
    /// Connects, completing the RPC handshake.
    pub fn connect(self) -> Result<Arc<dyn Channel>, DriverError> {
        Ok(match self {
            Self::Uring { addr, config } => Arc::new(uring::Client::connect(addr, config)?),
            Self::Udp { addr, options } => Arc::new(udp::Client::connect(addr, options)?),
            #[cfg(all(feature = "af-xdp", target_os = "linux"))]
            Self::Xdp { options, server, server_mac } => {
                Arc::new(crate::xdp::Client::connect(options, server, server_mac)?)
            }
        })
    }
}

/// Which transport a server uses, with its settings.
#[derive(Clone, Debug)]
pub enum ServerTransport {
    /// Kernel TCP through io_uring.
    Uring {
        /// Address to bind.
        addr: SocketAddr,
        /// RPC settings.
        config: Config,
        /// Server threads.
        threads: usize,
    },
    /// The UDP driver.
    Udp {
        /// Address to bind.
        addr: SocketAddr,
        /// Driver settings.
        options: udp::ServerOptions,
    },
    /// AF_XDP; Linux with the `af-xdp` feature.
    #[cfg(all(feature = "af-xdp", target_os = "linux"))]
    Xdp {
        /// Interface, address, port, queues and settings.
        options: crate::xdp::XdpOptions,
    },
}

/// A running server of any transport; dropping it stops it.
#[derive(Debug)]
pub enum AnyServer {
    /// See [`ServerTransport::Uring`].
    Uring(uring::Server),
    /// See [`ServerTransport::Udp`].
    Udp(udp::Server),
    /// See [`ServerTransport::Xdp`].
    #[cfg(all(feature = "af-xdp", target_os = "linux"))]
    Xdp(crate::xdp::Server),
}

impl ServerTransport {
    /// Starts serving `service`.
    pub fn serve(self, service: Arc<dyn Service>) -> Result<AnyServer, DriverError> {
        Ok(match self {
            Self::Uring { addr, config, threads } => AnyServer::Uring(
                uring::Server::bind(addr, config, service, threads).map_err(DriverError::io("starting the server"))?,
            ),
            Self::Udp { addr, options } => AnyServer::Udp(udp::Server::bind(addr, options, service)?),
            #[cfg(all(feature = "af-xdp", target_os = "linux"))]
            Self::Xdp { options } => AnyServer::Xdp(crate::xdp::Server::bind(options, service)?),
        })
    }
}

impl AnyServer {
    /// The bound address of a UDP server.
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        match self {
            Self::Udp(server) => Some(server.local_addr()),
            _ => None,
        }
    }

    /// The bound address of a socket-based server (io_uring or UDP).
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self {
            Self::Uring(server) => Some(server.local_addr()),
            Self::Udp(server) => Some(server.local_addr()),
            #[cfg(all(feature = "af-xdp", target_os = "linux"))]
            Self::Xdp(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use hatch_transport::Echo;

    use super::*;

    /// Code written against `dyn Channel`, as generated proxies are.
    fn exercise(channel: &dyn Channel) {
        assert_eq!(&channel.call(3, b"same code", None).unwrap()[..], b"same code");
        channel.send_one_way(3, b"x").unwrap();
        channel.flush().unwrap();
    }

    #[test]
    fn the_same_caller_runs_over_tcp_and_udp() {
        let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
        for server in [
            ServerTransport::Uring { addr: local, config: Config::default(), threads: 1 },
            ServerTransport::Udp { addr: local, options: udp::ServerOptions::default() },
        ] {
            let udp = matches!(server, ServerTransport::Udp { .. });
            let running = server.serve(Arc::new(Echo)).unwrap();
            let addr = running.socket_addr().unwrap();
            let client = if udp {
                ClientTransport::Udp { addr, options: udp::ClientOptions::default() }
            } else {
                ClientTransport::Uring { addr, config: Config::default() }
            };
            exercise(&*client.connect().unwrap());
        }
    }
}
