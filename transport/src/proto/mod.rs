//! The sans-IO protocol core: framing, handshake, call multiplexing, batching and deadlines as
//! plain state machines. Nothing here touches a socket, a runtime or a clock (time comes in as an
//! argument), so every backend (io_uring, tokio, and a datagram backend) drives the same code,
//! and the tests run it with byte literals and an in-memory pair.

mod call_table;
pub mod client;
pub mod decoder;
pub mod frame;
pub mod handshake;
#[cfg(all(feature = "uring", target_os = "linux"))]
pub(crate) mod id_hash;
pub mod outbox;
pub mod recv_buf;
pub mod server;

#[cfg(test)]
mod tests;

pub use client::{ClientConnection, Completion};
pub use decoder::{Frame, FrameDecoder};
pub use frame::{CallId, FrameHeader, FrameKind, MethodId};
pub use recv_buf::RecvBuf;
pub use server::{ConnectionError, Request, ServerConnection};
