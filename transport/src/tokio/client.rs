//! The async client: one connection, a writer task and a reader task. See the [module
//! docs](super).

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use ::tokio::io::AsyncWriteExt;
use ::tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use ::tokio::net::{TcpStream, ToSocketAddrs};
use ::tokio::sync::{Notify, oneshot};
use bytes::Bytes;
use parking_lot::Mutex;
use socket2::SockRef;

use super::poll_read_into;
use crate::channel::AsyncChannel;
use crate::config::Config;
use crate::error::RemoteError;
use crate::proto::{CallId, ClientConnection, Completion, MethodId};

type Reply = Result<Bytes, RemoteError>;
/// What the core hands back with a finished call: where its caller waits.
type Token = oneshot::Sender<Reply>;

/// An async connection to one server, shared by any number of tasks. Cloning is cheap (an `Arc`);
/// every clone multiplexes its calls over the same TCP connection.
///
/// The connection closes when the last clone (and the last call future) is dropped: queued
/// one-way calls are written first.
///
/// # Backpressure
///
/// [`AsyncChannel::send_one_way`] is synchronous and queues at once, as the trait promises, so on
/// its own it cannot wait for a slow peer. Producers of long streams of one-way calls bound the
/// memory they use by awaiting [`Client::ready`] before each send (it waits while more than
/// [`Config::outbox_high_water`] bytes are queued), or by awaiting [`AsyncChannel::flush`] every
/// so often. Queued plus in-flight bytes then stay below about twice the high-water mark plus one
/// frame per concurrent producer. [`BlockingClient`](super::BlockingClient)'s `send_one_way` does this for you.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

/// Owned by `Client` handles and call futures; its drop tells the tasks to finish.
struct Inner {
    shared: Arc<Shared>,
}

/// Owned by the tasks too.
struct Shared {
    state: Mutex<State>,
    /// Wakes the writer: bytes were queued, the connection closed, or the client is going away.
    wake_writer: Notify,
    /// Tells the reader to stop (the writer failed or finished).
    stop_reader: Notify,
    /// Wakes every flush and backpressure waiter: the outbox was taken, the writer went idle, or
    /// the connection closed.
    progress: Notify,
}

struct State {
    conn: ClientConnection<Token>,
    /// The writer holds a taken buffer and looks at the outbox again before it sleeps, so callers
    /// need not wake it.
    writing: bool,
    /// Every handle is gone: the writer writes what is queued, then both tasks end.
    dropped: bool,
}

impl Client {
    /// Connects to `addr` (socket options as in [`Client::from_stream`]) and starts the connection's tasks on the current
    /// runtime. The handshake is not awaited: the first calls travel with the hello, and a
    /// handshake failure (such as an interface fingerprint mismatch) fails them.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    /// Fails with [`RemoteError::ConnectTimeout`] when no connection is made within
    /// [`Config::connect_timeout`].
    pub async fn connect(addr: impl ToSocketAddrs, config: Config) -> Result<Self, RemoteError> {
        let timeout = config.connect_timeout;
        let addrs: Vec<std::net::SocketAddr> = ::tokio::net::lookup_host(addr).await?.collect();
        let Some(&first) = addrs.first() else {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address to connect to").into());
        };
        let stream = match ::tokio::time::timeout(timeout, TcpStream::connect(&addrs[..])).await {
            Ok(connected) => connected?,
            Err(_elapsed) => return Err(RemoteError::ConnectTimeout { addr: first, after: timeout }),
        };
        Self::from_stream(stream, config)
    }

