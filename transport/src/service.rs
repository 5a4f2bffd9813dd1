//! What a server runs: a [`Service`] answers calls by method id. Generated dispatchers
//! (proxygen) implement it; so can hand-written ones.

use std::panic::{AssertUnwindSafe, catch_unwind};

use bytes::Bytes;

use crate::error::ErrorCode;
use crate::proto::{MethodId, Request, ServerConnection};

/// A failed call, as the service reports it to the client.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ServiceError {
    /// What kind of failure.
    pub code: ErrorCode,
    /// A message for the caller.
    pub message: String,
}

impl ServiceError {
    /// An error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    /// The method id is not known to this service.
    pub fn unknown_method(method: MethodId) -> Self {
        Self::new(ErrorCode::UnknownMethod, format!("unknown method {method:#010x}"))
    }

    /// The request payload did not decode.
    pub fn bad_request(why: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::BadRequest, why.to_string())
    }
}

/// A server-side handler of calls.
///
/// Implementations must be cheap to call concurrently from several server threads. A panic inside
/// `call` is caught: the caller gets an [`ErrorCode::Internal`] error and the server goes on.
pub trait Service: Send + Sync + 'static {
    /// Handles one call. `payload` is 16-aligned and points into the receive buffer. Append the
    /// reply payload to `reply` (which may already hold other frames: append only). For one-way
    /// calls `reply` is discarded.
    fn call(&self, method: MethodId, payload: &Bytes, reply: &mut Vec<u8>) -> Result<(), ServiceError>;
}

impl<S: Service + ?Sized> Service for std::sync::Arc<S> {
    fn call(&self, method: MethodId, payload: &Bytes, reply: &mut Vec<u8>) -> Result<(), ServiceError> {
        (**self).call(method, payload, reply)
    }
}

thread_local! {
    static ONE_WAY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the call [`dispatch`] is running on this thread is one-way (its reply is thrown
/// away). For services whose reply must reach the caller, such as a conversation's callback
/// requests ([`crate::conversation::Conversations`] refuses one-way starts).
pub fn in_one_way_call() -> bool {
    ONE_WAY.with(std::cell::Cell::get)
}

/// Runs `request` on `service` and queues its answer on `conn`. `scratch` receives the discarded
/// reply of one-way calls.
pub fn dispatch(conn: &mut ServerConnection, service: &dyn Service, request: Request, scratch: &mut Vec<u8>) {
    let Request { call_id, method, payload, one_way } = request;
    if one_way {
        scratch.clear();
        ONE_WAY.with(|flag| flag.set(true));
        let result = guarded(|| service.call(method, &payload, scratch));
        ONE_WAY.with(|flag| flag.set(false));
        if let Err(err) = result {
            conn.respond_error(call_id, true, err.code, &err.message);
        }
        return;
    }
    conn.try_respond_with(call_id, |reply| {
        guarded(|| service.call(method, &payload, reply)).map_err(|err| (err.code, err.message))
    });
}

/// Runs `call`, turning a panic into an [`ErrorCode::Internal`] error.
pub(crate) fn guarded<T>(call: impl FnOnce() -> Result<T, ServiceError>) -> Result<T, ServiceError> {
    match catch_unwind(AssertUnwindSafe(call)) {
        Ok(result) => result,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic".into());
            tracing::error!(%what, "service panicked; answering with an internal error");
            Err(ServiceError::new(ErrorCode::Internal, format!("service panicked: {what}")))
        }
    }
}

/// A service that sends every payload back: for tests, demos and benchmarks.
#[derive(Clone, Copy, Debug, Default)]
pub struct Echo;

impl Service for Echo {
    fn call(&self, _method: MethodId, payload: &Bytes, reply: &mut Vec<u8>) -> Result<(), ServiceError> {
        reply.extend_from_slice(payload);
        Ok(())
    }
}
