//! Transparent recovery of implicit calls: a [`Channel`] that sends calls to the
//! remote instance until the first transport failure, then runs them, and every
//! later call, on a local instance, in-process.
//!
//! Why at the channel and not in the proxy's failure handler: the channel is the
//! one place every generated proxy calls through, so recovery needs nothing from
//! the proxy (no handle to it, no per-interface code), and a failed call is
//! re-fired with the very request bytes it was sent with. The local instance is
//! reached through the interface's own server dispatcher
//! ([`Remotable::serve`](super::Remotable::serve)) with no socket or framing in
//! between; this costs an encode and a decode per call, and lasts only until the
//! relocation's recovery swaps the slot back to a plain local instance.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::Bytes;
use hatch_transport::conversation::OnCallback;
use hatch_transport::{Channel, MethodId, RemoteError, Service};
use parking_lot::Mutex;
use rkyv::util::AlignedVec;

/// An in-process [`Channel`] that calls a [`Service`] directly. Requests and
/// replies are copied into 16-aligned buffers, as a socket transport would leave
/// them.
pub(crate) struct DirectChannel {
    service: Arc<dyn Service>,
}

impl DirectChannel {
    pub(crate) fn new(service: Arc<dyn Service>) -> Self {
        Self { service }
    }
}

fn aligned(bytes: &[u8]) -> Bytes {
    let mut buf = AlignedVec::<16>::with_capacity(bytes.len());
    buf.extend_from_slice(bytes);
    Bytes::from_owner(buf)
}

impl Channel for DirectChannel {
    fn call(&self, method: MethodId, request: &[u8], _deadline: Option<Instant>) -> Result<Bytes, RemoteError> {
        let mut reply = Vec::new();
        match self.service.call(method, &aligned(request), &mut reply) {
            Ok(()) => Ok(aligned(&reply)),
            Err(err) => Err(RemoteError::Service { code: err.code, message: err.message.into() }),
        }
    }

    fn send_one_way(&self, method: MethodId, request: &[u8]) -> Result<(), RemoteError> {
        self.call(method, request, None).map(drop)
    }

    fn flush(&self) -> Result<(), RemoteError> {
        Ok(())
    }
}

/// Whether `error` means the remote instance is gone: the connection to it was
/// lost (refused, reset, closed, failed by the kernel's keepalive or user
/// timeout), it could not be reached within the connect timeout, or whatever now
/// answers at its address is not it (another interface, or a server that does not
/// know its data token, e.g. a restarted agent that got the same port).
///
/// Not a lost instance: a call's own deadline passing
/// ([`RemoteError::DeadlineExceeded`]: the instance may still be running that
/// call, so re-firing it elsewhere would run it twice, and one slow call must not
/// move the component home), a full connection ([`RemoteError::TooManyInFlight`]),
/// a protocol violation or a graceful `GoAway` (the connection is replaced on the
/// next call, and a server that really went away then refuses it). Those fail the
/// one call. The host's own liveness verdict (membership, or a probe) arrives
/// through [`Relocation::host_down`](super::Relocation::host_down) instead.
pub(crate) fn instance_lost(error: &RemoteError) -> bool {
    match error {
        RemoteError::ConnectionClosed(_) | RemoteError::Io(_) | RemoteError::ConnectTimeout { .. } => true,
        RemoteError::Handshake(_) => true,
        RemoteError::Service { code, .. } => *code == super::auth::UNAUTHENTICATED,
        _ => false,
    }
}

/// Builds the local fallback channel on the first failure.
pub(crate) type MakeFallback = Box<dyn Fn() -> Option<Arc<dyn Channel>> + Send + Sync>;
/// Told once, on the first transport failure.
pub(crate) type OnFailover = Box<dyn Fn(&RemoteError, Instant) + Send + Sync>;

/// See the module docs.
pub(crate) struct FailoverChannel {
    remote: Arc<dyn Channel>,
    failed: AtomicBool,
    fallback: OnceLock<Option<Arc<dyn Channel>>>,
    make_fallback: MakeFallback,
    on_failover: Mutex<Option<OnFailover>>,
    /// Calls that failed remotely and were re-fired locally.
    pub(crate) refired: AtomicU64,
}