    /// Runs the protocol over an already connected stream. TCP_NODELAY is turned on, and
    /// keepalive and a user timeout ([`crate::socket::configure_liveness`]) so that a vanished
    /// peer host fails the pending calls instead of leaving them waiting.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn from_stream(stream: TcpStream, config: Config) -> Result<Self, RemoteError> {
        stream.set_nodelay(true)?;
        crate::socket::configure_liveness(&SockRef::from(&stream))?;
        let (reader, writer) = stream.into_split();
        let shared = Arc::new(Shared {
            state: Mutex::new(State { conn: ClientConnection::new(config), writing: false, dropped: false }),
            wake_writer: Notify::new(),
            stop_reader: Notify::new(),
            progress: Notify::new(),
        });
        ::tokio::spawn(write_loop(shared.clone(), writer));
        ::tokio::spawn(read_loop(shared.clone(), reader));
        Ok(Self { inner: Arc::new(Inner { shared }) })
    }

    /// Resolves once at most [`Config::outbox_high_water`] bytes are queued, so the next one-way
    /// call does not grow the outbox without bound; fails if the connection is closed.
    pub async fn ready(&self) -> Result<(), RemoteError> {
        self.wait_until(|state| {
            state.conn.closed_error().is_some() || state.conn.queued_bytes() <= state.conn.config().outbox_high_water
        })
        .await;
        self.inner.shared.state.lock().conn.closed_error().map_or(Ok(()), Err)
    }

    /// Calls waiting for a reply.
    pub fn in_flight(&self) -> usize {
        self.inner.shared.state.lock().conn.in_flight()
    }

    /// Bytes queued and not yet handed to the socket.
    pub fn queued_bytes(&self) -> usize {
        self.inner.shared.state.lock().conn.queued_bytes()
    }

    /// Frames written and writes made so far: their ratio is the request-bursting factor.
    pub fn batching_stats(&self) -> (u64, u64) {
        self.inner.shared.state.lock().conn.batching_stats()
    }

    /// Why the connection is closed, if it is.
    pub fn closed_error(&self) -> Option<RemoteError> {
        self.inner.shared.state.lock().conn.closed_error()
    }

    fn start_call(&self, method: MethodId, request: &[u8]) -> Result<(CallId, oneshot::Receiver<Reply>), RemoteError> {
        let (token, reply) = oneshot::channel();
        let mut state = self.inner.shared.state.lock();
        // Deadlines are kept by the call future's timer, not the core's heap (see the module docs).
        let call_id = state.conn.start_call(method, request, None, token)?;
        let wake = !state.writing;
        drop(state);
        if wake {
            self.inner.shared.wake_writer.notify_one();
        }
        Ok((call_id, reply))
    }

    /// Waits until `done` holds for the state; `progress` is what changes its answer.
    async fn wait_until(&self, done: impl Fn(&State) -> bool) {
        let shared = &self.inner.shared;
        loop {
            // Register before looking, so a notification between the look and the wait is kept.
            let mut notified = pin!(shared.progress.notified());
            notified.as_mut().enable();
            let finished = done(&shared.state.lock());
            if finished {
                return;
            }
            notified.await;
        }
    }
}

impl AsyncChannel for Client {
    fn call(
        &self,
        method: MethodId,
        request: &[u8],
        deadline: Option<Instant>,
    ) -> impl Future<Output = Result<Bytes, RemoteError>> + Send + 'static + use<> {
        // The guard exists before the future is first polled, so dropping an unpolled future
        // abandons the call too.
        let deadline = self.inner.shared.state.lock().conn.config().deadline_of(deadline);
        let started = self
            .start_call(method, request)
            .map(|(call_id, reply)| (PendingCall { inner: self.inner.clone(), call_id, armed: true }, reply));
        async move {
            let (mut pending, reply) = started?;
            let outcome = match deadline {
                None => reply.await,
                // Returning drops `pending`, which abandons the call.
                Some(deadline) => match ::tokio::time::timeout_at(deadline.into(), reply).await {
                    Ok(outcome) => outcome,
                    Err(_elapsed) => return Err(RemoteError::DeadlineExceeded),
                },
            };
            pending.armed = false;
            outcome
                .unwrap_or_else(|_| Err(RemoteError::ConnectionClosed("the call was dropped by its connection".into())))
        }
    }

    fn send_one_way(&self, method: MethodId, request: &[u8]) -> Result<(), RemoteError> {
        let mut state = self.inner.shared.state.lock();
        state.conn.send_one_way(method, request)?;
        let wake = !state.writing;
        drop(state);
        if wake {
            self.inner.shared.wake_writer.notify_one();
        }
        Ok(())
    }

    async fn flush(&self) -> Result<(), RemoteError> {
        self.wait_until(|state| {
            state.conn.closed_error().is_some() || (state.conn.queued_bytes() == 0 && !state.writing)
        })
        .await;
        self.inner.shared.state.lock().conn.take_one_way_failure().map_or(Ok(()), Err)
    }
}

