//! Test channels and services shared by the end-to-end tests.

#![allow(dead_code)]

use std::future::Future;
use std::ops::Range;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use hatch::codegen::{AsyncChannel, Bytes, Channel, Config, MethodId, RemoteError, Service, ServiceError};
use hatch::transport::LoopbackChannel;

/// A loopback channel to `service` running the real protocol, as a shareable `Channel`.
pub fn loopback<S: Service>(service: S, client: Config, server: Config) -> Arc<dyn Channel> {
    Arc::new(LoopbackChannel::new(service, client, server))
}

/// A service wrapper that records the address range of the last request payload it saw.
pub struct Recording<S> {
    pub inner: S,
    pub last_payload: Arc<Mutex<Range<usize>>>,
}

impl<S: Service> Service for Recording<S> {
    fn call(&self, method: MethodId, payload: &Bytes, reply: &mut Vec<u8>) -> Result<(), ServiceError> {
        let start = payload.as_ptr() as usize;
        *self.last_payload.lock().unwrap() = start..start + payload.len();
        self.inner.call(method, payload, reply)
    }
}

/// A channel whose calls fail with `ConnectionClosed` while `failures_left` is above zero, then
/// pass through to `inner`. Counts every attempt.
pub struct Flaky {
    pub inner: Arc<dyn Channel>,
    pub failures_left: AtomicU32,
    pub attempts: AtomicU32,
}

impl Flaky {
    pub fn new(inner: Arc<dyn Channel>, failures: u32) -> Arc<Self> {
        Arc::new(Self { inner, failures_left: AtomicU32::new(failures), attempts: AtomicU32::new(0) })
    }

    fn fail(&self) -> bool {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        self.failures_left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| left.checked_sub(1)).is_ok()
    }
}

impl Channel for Flaky {
    fn call(&self, method: MethodId, request: &[u8], deadline: Option<Instant>) -> Result<Bytes, RemoteError> {
        if self.fail() {
            return Err(RemoteError::ConnectionClosed("flaky".into()));
        }
        self.inner.call(method, request, deadline)
    }

    fn send_one_way(&self, method: MethodId, request: &[u8]) -> Result<(), RemoteError> {
        if self.fail() {
            return Err(RemoteError::ConnectionClosed("flaky".into()));
        }
        self.inner.send_one_way(method, request)
    }

    fn flush(&self) -> Result<(), RemoteError> {
        self.inner.flush()
    }
}

/// A channel that is always down.
pub fn dead() -> Arc<Flaky> {
    struct Down;
    impl Channel for Down {
        fn call(&self, _: MethodId, _: &[u8], _: Option<Instant>) -> Result<Bytes, RemoteError> {
            unreachable!("Flaky fails first")
        }
        fn send_one_way(&self, _: MethodId, _: &[u8]) -> Result<(), RemoteError> {
            unreachable!("Flaky fails first")
        }
        fn flush(&self) -> Result<(), RemoteError> {
            Err(RemoteError::ConnectionClosed("down".into()))
        }
    }
    Flaky::new(Arc::new(Down), u32::MAX)
}

/// An `AsyncChannel` over a blocking one (which completes calls synchronously), for testing the
/// async client without a socket.
pub struct BlockingAsAsync(pub Arc<dyn Channel>);

impl AsyncChannel for BlockingAsAsync {
    fn call(
        &self,
        method: MethodId,
        request: &[u8],
        deadline: Option<Instant>,
    ) -> impl Future<Output = Result<Bytes, RemoteError>> + Send + 'static + use<> {
        std::future::ready(self.0.call(method, request, deadline))
    }

    fn send_one_way(&self, method: MethodId, request: &[u8]) -> Result<(), RemoteError> {
        self.0.send_one_way(method, request)
    }

    fn flush(&self) -> impl Future<Output = Result<(), RemoteError>> + Send + '_ {
        std::future::ready(self.0.flush())
    }
}

/// The message of a caught panic.
pub fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}