impl FailoverChannel {
    pub(crate) fn new(remote: Arc<dyn Channel>, make_fallback: MakeFallback, on_failover: OnFailover) -> Self {
        Self {
            remote,
            failed: AtomicBool::new(false),
            fallback: OnceLock::new(),
            make_fallback,
            on_failover: Mutex::new(Some(on_failover)),
            refired: AtomicU64::new(0),
        }
    }

    /// Whether the remote side has failed and calls run locally.
    pub(crate) fn has_failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// Records the failure (once) and returns the local channel, if one could be built.
    #[cold]
    pub(crate) fn fail_over(&self, error: &RemoteError) -> Option<&Arc<dyn Channel>> {
        if !self.failed.swap(true, Ordering::AcqRel) {
            let at = Instant::now();
            super::agent::log(&format!("remote instance failed ({error}); re-firing its calls locally"));
            if let Some(notify) = self.on_failover.lock().take() {
                notify(error, at);
            }
        }
        self.local()
    }

    fn local(&self) -> Option<&Arc<dyn Channel>> {
        self.fallback.get_or_init(|| (self.make_fallback)()).as_ref()
    }
}

impl FailoverChannel {
    /// Sends with `send` to the remote instance, or to the local one once the remote has failed;
    /// a send that fails because the remote is lost is re-fired locally.
    fn send<R>(&self, mut send: impl FnMut(&dyn Channel) -> Result<R, RemoteError>) -> Result<R, RemoteError> {
        if !self.has_failed() {
            match send(&*self.remote) {
                Err(error) if instance_lost(&error) => {
                    let Some(local) = self.fail_over(&error) else { return Err(error) };
                    self.refired.fetch_add(1, Ordering::Relaxed);
                    return send(&**local);
                }
                other => return other,
            }
        }
        match self.local() {
            Some(local) => send(&**local),
            None => Err(RemoteError::ConnectionClosed("remote instance failed and no local fallback".into())),
        }
    }
}

impl Channel for FailoverChannel {
    fn call(&self, method: MethodId, request: &[u8], deadline: Option<Instant>) -> Result<Bytes, RemoteError> {
        self.send(|channel| channel.call(method, request, deadline))
    }

    fn send_one_way(&self, method: MethodId, request: &[u8]) -> Result<(), RemoteError> {
        self.send(|channel| channel.send_one_way(method, request))
    }

    /// A conversation is re-fired locally only if the remote failed before its first callback:
    /// after that, [`converse`](hatch_transport::conversation::converse) reports a failure that is
    /// not a transport failure, so its callbacks never run twice.
    fn converse(
        &self,
        method: MethodId,
        request: &[u8],
        deadline: Option<Instant>,
        on_callback: &mut OnCallback<'_>,
    ) -> Result<Bytes, RemoteError> {
        self.send(|channel| channel.converse(method, request, deadline, &mut *on_callback))
    }