/// A call whose reply has not been taken: dropping it abandons the call in the core, so a late
/// reply is discarded and the call's slot freed.
struct PendingCall {
    inner: Arc<Inner>,
    call_id: CallId,
    armed: bool,
}

impl Drop for PendingCall {
    fn drop(&mut self) {
        if self.armed {
            self.inner.shared.state.lock().conn.abandon(self.call_id);
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shared.state.lock().dropped = true;
        self.shared.wake_writer.notify_one();
    }
}

enum WriterStep {
    Write(Vec<u8>),
    Sleep,
    Finish,
    Closed,
}

/// Writes whatever is queued, one `write_all` per batch, until the connection closes or the
/// client is dropped.
async fn write_loop(shared: Arc<Shared>, mut writer: OwnedWriteHalf) {
    loop {
        let step = {
            let mut state = shared.state.lock();
            if state.conn.closed_error().is_some() {
                state.writing = false;
                WriterStep::Closed
            } else if let Some(buf) = state.conn.poll_transmit() {
                state.writing = true;
                WriterStep::Write(buf)
            } else {
                state.writing = false;
                if state.dropped { WriterStep::Finish } else { WriterStep::Sleep }
            }
        };
        shared.progress.notify_waiters();
        match step {
            WriterStep::Write(buf) => match writer.write_all(&buf).await {
                Ok(()) => shared.state.lock().conn.recycle(buf),
                Err(err) => {
                    tracing::debug!(%err, "write failed; closing the connection");
                    shared.close(RemoteError::from_io(err));
                    break;
                }
            },
            WriterStep::Sleep => shared.wake_writer.notified().await,
            WriterStep::Finish => {
                let _ = writer.shutdown().await;
                break;
            }
            WriterStep::Closed => break,
        }
    }
    shared.stop_reader.notify_one();
}

/// Reads replies and completes their calls until the connection closes or the writer says stop.
async fn read_loop(shared: Arc<Shared>, mut reader: OwnedReadHalf) {
    let mut done = Vec::new();
    loop {
        let open = ::tokio::select! {
            open = poll_fn(|cx| shared.poll_read(cx, &mut reader, &mut done)) => open,
            () = shared.stop_reader.notified() => return,
        };
        for completion in done.drain(..) {
            let _ = completion.token.send(completion.result);
        }
        if !open {
            shared.progress.notify_waiters();
            shared.wake_writer.notify_one();
            return;
        }
    }
}

impl Shared {
    /// One read into the core's receive buffer and the processing of every frame it completed.
    /// Returns whether the connection is still open; finished calls are moved to `done`.
    fn poll_read(
        &self,
        cx: &mut Context<'_>,
        reader: &mut OwnedReadHalf,
        done: &mut Vec<Completion<Token>>,
    ) -> Poll<bool> {
        let mut state = self.state.lock();
        if state.conn.closed_error().is_some() {
            return Poll::Ready(false);
        }
        let min = state.conn.wanted();
        let open = match ready!(poll_read_into(cx, reader, state.conn.recv_buf(), min)) {
            Ok(0) => {
                state.conn.handle_closed(RemoteError::ConnectionClosed("the server closed the connection".into()));
                false
            }
            Ok(_) => match state.conn.handle_received() {
                Ok(()) => true,
                Err(err) => {
                    tracing::debug!(%err, "connection closed by a protocol error or goaway");
                    false
                }
            },
            Err(err) => {
                state.conn.handle_closed(RemoteError::from_io(err));
                false
            }
        };
        done.extend(std::iter::from_fn(|| state.conn.poll_completion()));
        Poll::Ready(open)
    }

    /// Fails the connection: every pending call gets `err`.
    fn close(&self, err: RemoteError) {
        let done: Vec<_> = {
            let mut state = self.state.lock();
            state.conn.handle_closed(err);
            std::iter::from_fn(|| state.conn.poll_completion()).collect()
        };
        for completion in done {
            let _ = completion.token.send(completion.result);
        }
        self.progress.notify_waiters();
    }
}
