//! One client connection driven by one io_uring, on the thread that created it.

use std::marker::PhantomData;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use bytes::Bytes;
use io_uring::{IoUring, opcode, types};

use super::{UringOptions, errno, tag};
use crate::config::Config;
use crate::error::RemoteError;
use crate::proto::id_hash::IdMap;
use crate::proto::{CallId, ClientConnection, MethodId};
use crate::socket;

/// One-way calls queue up to this many bytes behind an in-flight write before the caller stops to
/// reap it and start the next write; larger batches cost latency, smaller ones syscalls.
const ONE_WAY_BATCH: usize = 64 * 1024;

/// Largest send for which a caller waits for the send's and the reply's completions together
/// (see `can_wait_for_send_and_reply`); well under any socket send buffer.
const PAIRED_WAIT_MAX_SEND: usize = 16 * 1024;

/// What a wait is for: a reply needs a receive completion, other waits any completion.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    Reply,
    Any,
}

/// A client connection and its ring. Not `Send`: the ring is created `SINGLE_ISSUER`, so only the
/// creating thread may submit to it.
pub struct Connection {
    ring: IoUring,
    stream: TcpStream,
    core: ClientConnection<()>,
    options: UringOptions,
    send: Option<InFlightSend>,
    recv_armed: bool,
    /// Our FIN is sent: the core closed, so the server may finish its lingering close at once.
    fin_sent: bool,
    unflushed_one_way: bool,
    done: IdMap<Result<Bytes, RemoteError>>,
    _single_thread: PhantomData<*const ()>,
}

/// A write the kernel is working on. The buffer must not move or drop until its completion.
struct InFlightSend {
    buf: Vec<u8>,
    offset: usize,
}

impl Connection {
    /// Connects (blocking), sets `TCP_NODELAY`, and queues the handshake. Use
    /// [`Connection::handshake`] to wait for the server's answer; calls do not need to wait.
    pub fn connect(addr: SocketAddr, config: Config, options: UringOptions) -> Result<Self, RemoteError> {
        let stream = socket::connect(addr, config.connect_timeout)
            .map_err(|err| RemoteError::from_connect(err, addr, config.connect_timeout))?;
        let ring = options.build_ring()?;
        Ok(Self {
            ring,
            stream,
            core: ClientConnection::new(config),
            options,
            send: None,
            recv_armed: false,
            fin_sent: false,
            unflushed_one_way: false,
            done: IdMap::default(),
            _single_thread: PhantomData,
        })
    }

    /// Waits for the server's handshake answer, up to `timeout`.
    pub fn handshake(&mut self, timeout: Duration) -> Result<(), RemoteError> {
        let deadline = Instant::now() + timeout;
        self.pump(Some(deadline), Need::Reply, |this| this.core.is_ready() || this.core.closed_error().is_some())?;
        if let Some(err) = self.core.closed_error() {
            return Err(err);
        }
        if self.core.is_ready() { Ok(()) } else { Err(RemoteError::DeadlineExceeded) }
    }

    /// Calls `method` and waits for the reply on this thread.
    pub fn call(&mut self, method: MethodId, request: &[u8], deadline: Option<Instant>) -> Result<Bytes, RemoteError> {
        let id = self.start_call(method, request, deadline)?;
        self.wait(id)
    }

    /// Queues a call without waiting (pipelining). Collect its reply with [`Connection::wait`].
    pub fn start_call(
        &mut self,
        method: MethodId,
        request: &[u8],
        deadline: Option<Instant>,
    ) -> Result<CallId, RemoteError> {
        let deadline = self.core.config().deadline_of(deadline);
        self.core.start_call(method, request, deadline, ())
    }