    fn flush(&self) -> Result<(), RemoteError> {
        if self.has_failed() {
            // One-way calls queued on the dead connection cannot be told apart from
            // those it executed; they are not re-fired (see `docs` of `remote`).
            return Ok(());
        }
        match self.remote.flush() {
            Err(error) if instance_lost(&error) => {
                self.fail_over(&error);
                Ok(())
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hatch_transport::{Echo, ServiceError};

    struct Dead(AtomicU64);
    impl Channel for Dead {
        fn call(&self, _: MethodId, _: &[u8], _: Option<Instant>) -> Result<Bytes, RemoteError> {
            self.0.fetch_add(1, Ordering::Relaxed);
            Err(RemoteError::ConnectionClosed("killed".into()))
        }
        fn send_one_way(&self, _: MethodId, _: &[u8]) -> Result<(), RemoteError> {
            Err(RemoteError::ConnectionClosed("killed".into()))
        }
        fn flush(&self) -> Result<(), RemoteError> {
            Ok(())
        }
    }

    struct Refuses;
    impl Service for Refuses {
        fn call(&self, _: MethodId, _: &Bytes, _: &mut Vec<u8>) -> Result<(), ServiceError> {
            Err(ServiceError::bad_request("no"))
        }
    }

    #[test]
    fn first_transport_failure_switches_every_call_to_local_once() {
        let dead = Arc::new(Dead(AtomicU64::new(0)));
        let notified = Arc::new(AtomicU64::new(0));
        let n = notified.clone();
        let channel = FailoverChannel::new(
            dead.clone(),
            Box::new(|| Some(Arc::new(DirectChannel::new(Arc::new(Echo))) as Arc<dyn Channel>)),
            Box::new(move |_, _| {
                n.fetch_add(1, Ordering::Relaxed);
            }),
        );
        for i in 0..10u8 {
            assert_eq!(&channel.call(1, &[i; 3], None).unwrap()[..], &[i; 3]);
        }
        assert_eq!(dead.0.load(Ordering::Relaxed), 1, "the dead remote is tried once");
        assert_eq!(notified.load(Ordering::Relaxed), 1);
        assert_eq!(channel.refired.load(Ordering::Relaxed), 1);
        assert!(channel.has_failed());
    }

    /// A channel whose every call fails with one error.
    struct Failing(RemoteError);
    impl Channel for Failing {
        fn call(&self, _: MethodId, _: &[u8], _: Option<Instant>) -> Result<Bytes, RemoteError> {
            Err(self.0.clone())
        }
        fn send_one_way(&self, _: MethodId, _: &[u8]) -> Result<(), RemoteError> {
            Err(self.0.clone())
        }
        fn flush(&self) -> Result<(), RemoteError> {
            Ok(())
        }
    }

    #[test]
    fn only_connection_loss_fails_over() {
        let call_errors = [
            RemoteError::DeadlineExceeded,
            RemoteError::TooManyInFlight(7),
            RemoteError::Protocol(hatch_transport::FrameError::ReservedNotZero),
            RemoteError::GoAway("shutting down".into()),
        ];
        for error in call_errors {
            let channel = FailoverChannel::new(
                Arc::new(Failing(error.clone())),
                Box::new(|| panic!("no fallback")),
                Box::new(|_, _| panic!("no failover")),
            );
            let got = channel.call(1, b"x", None).unwrap_err();
            assert_eq!(got.to_string(), error.to_string());
            assert!(!channel.has_failed(), "{error:?} failed over");
        }
        let connection_losses = [
            RemoteError::ConnectionClosed("reset".into()),
            RemoteError::from_io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
            RemoteError::ConnectTimeout {
                addr: "192.0.2.1:7".parse().unwrap(),
                after: std::time::Duration::from_secs(3),
            },
        ];
        for error in connection_losses {
            let channel = FailoverChannel::new(
                Arc::new(Failing(error.clone())),
                Box::new(|| Some(Arc::new(DirectChannel::new(Arc::new(Echo))) as Arc<dyn Channel>)),
                Box::new(|_, _| {}),
            );
            assert_eq!(&channel.call(1, b"x", None).unwrap()[..], b"x", "{error:?} is re-fired locally");
            assert!(channel.has_failed(), "{error:?} did not fail over");
        }
    }

    #[test]
    fn service_errors_pass_through_without_failing_over() {
        let remote = Arc::new(DirectChannel::new(Arc::new(Refuses)));
        let channel = FailoverChannel::new(remote, Box::new(|| None), Box::new(|_, _| panic!("no failover")));
        assert!(matches!(channel.call(1, b"x", None), Err(RemoteError::Service { .. })));
        assert!(!channel.has_failed());
    }

    #[test]
    fn direct_channel_hands_out_aligned_payloads() {
        struct CheckAligned;
        impl Service for CheckAligned {
            fn call(&self, _: MethodId, payload: &Bytes, reply: &mut Vec<u8>) -> Result<(), ServiceError> {
                assert_eq!(payload.as_ptr() as usize % 16, 0);
                reply.extend_from_slice(payload);
                Ok(())
            }
        }
        let channel = DirectChannel::new(Arc::new(CheckAligned));
        let reply = channel.call(1, &[1, 2, 3], None).unwrap();
        assert_eq!(reply.as_ptr() as usize % 16, 0);
    }
}
