//! The caller's side of a conversation: send the call, run each callback it answers with on the
//! calling thread (a batch of one-way callbacks in order, then the message they came with), send
//! the callback's result back, until the call is done.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{CONTINUE, HEADER_LEN, Header, Kind, OnCallback, OnCallbackSend, batch};
use crate::channel::{AsyncChannel, Channel};
use crate::error::{ErrorCode, FrameError, RemoteError};
use crate::proto::MethodId;
use crate::service::ServiceError;

/// How long a caller that gives up waits for the server to take note ([`Kind::Abandon`]).
const ABANDON_WAIT: Duration = Duration::from_secs(1);

/// A callback the server asks the caller to run: `method` of the interface argument `slot`, with
/// `payload` as its request (16-aligned, as a server dispatcher expects).
#[derive(Clone, Copy, Debug)]
pub struct Callback<'a> {
    /// Which interface argument (0 for the method's first `&dyn` argument, …).
    pub slot: u8,
    /// The method of that interface.
    pub method: MethodId,
    /// Its request bytes.
    pub payload: &'a [u8],
}

/// Runs a conversational call over `channel`: sends `request` to `method`, runs every callback
/// the server answers with through `on_callback` (which appends the callback's reply to the
/// buffer it is given, like [`Service::call`](crate::Service::call)), and returns the final
/// reply. `deadline` bounds the whole conversation.
///
/// - A callback that returns an error is reported to the server (its reverse proxy sees a
///   [`RemoteError::Service`] with the same code).
/// - A batched one-way callback runs with its reply dropped. If it returns an error, the
///   conversation goes on: the first such error since the server's last flush request answers
///   the next one (the implementation's `flush()` returns it); one no flush asked for by the end
///   of the call is logged with `tracing` and dropped. See [the module docs](super).
/// - A callback that panics, batched or not, makes the caller abandon the conversation (the
///   implementation's further callbacks fail at once, the rest of a batch does not run); then
///   the panic goes on, on the calling thread.
/// - A malformed server message (a truncated batch, a length that lies) ends the conversation
///   with [`RemoteError::Protocol`]; none of a malformed batch's callbacks run.
/// - A conversation that fails with a transport error after some of its callbacks ran comes
///   back as [`RemoteError::Service`] with [`ErrorCode::Unavailable`], which no retry or
///   fail-over treats as a transport failure: re-firing it would run those callbacks twice.
///   Before the first callback, the transport error comes back as it is.
pub fn converse<C: Channel + ?Sized>(
    channel: &C,
    method: MethodId,
    request: &[u8],
    deadline: Option<Instant>,
    on_callback: &mut OnCallback<'_>,
) -> Result<Bytes, RemoteError> {
    let mut exchange = Exchange::new(on_callback);
    let mut reply = channel.call(method, request, deadline)?;
    loop {
        let sent = match exchange.read(&reply) {
            Ok(Next::Done(at)) => return Ok(reply.slice(at..)),
            Ok(Next::Send) => channel.call(CONTINUE, &exchange.message, deadline),
            Ok(Next::Panicked(panic)) => {
                let _ = channel.call(CONTINUE, &exchange.message, Some(Instant::now() + ABANDON_WAIT));
                resume_unwind(panic)
            }
            Err(error) => Err(error),
        };
        match sent {
            Ok(next) => reply = next,
            Err(error) => {
                if let Some(abandon) = exchange.abandon_after(&error) {
                    let _ = channel.call(CONTINUE, abandon, Some(Instant::now() + ABANDON_WAIT));
                }
                return Err(exchange.failed(error));
            }
        }
    }
}

/// [`converse`] over an [`AsyncChannel`]. `on_callback` runs on the task polling the future. A
/// future dropped mid-conversation abandons it with a one-way message, so the server's worker
/// does not wait for an answer that will never come.
pub async fn converse_async<C: AsyncChannel + ?Sized>(
    channel: &C,
    method: MethodId,
    request: &[u8],
    deadline: Option<Instant>,
    on_callback: &mut OnCallbackSend<'_>,
) -> Result<Bytes, RemoteError> {
    let mut exchange = Exchange::new(on_callback);
    let mut reply = channel.call(method, request, deadline).await?;
    let mut dropped = AbandonOnDrop { channel, session: None };
    loop {
        let read = exchange.read(&reply);
        dropped.session = exchange.session;
        let sent = match read {
            Ok(Next::Done(at)) => {
                dropped.session = None;
                return Ok(reply.slice(at..));
            }
            Ok(Next::Send) => channel.call(CONTINUE, &exchange.message, deadline).await,
            Ok(Next::Panicked(panic)) => {
                dropped.session = None;
                let _ = channel.call(CONTINUE, &exchange.message, Some(Instant::now() + ABANDON_WAIT)).await;
                resume_unwind(panic)
            }
            Err(error) => Err(error),
        };
        match sent {
            Ok(next) => reply = next,
            Err(error) => {
                dropped.session = None;
                if let Some(abandon) = exchange.abandon_after(&error) {
                    let _ = channel.call(CONTINUE, abandon, Some(Instant::now() + ABANDON_WAIT)).await;
                }
                return Err(exchange.failed(error));
            }
        }
    }
}

