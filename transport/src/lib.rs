//! Framed, multiplexed, zero-copy RPC over TCP.
//!
//! The protocol lives in [`proto`], a sans-IO core of state machines; backends only move bytes:
//! - [`uring`] (Linux): a synchronous client whose calling thread drives its own io_uring, and a
//!   multishot-accept, multishot-receive server.
//! - [`tokio`]: the same protocol for async applications and platforms without io_uring.
//!
//! Payloads handed to services and callers are [`bytes::Bytes`] that point into the receive
//! buffer, 16-aligned, so rkyv archives can be read in place.

pub mod channel;
pub mod config;
pub mod conversation;
pub mod error;
pub mod loopback;
pub mod proto;
pub mod service;
pub mod socket;
#[cfg(feature = "tokio")]
pub mod tokio;
#[cfg(all(feature = "uring", target_os = "linux"))]
pub mod uring;

pub use channel::{AsyncChannel, Channel};
pub use config::Config;
pub use error::{ErrorCode, FrameError, HandshakeError, RemoteError};
pub use loopback::LoopbackChannel;
pub use proto::{CallId, FrameKind, MethodId};
pub use service::{Echo, Service, ServiceError, dispatch};