    /// Waits for the reply of a call started with [`Connection::start_call`].
    pub fn wait(&mut self, id: CallId) -> Result<Bytes, RemoteError> {
        // Also stop if the id is unknown (never started, or already collected): nothing will come.
        let finished_or_unknown = |this: &Self| this.done.contains_key(&id) || !this.core.is_pending(id);
        if let Err(err) = self.pump(None, Need::Reply, finished_or_unknown) {
            self.core.handle_closed(err);
            self.collect();
        }
        self.done.remove(&id).unwrap_or_else(|| Err(RemoteError::UnknownCall(id)))
    }

    /// Waits for any started call to finish and returns it; `None` when none is outstanding.
    pub fn wait_any(&mut self) -> Option<(CallId, Result<Bytes, RemoteError>)> {
        if self.done.is_empty() && self.core.in_flight() == 0 {
            return None;
        }
        if let Err(err) = self.pump(None, Need::Reply, |this| !this.done.is_empty()) {
            self.core.handle_closed(err);
            self.collect();
        }
        let id = *self.done.keys().next()?;
        self.done.remove(&id).map(|result| (id, result))
    }

    /// Queues a one-way call. It leaves with the next write; calls queued while a write is in
    /// flight go out together. Blocks only when more than [`Config::outbox_high_water`] bytes are
    /// queued.
    pub fn send_one_way(&mut self, method: MethodId, request: &[u8]) -> Result<(), RemoteError> {
        self.core.send_one_way(method, request)?;
        self.unflushed_one_way = true;
        let queued = self.core.queued_bytes();
        if self.send.is_none() {
            self.start_send();
            self.submit()?;
        } else if queued >= ONE_WAY_BATCH {
            self.reap_nonblocking()?;
            if self.send.is_none() {
                self.start_send();
                self.submit()?;
            }
        }
        if self.core.queued_bytes() > self.core.config().outbox_high_water {
            let low = self.core.config().outbox_high_water / 2;
            self.pump(None, Need::Any, |this| this.core.queued_bytes() <= low || this.core.closed_error().is_some())?;
        }
        Ok(())
    }

    /// Waits until everything queued is written, then reports the first one-way failure known.
    pub fn flush(&mut self) -> Result<(), RemoteError> {
        self.pump(None, Need::Any, |this| {
            (this.send.is_none() && this.core.queued_bytes() == 0) || this.core.closed_error().is_some()
        })?;
        match self.core.take_one_way_failure() {
            Some(err) => Err(err),
            None => {
                self.unflushed_one_way = false;
                Ok(())
            }
        }
    }

    /// True when one-way calls were sent since the last successful [`Connection::flush`].
    pub fn has_unflushed_one_way(&self) -> bool {
        self.unflushed_one_way
    }

    /// Why the connection is unusable, if it is.
    pub fn closed_error(&self) -> Option<RemoteError> {
        self.core.closed_error()
    }

    /// Calls awaiting replies.
    pub fn in_flight(&self) -> usize {
        self.core.in_flight()
    }

    /// Frames written and writes made (their ratio is the batching factor).
    pub fn batching_stats(&self) -> (u64, u64) {
        self.core.batching_stats()
    }

