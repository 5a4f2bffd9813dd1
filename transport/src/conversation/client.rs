//! The caller's side of a conversation: send the call, run each callback it answers with on the
//! calling thread, send the callback's result back, until the call is done.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::time::Instant;

use bytes::Bytes;

use super::{CONTINUE, HEADER_LEN, Header, Kind, OnCallback, OnCallbackSend};
use crate::channel::{AsyncChannel, Channel};
use crate::error::{ErrorCode, FrameError, RemoteError};
use crate::proto::MethodId;
use crate::service::ServiceError;

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
/// A callback that returns an error is reported to the server (its reverse proxy sees a
/// [`RemoteError::Service`]); one that panics is reported as [`ErrorCode::Internal`] so the
/// server's worker is released, then the panic continues on the calling thread.
pub fn converse<C: Channel + ?Sized>(
    channel: &C,
    method: MethodId,
    request: &[u8],
    deadline: Option<Instant>,
    on_callback: &mut OnCallback<'_>,
) -> Result<Bytes, RemoteError> {
    let mut reply = channel.call(method, request, deadline)?;
    let mut answer = Vec::new();
    loop {
        match answer_callback(&reply, &mut answer, on_callback)? {
            Step::Done => return Ok(reply.slice(HEADER_LEN..)),
            Step::Answered => reply = channel.call(CONTINUE, &answer, deadline)?,
            Step::Panicked(panic) => {
                let _ = channel.call(CONTINUE, &answer, deadline);
                resume_unwind(panic)
            }
        }
    }
}

/// [`converse`] over an [`AsyncChannel`]. `on_callback` runs on the task polling the future.
pub async fn converse_async<C: AsyncChannel + ?Sized>(
    channel: &C,
    method: MethodId,
    request: &[u8],
    deadline: Option<Instant>,
    on_callback: &mut OnCallbackSend<'_>,
) -> Result<Bytes, RemoteError> {
    let mut reply = channel.call(method, request, deadline).await?;
    let mut answer = Vec::new();
    loop {
        match answer_callback(&reply, &mut answer, on_callback)? {
            Step::Done => return Ok(reply.slice(HEADER_LEN..)),
            Step::Answered => reply = channel.call(CONTINUE, &answer, deadline).await?,
            Step::Panicked(panic) => {
                let _ = channel.call(CONTINUE, &answer, deadline).await;
                resume_unwind(panic)
            }
        }
    }
}

enum Step {
    Done,
    Answered,
    Panicked(Box<dyn std::any::Any + Send>),
}

/// Reads one server message; for a callback, runs it and writes the `CONTINUE` request into
/// `answer`.
fn answer_callback(reply: &[u8], answer: &mut Vec<u8>, on_callback: &mut OnCallback<'_>) -> Result<Step, RemoteError> {
    let (header, body) = Header::split(reply)?;
    match header.kind {
        Kind::Done => Ok(Step::Done),
        Kind::Callback => {
            let callback = Callback { slot: header.slot, method: header.word, payload: body };
            answer.clear();
            Header { kind: Kind::Answer, slot: header.slot, word: 0, session: header.session }.write(answer);
            let (failure, panic) = match catch_unwind(AssertUnwindSafe(|| on_callback(callback, answer))) {
                Ok(Ok(())) => return Ok(Step::Answered),
                Ok(Err(error)) => (error, None),
                Err(panic) => (ServiceError::new(ErrorCode::Internal, "the caller's callback panicked"), Some(panic)),
            };
            answer.clear();
            let word = failure.code.to_u32();
            Header { kind: Kind::Failed, slot: header.slot, word, session: header.session }.write(answer);
            answer.extend_from_slice(failure.message.as_bytes());
            Ok(panic.map_or(Step::Answered, Step::Panicked))
        }
        Kind::Answer | Kind::Failed => {
            Err(RemoteError::Protocol(FrameError::MalformedPayload("conversation: a caller's message in a reply")))
        }
    }
}