/// Abandons a conversation whose future is dropped before it ends (`session` is cleared on every
/// path that ends it otherwise). One-way, because a destructor cannot wait.
struct AbandonOnDrop<'c, C: AsyncChannel + ?Sized> {
    channel: &'c C,
    session: Option<u64>,
}

impl<C: AsyncChannel + ?Sized> Drop for AbandonOnDrop<'_, C> {
    fn drop(&mut self) {
        if let Some(session) = self.session {
            let mut message = Vec::with_capacity(HEADER_LEN);
            Header::of(Kind::Abandon, session).write(&mut message);
            let _ = self.channel.send_one_way(CONTINUE, &message);
        }
    }
}

/// What to do after a server message.
enum Next {
    /// The call is done; its reply starts at this offset of the server's message.
    Done(usize),
    /// Send [`Exchange::message`] as the next `CONTINUE`.
    Send,
    /// A callback panicked: send [`Exchange::message`] (an abandon), then resume the panic.
    Panicked(Box<dyn Any + Send>),
}

/// The first batched one-way callback that failed since the server last asked, kept for the
/// answer to its next [`Kind::Flush`].
struct OneWayFailure {
    slot: u8,
    method: MethodId,
    error: ServiceError,
    /// How many more failed after it.
    more: u32,
}

/// The caller's side of one conversation, sans-IO: fed each server message, it writes the next
/// one to send.
struct Exchange<'o, F: ?Sized> {
    on_callback: &'o mut F,
    /// The next `CONTINUE` request.
    message: Vec<u8>,
    /// The replies of batched one-way callbacks, which nobody reads.
    discarded: Vec<u8>,
    /// The session, once the server has named it.
    session: Option<u64>,
    callbacks: u32,
    one_way_failure: Option<OneWayFailure>,
}