    /// Drives the ring until `ready` holds, the connection closes, or `until` passes.
    fn pump(&mut self, until: Option<Instant>, need: Need, ready: impl Fn(&Self) -> bool) -> Result<(), RemoteError> {
        loop {
            // Check before sending: calls queued while earlier replies are being collected then
            // leave together in one write once we have to wait anyway.
            if ready(self) {
                return Ok(());
            }
            if self.send.is_none() {
                self.start_send();
            }
            if !self.recv_armed && self.core.closed_error().is_none() {
                self.arm_recv();
            }
            if self.core.closed_error().is_some() && self.send.is_none() {
                // Nothing more can happen on this connection.
                return Ok(());
            }
            let timer = match (self.core.poll_timeout(), until) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let want = if self.can_wait_for_send_and_reply(need) { 2 } else { 1 };
            self.wait_for_completion(timer, want)?;
            self.reap();
            if let Some(timer) = timer {
                let now = Instant::now();
                if now >= timer {
                    self.core.handle_timeout(now);
                    self.collect();
                    if until.is_some_and(|until| now >= until) {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Whether one wait may ask for two completions, the send's and the reply's, saving a system
    /// call per synchronous call. Only when both are certain to come without this thread doing
    /// anything else in between:
    /// - the awaited request is on the wire: nothing is queued behind the in-flight send;
    /// - the send is small and sent with `MSG_WAITALL`, so it completes once, whole, as soon as the
    ///   server reads it;
    /// - exactly one call is in flight, so the server has no reason to stop reading (it pauses
    ///   only on unread replies, and a reply to our one call means it has read our request);
    /// - the receive is armed.
    ///
    /// Anything else waits for one completion, re-arms, and waits again.
    fn can_wait_for_send_and_reply(&self, need: Need) -> bool {
        need == Need::Reply
            && self.recv_armed
            && self.core.in_flight() == 1
            && self.core.queued_bytes() == 0
            && self.send.as_ref().is_some_and(|send| send.buf.len() - send.offset <= PAIRED_WAIT_MAX_SEND)
    }

    fn start_send(&mut self) {
        debug_assert!(self.send.is_none());
        if let Some(buf) = self.core.poll_transmit() {
            self.send = Some(InFlightSend { buf, offset: 0 });
            self.push_send();
        }
    }

    fn push_send(&mut self) {
        let send = self.send.as_ref().expect("a send is in flight");
        let rest = &send.buf[send.offset..];
        let sqe = opcode::Send::new(types::Fd(self.stream.as_raw_fd()), rest.as_ptr(), rest.len() as u32)
            .flags(libc::MSG_WAITALL)
            .build()
            .user_data(tag::SEND);
        self.push(&sqe);
    }

    fn arm_recv(&mut self) {
        let wanted = self.core.wanted().max(4096);
        let spare = self.core.recv_buf().spare_capacity_mut(wanted);
        let sqe = opcode::Recv::new(types::Fd(self.stream.as_raw_fd()), spare.as_mut_ptr().cast(), spare.len() as u32)
            .build()
            .user_data(tag::RECV);
        self.push(&sqe);
        self.recv_armed = true;
    }

    fn push(&mut self, sqe: &io_uring::squeue::Entry) {
        loop {
            // SAFETY: the buffers an entry points at are owned by `self` (the outgoing buffer in
            // `self.send`, the receive buffer's spare capacity inside `self.core`) and are neither
            // moved nor dropped until the completion is reaped: `self.send` is only cleared in
            // `reap`, the receive buffer is only touched after its completion (`recv_armed`), and
            // `Drop` waits for both.
            if unsafe { self.ring.submission().push(sqe) }.is_ok() {
                return;
            }
            // Queue full: hand what is queued to the kernel and retry.
            if self.ring.submit().is_err() {
                return;
            }
        }
    }

    fn submit(&mut self) -> Result<(), RemoteError> {
        loop {
            match self.ring.submit() {
                Ok(_) => return Ok(()),
                Err(err) if err.raw_os_error() == Some(libc::EINTR) => continue,
                Err(err) if err.raw_os_error() == Some(libc::EBUSY) => return Ok(()),
                Err(err) => return Err(RemoteError::from_io(err)),
            }
        }
    }

    fn reap_nonblocking(&mut self) -> Result<(), RemoteError> {
        self.submit()?;
        self.reap();
        Ok(())
    }

    /// Submits and waits until at least one completion is available (spinning first if
    /// configured), or `until` passes.
    fn wait_for_completion(&mut self, until: Option<Instant>, want: usize) -> Result<(), RemoteError> {
        if !self.options.spin.is_zero() {
            let spin_end = Instant::now() + self.options.spin;
            loop {
                self.submit()?;
                if self.ring.completion().len() >= want {
                    return Ok(());
                }
                let now = Instant::now();
                if now >= spin_end || until.is_some_and(|until| now >= until) {
                    break;
                }
                std::hint::spin_loop();
            }
        }
        loop {
            let result = match until {
                None => self.ring.submit_and_wait(want),
                Some(until) => {
                    let wait = until.saturating_duration_since(Instant::now());
                    let ts = types::Timespec::from(wait);
                    let args = types::SubmitArgs::new().timespec(&ts);
                    self.ring.submitter().submit_with_args(want, &args)
                }
            };
            match result {
                Ok(_) => return Ok(()),
                Err(err) => match err.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    Some(libc::ETIME) | Some(libc::EBUSY) => return Ok(()),
                    _ => return Err(RemoteError::from_io(err)),
                },
            }
        }
    }

    /// Handles every available completion.
    fn reap(&mut self) {
        loop {
            let Some(cqe) = self.ring.completion().next() else { break };
            let res = cqe.result();
            match cqe.user_data() {
                tag::SEND => self.on_send(res),
                tag::RECV => self.on_recv(res),
                _ => {}
            }
        }
        self.collect();
        if !self.fin_sent && self.send.is_none() && self.core.closed_error().is_some() {
            // Nothing more will be sent: say so, rather than leave a closing server waiting for
            // our FIN until this connection is dropped.
            self.fin_sent = true;
            let _ = self.stream.shutdown(Shutdown::Write);
        }
    }

    fn on_send(&mut self, res: i32) {
        let Some(mut send) = self.send.take() else { return };
        if res < 0 {
            self.core.handle_closed(RemoteError::from_io(errno(res)));
            return;
        }
        send.offset += res as usize;
        if send.offset < send.buf.len() {
            self.send = Some(send);
            self.push_send();
        } else {
            self.core.recycle(send.buf);
        }
    }

    fn on_recv(&mut self, res: i32) {
        self.recv_armed = false;
        match res {
            0 => self.core.handle_closed(RemoteError::ConnectionClosed("server closed the connection".into())),
            n if n < 0 => {
                if -n != libc::ECANCELED {
                    self.core.handle_closed(RemoteError::from_io(errno(n)));
                }
            }
            n => {
                // SAFETY: the kernel wrote `n` bytes at the start of the spare capacity that
                // `arm_recv` handed it, and nothing touched the buffer in between.
                unsafe { self.core.recv_buf().commit(n as usize) };
                // A protocol error closes the core and fails its calls; they are collected below.
                let _ = self.core.handle_received();
            }
        }
    }

    fn collect(&mut self) {
        while let Some(done) = self.core.poll_completion() {
            self.done.insert(done.call_id, done.result);
        }
    }
}

impl Drop for Connection {
    /// Cancels the armed receive and waits for every in-flight operation to complete, so the kernel
    /// never writes into freed memory. If the ring fails while waiting, the buffers are leaked
    /// instead of freed.
    fn drop(&mut self) {
        if !self.recv_armed && self.send.is_none() {
            return;
        }
        let _ = self.stream.shutdown(Shutdown::Both);
        let cancel = opcode::AsyncCancel::new(tag::RECV).build().user_data(tag::CANCEL);
        self.push(&cancel);
        let give_up = Instant::now() + Duration::from_secs(5);
        while self.recv_armed || self.send.is_some() {
            let waited = self.wait_for_completion(Some(give_up), 1);
            self.reap();
            if waited.is_err() || Instant::now() >= give_up {
                if self.recv_armed || self.send.is_some() {
                    tracing::error!("io_uring operations did not complete at drop; leaking their buffers");
                    std::mem::forget(std::mem::replace(&mut self.core, ClientConnection::new(Config::default())));
                    std::mem::forget(self.send.take());
                }
                return;
            }
        }
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("peer", &self.stream.peer_addr().ok())
            .field("in_flight", &self.core.in_flight())
            .finish_non_exhaustive()
    }
}
