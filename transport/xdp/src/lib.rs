//! Hatch RPC over datagrams, in the style of eRPC: a user-space reliability layer under the
//! unchanged Hatch protocol core, so the same generated proxies and services run over TCP
//! ([`hatch_transport::uring`], or hatch-transport's tokio backend) or over datagrams.
//!
//! Layers, from the wire up:
//! - [`session`]: sans-IO reliable, ordered byte streams over an unreliable datagram path
//!   (packetisation, credits, acks, retransmission, congestion response, duplicate suppression).
//! - [`endpoint`]: the Hatch client and server state machines over sessions, still sans-IO.
//! - Drivers that only move datagrams: [`udp`] (portable, always built) and `xdp` (AF_XDP
//!   kernel bypass, Linux only, behind the `af-xdp` feature), with [`wire`] building and checking
//!   the Ethernet/IPv4/UDP headers the kernel no longer does.
//! - [`select`]: the transport chosen by configuration (io_uring TCP, UDP, AF_XDP) behind one
//!   [`hatch_transport::Channel`] / [`hatch_transport::Service`] pair.
//! - [`sim`]: a faulty in-memory link with a simulated clock for tests; [`netns`]: a veth pair
//!   between two network namespaces for tests and benchmarks as root.
//!
//! `README.md` has the design summary, the benchmark figures with their command, and how to run
//! the benchmark on two machines with real NICs.
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//! use hatch_transport::{Channel, Config, Echo};
//! use hatch_xdp::udp;
//!
//! let server = udp::Server::bind("127.0.0.1:0".parse().unwrap(), udp::ServerOptions::default(), Arc::new(Echo))?;
//! let client = udp::Client::connect(server.local_addr(), udp::ClientOptions::default())?;
//! assert_eq!(&client.call(1, b"ping", None)?[..], b"ping");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

pub mod endpoint;
pub mod error;
#[cfg(target_os = "linux")]
pub mod netns;
pub mod select;
pub mod session;
pub mod sim;
pub mod udp;
pub mod wire;
#[cfg(all(feature = "af-xdp", target_os = "linux"))]
pub mod xdp;

pub use endpoint::{ClientEndpoint, ServerEndpoint};
pub use error::{DriverError, PacketError, SessionError};
pub use session::{Session, SessionConfig};
