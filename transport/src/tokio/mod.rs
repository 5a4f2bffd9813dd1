//! The tokio backend: the protocol core of [`crate::proto`] driven by tokio sockets and tasks.
//!
//! # Client ([`Client`])
//!
//! One TCP connection carries every call made through a [`Client`] and its clones. The
//! [`ClientConnection`](crate::proto::ClientConnection) core sits behind a `parking_lot` mutex
//! that is only held for short, non-blocking steps (never across an `.await`), and two tasks move
//! its bytes:
//!
//! - the **writer** sleeps while the outbox is empty. Woken by a call, it takes everything queued
//!   ([`poll_transmit`](crate::proto::ClientConnection::poll_transmit)) and writes it with one
//!   `write_all`. Calls made while that write is in flight pile up in the outbox and leave together
//!   in the next write: request bursting, without any timer or Nagle delay.
//! - the **reader** reads straight into the core's receive buffer (no staging copy: the read
//!   fills the buffer's spare capacity while the lock is held for that one non-blocking `read`),
//!   decodes every complete frame, and completes each finished call's `oneshot`.
//!
//! A call's future owns its deadline: it races its `oneshot` against a tokio timer, and when the
//! timer wins, or when the future is dropped, it [`abandon`](crate::proto::ClientConnection::abandon)s
//! the call so a late reply is discarded. Deadlines therefore cost one timer-wheel entry per call
//! and nothing in the connection's tasks.
//!
//! When the connection fails (read or write error, end of stream, protocol violation, `GoAway`),
//! the core fails every pending call with that error, the tasks end, and later calls fail at once
//! with the same error.
//!
//! # Server ([`Server`], [`serve`])
//!
//! One task per connection. It reads into the core's receive buffer, takes every complete request
//! ([`poll_request`](crate::proto::ServerConnection::poll_request)), runs each on the [`Service`]
//! inline ([`dispatch`]), and writes all replies queued by that read in one write (reply
//! batching). Reads and writes run concurrently in a `select!`, so a peer that pipelines many
//! requests while it reads replies never deadlocks against us; but while more than
//! [`Config::outbox_high_water`] reply bytes are queued the task stops reading (and stops
//! dispatching), which pushes back through TCP flow control onto the client.
//!
//! Services run on the runtime's worker threads: a slow service holds a worker for as long as it
//! runs, so give the runtime enough workers (or make slow services hand work off).
//!
//! A protocol violation closes only the offending connection: its `GoAway` is written best
//! effort, the violation is logged with `tracing::warn!`, and the task ends.
//!
//! # Blocking callers ([`BlockingClient`])
//!
//! [`BlockingClient`] implements the blocking [`Channel`](crate::Channel) trait by blocking on a
//! [`Client`] from threads outside the runtime.
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//!
//! use hatch_transport::tokio::{Client, Server};
//! use hatch_transport::{AsyncChannel, Config, Echo};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = tokio::runtime::Runtime::new()?;
//! runtime.block_on(async {
//!     let server = Server::bind("127.0.0.1:0", Config::default(), Arc::new(Echo)).await?;
//!     let client = Client::connect(server.local_addr(), Config::default()).await?;
//!     let reply = client.call(1, b"ping", None).await?;
//!     assert_eq!(&reply[..], b"ping");
//!     client.send_one_way(1, b"fire and forget")?;
//!     client.flush().await?;
//!     server.shutdown().await;
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })?;
//! # Ok(())
//! # }
//! ```
//!
//! [`Service`]: crate::Service
//! [`dispatch`]: crate::dispatch
//! [`Config::outbox_high_water`]: crate::Config::outbox_high_water

mod blocking;
mod client;
mod server;

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use ::tokio::io::{AsyncRead, ReadBuf};

pub use blocking::BlockingClient;
pub use client::Client;
pub use server::{Server, serve};

use crate::proto::RecvBuf;

/// Smallest room offered to one read, so small frames are read in batches and not one by one.
const MIN_READ: usize = 4096;

/// Reads once from `reader` straight into the spare capacity of `buf` (offering at least `min`
/// bytes of room) and commits what arrived. `Ok(0)` means end of stream.
fn poll_read_into<R: AsyncRead + Unpin>(
    cx: &mut Context<'_>,
    reader: &mut R,
    buf: &mut RecvBuf,
    min: usize,
) -> Poll<io::Result<usize>> {
    let spare = buf.spare_capacity_mut(min.max(MIN_READ));
    let start = spare.as_ptr().cast::<u8>();
    let mut read_buf = ReadBuf::uninit(spare);
    ready!(Pin::new(reader).poll_read(cx, &mut read_buf))?;
    let filled = read_buf.filled();
    // A reader could swap in a `ReadBuf` over other memory; then its count says nothing about ours.
    assert!(std::ptr::eq(filled.as_ptr(), start), "AsyncRead replaced the read buffer");
    let n = filled.len();
    // SAFETY: `commit` needs the first `n` bytes of the spare capacity initialised. `ReadBuf`
    // counts bytes as filled only once they are initialised (its `set_filled`/`assume_init` are
    // unsafe), and the assert above shows the filled region starts at the spare capacity's start.
    unsafe { buf.commit(n) };
    Poll::Ready(Ok(n))
}

/// [`poll_read_into`] as a future, for a reader the caller owns outright.
async fn read_into<R: AsyncRead + Unpin>(reader: &mut R, buf: &mut RecvBuf, min: usize) -> io::Result<usize> {
    poll_fn(|cx| poll_read_into(cx, reader, buf, min)).await
}
