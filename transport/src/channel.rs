//! The client-side interfaces that generated proxies (proxygen) call through, so a proxy works
//! over any backend: [`Channel`] for blocking callers, [`AsyncChannel`] for async ones.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use crate::conversation::OnCallback;
use crate::error::RemoteError;
use crate::proto::MethodId;

/// A blocking connection to one remote service, shareable between threads.
///
/// Replies are [`Bytes`] whose start is 16-aligned, so rkyv archives can be read in place.
pub trait Channel: Send + Sync {
    /// Calls `method` and blocks until its reply, its error, or `deadline`.
    fn call(&self, method: MethodId, request: &[u8], deadline: Option<Instant>) -> Result<Bytes, RemoteError>;

    /// Queues a one-way call and returns at once. Calls queued while a write is in flight leave
    /// together in the next write. Failures surface from [`Channel::flush`].
    fn send_one_way(&self, method: MethodId, request: &[u8]) -> Result<(), RemoteError>;

    /// Blocks until every queued one-way call is written, and reports the first failure of an
    /// earlier one-way call known by then (a write error, a lost connection, or an error the
    /// server sent back).
    fn flush(&self) -> Result<(), RemoteError>;

    /// Runs a conversational call (one whose callee calls back into the caller; see
    /// [`conversation`](crate::conversation)): the call, each callback answered through
    /// `on_callback` on this thread, and their continuations. Returns the final reply.
    ///
    /// The default sends every message with [`Channel::call`]. Channels that choose between
    /// several endpoints (balancing, fail-over) override it so that a whole conversation goes to
    /// one endpoint and is re-fired as a whole.
    fn converse(
        &self,
        method: MethodId,
        request: &[u8],
        deadline: Option<Instant>,
        on_callback: &mut OnCallback<'_>,
    ) -> Result<Bytes, RemoteError> {
        crate::conversation::converse(self, method, request, deadline, on_callback)
    }
}

impl<C: Channel + ?Sized> Channel for Arc<C> {
    fn call(&self, method: MethodId, request: &[u8], deadline: Option<Instant>) -> Result<Bytes, RemoteError> {
        (**self).call(method, request, deadline)
    }

    fn send_one_way(&self, method: MethodId, request: &[u8]) -> Result<(), RemoteError> {
        (**self).send_one_way(method, request)
    }

    fn flush(&self) -> Result<(), RemoteError> {
        (**self).flush()
    }

    fn converse(
        &self,
        method: MethodId,
        request: &[u8],
        deadline: Option<Instant>,
        on_callback: &mut OnCallback<'_>,
    ) -> Result<Bytes, RemoteError> {
        (**self).converse(method, request, deadline, on_callback)
    }
}

/// An asynchronous connection to one remote service.
pub trait AsyncChannel: Send + Sync {
    /// Calls `method`; the request is queued before this returns, the future resolves with the
    /// reply, its error, or at `deadline`.
    fn call(
        &self,
        method: MethodId,
        request: &[u8],
        deadline: Option<Instant>,
    ) -> impl Future<Output = Result<Bytes, RemoteError>> + Send + 'static + use<Self>;

    /// Queues a one-way call; see [`Channel::send_one_way`].
    fn send_one_way(&self, method: MethodId, request: &[u8]) -> Result<(), RemoteError>;

    /// Resolves once every queued one-way call is written; see [`Channel::flush`].
    fn flush(&self) -> impl Future<Output = Result<(), RemoteError>> + Send + '_;
}
