//! The caller's side of a conversation: send the call, run each callback it answers with on the
//! calling thread, send the callback's result back, until the call is done.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{CONTINUE, HEADER_LEN, Header, Kind, OnCallback, OnCallbackSend};
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
/// - A callback that panics makes the caller abandon the conversation (the implementation's
///   further callbacks fail at once); then the panic goes on, on the calling thread.
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
            Ok(Next::Done) => return Ok(reply.slice(HEADER_LEN..)),
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
            Ok(Next::Done) => {
                dropped.session = None;
                return Ok(reply.slice(HEADER_LEN..));
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
    /// The call is done; its reply follows the header.
    Done,
    /// Send [`Exchange::message`] as the next `CONTINUE`.
    Send,
    /// A callback panicked: send [`Exchange::message`] (an abandon), then resume the panic.
    Panicked(Box<dyn Any + Send>),
}

/// The caller's side of one conversation, sans-IO: fed each server message, it writes the next
/// one to send.
struct Exchange<'o, F: ?Sized> {
    on_callback: &'o mut F,
    /// The next `CONTINUE` request.
    message: Vec<u8>,
    /// The session, once the server has named it.
    session: Option<u64>,
    callbacks: u32,
}

impl<'o, F> Exchange<'o, F>
where
    F: ?Sized + FnMut(Callback<'_>, &mut Vec<u8>) -> Result<(), ServiceError>,
{
    fn new(on_callback: &'o mut F) -> Self {
        Self { on_callback, message: Vec::new(), session: None, callbacks: 0 }
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
        match header.kind {
            Kind::Done => Ok(Next::Done),
            Kind::Pending => {
                Header::of(Kind::Poll, header.session).write(&mut self.message);
                Ok(Next::Send)
            }
            _ => {
                self.callbacks += 1;
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
    fn failed(&self, error: RemoteError) -> RemoteError {
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