impl<'o, F> Exchange<'o, F>
where
    F: ?Sized + FnMut(Callback<'_>, &mut Vec<u8>) -> Result<(), ServiceError>,
{
    fn new(on_callback: &'o mut F) -> Self {
        Self {
            on_callback,
            message: Vec::new(),
            discarded: Vec::new(),
            session: None,
            callbacks: 0,
            one_way_failure: None,
        }
    }

    fn read(&mut self, reply: &[u8]) -> Result<Next, RemoteError> {
        let (header, body) = Header::split(reply)?;
        if !header.kind.from_server() {
            return Err(RemoteError::Protocol(FrameError::MalformedPayload(
                "conversation: a caller's message in a reply",
            )));
        }
        if self.session.is_some_and(|session| session != header.session) {
            return Err(RemoteError::Protocol(FrameError::MalformedPayload("conversation: the session changed")));
        }
        self.session = Some(header.session);
        self.message.clear();
        let (header, body, body_at) = if header.kind == Kind::Batch {
            let batch = batch::read(reply)?;
            if let Some(panic) = self.run_batch(&batch)? {
                Header::of(Kind::Abandon, header.session).write(&mut self.message);
                return Ok(Next::Panicked(panic));
            }
            (batch.next, &reply[batch.next_body..], batch.next_body)
        } else {
            (header, body, HEADER_LEN)
        };
        match header.kind {
            Kind::Done => {
                self.log_unreported_failure();
                Ok(Next::Done(body_at))
            }
            Kind::Pending => {
                Header::of(Kind::Poll, header.session).write(&mut self.message);
                Ok(Next::Send)
            }
            Kind::Flush => {
                let answer = Header { kind: Kind::Answer, slot: 0, word: 0, ..header };
                match self.one_way_failure.take() {
                    None => answer.write(&mut self.message),
                    Some(failure) => {
                        Header { kind: Kind::Failed, word: failure.error.code.to_u32(), ..answer }
                            .write(&mut self.message);
                        self.message.extend_from_slice(failure.describe().as_bytes());
                    }
                }
                Ok(Next::Send)
            }
            Kind::Callback => {
                self.callbacks = self.callbacks.saturating_add(1);
                let callback = Callback { slot: header.slot, method: header.word, payload: body };
                let answer = Header { kind: Kind::Answer, word: 0, ..header };
                answer.write(&mut self.message);
                let on_callback = &mut *self.on_callback;
                let message = &mut self.message;
                let failure = match catch_unwind(AssertUnwindSafe(|| on_callback(callback, message))) {
                    Ok(Ok(())) => return Ok(Next::Send),
                    Ok(Err(failure)) => failure,
                    Err(panic) => {
                        self.message.clear();
                        Header::of(Kind::Abandon, header.session).write(&mut self.message);
                        return Ok(Next::Panicked(panic));
                    }
                };
                self.message.clear();
                Header { kind: Kind::Failed, word: failure.code.to_u32(), ..answer }.write(&mut self.message);
                self.message.extend_from_slice(failure.message.as_bytes());
                Ok(Next::Send)
            }
            // `batch::read` lets no other message follow a batch.
            _ => Err(RemoteError::Protocol(FrameError::MalformedPayload("conversation: a batch in a batch"))),
        }
    }

    /// Runs a batch's one-way callbacks in order, dropping their replies and keeping the first
    /// failure. Stops at a panic and hands it back.
    fn run_batch(&mut self, batch: &batch::Read<'_>) -> Result<Option<Box<dyn Any + Send>>, RemoteError> {
        for callback in batch.callbacks() {
            // Checked by `batch::read` already; a malformed entry would end the conversation here.
            let callback = callback?;
            self.callbacks = self.callbacks.saturating_add(1);
            self.discarded.clear();
            let on_callback = &mut *self.on_callback;
            let discarded = &mut self.discarded;
            match catch_unwind(AssertUnwindSafe(|| on_callback(callback, discarded))) {
                Ok(Ok(())) => {}
                Ok(Err(error)) => match &mut self.one_way_failure {
                    Some(first) => first.more = first.more.saturating_add(1),
                    None => {
                        let (slot, method) = (callback.slot, callback.method);
                        self.one_way_failure = Some(OneWayFailure { slot, method, error, more: 0 });
                    }
                },
                Err(panic) => return Ok(Some(panic)),
            }
        }
        Ok(None)
    }

    /// A one-way failure the implementation never flushed to hear of: the caller's log is the
    /// only place left to tell.
    fn log_unreported_failure(&mut self) {
        if let Some(failure) = self.one_way_failure.take() {
            tracing::warn!(
                slot = failure.slot,
                method = failure.method,
                code = ?failure.error.code,
                more = failure.more,
                "a batched one-way callback failed after the callee's last flush: {}",
                failure.error.message
            );
        }
    }

    /// The abandon message to send after `error`, when the server can still hear it: not after
    /// the connection itself failed (a reconnect to say goodbye could hang on a dead host).
    fn abandon_after(&mut self, error: &RemoteError) -> Option<&[u8]> {
        let session = self.session?;
        let connection_lost =
            matches!(error, RemoteError::ConnectionClosed(_) | RemoteError::Io(_) | RemoteError::GoAway(_));
        if connection_lost {
            return None;
        }
        self.message.clear();
        Header::of(Kind::Abandon, session).write(&mut self.message);
        Some(&self.message)
    }

    /// The error to report: transport failures after a callback ran must not be re-fired.
    fn failed(&mut self, error: RemoteError) -> RemoteError {
        self.log_unreported_failure();
        if self.callbacks == 0 || !error.is_transport_failure() {
            return error;
        }
        RemoteError::Service {
            code: ErrorCode::Unavailable,
            message: format!(
                "the conversation failed after {} callback(s) ran on the caller, so it is not re-fired \
                 (that would run them twice): {error}",
                self.callbacks
            )
            .into(),
        }
    }
}

impl OneWayFailure {
    /// The message the callee's `flush()` gets.
    fn describe(&self) -> String {
        let more = match self.more {
            0 => String::new(),
            n => format!(" ({n} more failed since)"),
        };
        format!("one-way callback {:#010x} on slot {} failed: {}{more}", self.method, self.slot, self.error.message)
    }
}
