//! The io_uring server: one event loop per thread, each with its own ring and `SO_REUSEPORT`
//! listener (the kernel spreads connections over them).
//!
//! Per thread: a multishot accept; per connection a multishot receive that selects buffers from
//! the thread's provided-buffer ring (plain single-shot receives into the connection's own buffer
//! on kernels without buffer rings); the bytes are copied into the connection's aligned receive
//! buffer (so payloads reach the service 16-aligned), every complete request is dispatched, and
//! all replies found in one read leave in one send. A protocol error closes only that connection,
//! after a `GoAway` with the reason; shutdown sends every connection a `GoAway` too.
//!
//! Closing is lingering, as in the tokio backend: after its last reply and `GoAway` a connection
//! sends its FIN and reads (discarding) until the peer's, because closing with the peer's bytes
//! unread would reset the connection, and a reset can destroy the `GoAway` before the peer reads
//! it. A peer that does not hang up within [`CLOSE_GRACE`] is cut off. At shutdown a peer is also
//! cut off once it has sent nothing for [`QUIET_PERIOD`] after our FIN: idle clients (an io_uring
//! client reads only while it calls, so it may never see the `GoAway`) do not hold the shutdown up
//! for the whole grace, while a request that was already on its way when the `GoAway` left is
//! still read (and dropped) rather than answered with a reset.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use io_uring::{IoUring, cqueue, opcode, types};

use super::buf_ring::BufRing;
use super::{UringOptions, errno};
use crate::config::Config;
use crate::proto::ServerConnection;
use crate::service::{Service, dispatch};
use crate::socket;

const BUF_GROUP: u16 = 0;
const RING_BUFFERS: u16 = 256;
const RING_BUFFER_SIZE: usize = 16 * 1024;
/// Pause before re-arming a failed accept.
const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(50);
/// How long a closing connection may take to deliver its last replies and `GoAway` and to see the
/// peer hang up, before it is cut off.
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(1);
/// At shutdown, how long a closing connection's peer may stay silent after our FIN before it is
/// cut off: a few round trips, so bytes it sent before seeing the `GoAway` still arrive at an
/// open socket (closing on them would reset the connection).
const QUIET_PERIOD: std::time::Duration = std::time::Duration::from_millis(100);

/// Operation kinds, in the low bits of `user_data`; the connection slot is in the high bits.
mod op {
    pub const ACCEPT: u64 = 1;
    pub const RECV: u64 = 2;
    pub const SEND: u64 = 3;
    pub const STOP: u64 = 4;
    pub const CANCEL: u64 = 5;
    pub const ACCEPT_RETRY: u64 = 6;
    pub const LINGER: u64 = 7;
    pub const QUIET: u64 = 8;
    pub const BITS: u32 = 4;
    pub const MASK: u64 = (1 << BITS) - 1;
}

fn user_data(kind: u64, slot: usize) -> u64 {
    ((slot as u64) << op::BITS) | kind
}

/// A running io_uring server. Stops (and joins its threads) on [`Server::shutdown`] or drop.
#[derive(Debug)]
pub struct Server {
    local_addr: SocketAddr,
    threads: Vec<(OwnedFd, JoinHandle<()>)>,
    /// Checked between requests, so a thread busy in a slow service stops serving the requests
    /// it already received instead of finishing them all first.
    stop_flag: Arc<AtomicBool>,
}

impl Server {
    /// Binds `addr` and serves `service` on `threads` threads (at least one).
    pub fn bind(addr: SocketAddr, config: Config, service: Arc<dyn Service>, threads: usize) -> io::Result<Self> {
        Self::bind_with(addr, config, service, threads, UringOptions::default())
    }

    /// [`Server::bind`] with explicit ring options.
    pub fn bind_with(
        addr: SocketAddr,
        config: Config,
        service: Arc<dyn Service>,
        threads: usize,
        options: UringOptions,
    ) -> io::Result<Self> {
        let first = socket::listen(addr, true)?;
        let local_addr = first.local_addr()?;
        let mut listeners = vec![first];
        for _ in 1..threads.max(1) {
            listeners.push(socket::listen(local_addr, true)?);
        }
        // Threads started so far stop again (through `Drop`) if a later one fails to start.
        let mut server = Self { local_addr, threads: Vec::new(), stop_flag: Arc::new(AtomicBool::new(false)) };
        for (index, listener) in listeners.into_iter().enumerate() {
            // SAFETY: eventfd with valid flags returns a new descriptor or -1.
            let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
            if raw < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `raw` is a fresh descriptor owned by nobody else.
            let stop = unsafe { OwnedFd::from_raw_fd(raw) };
            let stop_fd = stop.try_clone()?;
            let (ready_tx, ready_rx) = std::sync::mpsc::channel();
            let (config, service, options) = (config.clone(), service.clone(), options.clone());
            let thread_stop_flag = server.stop_flag.clone();
            let cpu = (!options.cpus.is_empty()).then(|| options.cpus[index % options.cpus.len()]);
            let handle = std::thread::Builder::new().name(format!("hatch-uring-{index}")).spawn(move || {
                if let Some(cpu) = cpu
                    && let Err(err) = super::pin_current_thread(cpu)
                {
                    tracing::warn!(%err, cpu, "could not pin server thread");
                }
                match EventLoop::new(listener, stop_fd, thread_stop_flag, config, service, &options) {
                    Ok(mut event_loop) => {
                        let _ = ready_tx.send(Ok(()));
                        if let Err(err) = event_loop.run() {
                            tracing::error!(%err, "io_uring server loop failed");
                        }
                        event_loop.finish();
                    }
                    Err(err) => {
                        let _ = ready_tx.send(Err(err));
                    }
                }
            })?;
            ready_rx.recv().map_err(|_| io::Error::other("server thread died at start"))??;
            server.threads.push((stop, handle));
        }
        Ok(server)
    }

    /// The bound address (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, closes every connection (each finishes the request its service is running,
    /// writes its queued replies and a `GoAway`, so its client's other pending calls fail with
    /// [`crate::RemoteError::GoAway`]; a peer that does not hang up within a second is cut off),
    /// waits for the kernel to finish with every buffer, and joins the threads.
    pub fn shutdown(mut self) {
        self.stop_threads();
    }

    fn stop_threads(&mut self) {
        self.stop_flag.store(true, Ordering::Release);
        for (stop, _) in &self.threads {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a valid u64 to an eventfd we own.
            unsafe { libc::write(stop.as_raw_fd(), (&one as *const u64).cast(), 8) };
        }
        for (_, handle) in self.threads.drain(..) {
            let _ = handle.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_threads();
    }
}

struct Conn {
    stream: TcpStream,
    core: ServerConnection,
    send: Option<(Vec<u8>, usize)>,
    recv_armed: bool,
    /// Stopped reading because too many reply bytes are queued.
    paused: bool,
    /// No more requests are read; what is queued is delivered, then the connection closes.
    closing: bool,
    /// The peer hung up (end of stream): nothing to wait for once our bytes are out.
    peer_done: bool,
    /// The socket failed or was cut off: nothing more can be exchanged.
    broken: bool,
    /// Our FIN is sent; reading only to see the peer's.
    fin_sent: bool,
    /// The [`CLOSE_GRACE`] timer.
    grace: Timer,
    /// The [`QUIET_PERIOD`] timer (at shutdown only).
    quiet: Timer,
    /// Bytes arrived since the quiet timer was last armed.
    heard: bool,
    ops: u32,
}

/// One timer of a connection: in flight, and whether its cancellation was asked for (then it is
/// never armed again).
#[derive(Default)]
struct Timer {
    armed: bool,
    cancelled: bool,
}

impl Conn {
    /// The timer of operation kind [`op::LINGER`] or [`op::QUIET`].
    fn timer(&mut self, kind: u64) -> &mut Timer {
        if kind == op::LINGER { &mut self.grace } else { &mut self.quiet }
    }
}

enum RecvMode {
    Ring(BufRing),
    Plain,
}

struct EventLoop {
    ring: IoUring,
    listener: TcpListener,
    stop_fd: OwnedFd,
    stop_flag: Arc<AtomicBool>,
    stop_buf: Box<u64>,
    config: Config,
    service: Arc<dyn Service>,
    recv_mode: RecvMode,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    accept_armed: bool,
    /// A timer before re-arming an accept that failed (e.g. out of descriptors), so a failing
    /// accept cannot spin the thread.
    accept_retry_armed: bool,
    accept_backoff: Box<types::Timespec>,
    close_grace: Box<types::Timespec>,
    quiet_period: Box<types::Timespec>,
    stop_armed: bool,
    finished: bool,
    stopping: bool,
    scratch: Vec<u8>,
}

impl EventLoop {
    fn new(
        listener: TcpListener,
        stop_fd: OwnedFd,
        stop_flag: Arc<AtomicBool>,
        config: Config,
        service: Arc<dyn Service>,
        options: &UringOptions,
    ) -> io::Result<Self> {
        let ring = options.build_ring()?;
        let recv_mode = match BufRing::register(&ring, BUF_GROUP, RING_BUFFERS, RING_BUFFER_SIZE) {
            Ok(buf_ring) => RecvMode::Ring(buf_ring),
            Err(err) => {
                tracing::info!(%err, "no provided-buffer rings on this kernel; using plain receives");
                RecvMode::Plain
            }
        };
        let mut this = Self {
            ring,
            listener,
            stop_fd,
            stop_flag,
            stop_buf: Box::new(0),
            config,
            service,
            recv_mode,
            conns: Vec::new(),
            free: Vec::new(),
            accept_armed: false,
            accept_retry_armed: false,
            accept_backoff: Box::new(types::Timespec::from(ACCEPT_BACKOFF)),
            close_grace: Box::new(types::Timespec::from(CLOSE_GRACE)),
            quiet_period: Box::new(types::Timespec::from(QUIET_PERIOD)),
            stop_armed: false,
            finished: false,
            stopping: false,
            scratch: Vec::new(),
        };
        if !this.arm_accept() {
            return Err(io::Error::other("could not queue the accept"));
        }
        let stop = opcode::Read::new(types::Fd(this.stop_fd.as_raw_fd()), (&mut *this.stop_buf as *mut u64).cast(), 8)
            .build()
            .user_data(op::STOP);
        if !this.push(&stop) {
            return Err(io::Error::other("could not queue the stop signal's read"));
        }
        this.stop_armed = true;
        Ok(this)
    }

    /// Queues an entry; false if the ring refused it (then the caller must not count the
    /// operation as in flight).
    fn push(&mut self, sqe: &io_uring::squeue::Entry) -> bool {
        for _ in 0..1000 {
            // SAFETY: every buffer an entry points at outlives its completion: `stop_buf`,
            // `accept_backoff`, `close_grace` and `quiet_period` are boxed and kept until `finish`
            // has waited for all operations; a connection's send buffer and plain-mode receive buffer are owned by its `Conn`,
            // which is only freed when its `ops` count is zero; provided buffers belong to
            // `recv_mode`, dropped after `finish`. Callers mark an operation in flight only after
            // this returns true.
            if unsafe { self.ring.submission().push(sqe) }.is_ok() {
                return true;
            }
            // The submission queue is full: hand it to the kernel and retry.
            match self.ring.submit() {
                Ok(_) => {}
                Err(err) if matches!(err.raw_os_error(), Some(libc::EINTR | libc::EAGAIN | libc::EBUSY)) => {
                    std::thread::yield_now();
                }
                Err(err) => {
                    tracing::error!(%err, "io_uring submission failed");
                    return false;
                }
            }
        }
        tracing::error!("io_uring submission queue stayed full");
        false
    }

    fn arm_accept(&mut self) -> bool {
        let sqe = opcode::AcceptMulti::new(types::Fd(self.listener.as_raw_fd())).build().user_data(op::ACCEPT);
        self.accept_armed = self.push(&sqe);
        self.accept_armed
    }

    fn arm_accept_retry(&mut self) {
        let sqe = opcode::Timeout::new(&*self.accept_backoff).build().user_data(op::ACCEPT_RETRY);
        self.accept_retry_armed = self.push(&sqe);
    }

    fn run(&mut self) -> io::Result<()> {
        while !(self.stopping && self.idle()) {
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(err) if matches!(err.raw_os_error(), Some(libc::EINTR) | Some(libc::EBUSY)) => {}
                Err(err) => return Err(err),
            }
            self.reap();
        }
        Ok(())
    }

    /// No operation of this loop is in flight.
    fn idle(&self) -> bool {
        !self.accept_armed
            && !self.accept_retry_armed
            && !self.stop_armed
            && self.conns.iter().flatten().all(|conn| conn.ops == 0)
    }

    fn reap(&mut self) {
        let mut returned_buffers = false;
        loop {
            let Some(cqe) = self.ring.completion().next() else { break };
            let (res, flags, data) = (cqe.result(), cqe.flags(), cqe.user_data());
            let slot = (data >> op::BITS) as usize;
            match data & op::MASK {
                op::ACCEPT => self.on_accept(res, flags),
                op::RECV => returned_buffers |= self.on_recv(slot, res, flags),
                op::SEND => self.on_send(slot, res),
                op::STOP => {
                    self.stop_armed = false;
                    self.begin_stop();
                }
                op::CANCEL if slot < self.conns.len() => {
                    self.op_done(slot);
                    self.maybe_free(slot);
                }
                op::LINGER if slot < self.conns.len() => self.on_linger_timer(slot, res),
                op::QUIET if slot < self.conns.len() => self.on_quiet_timer(slot, res),
                op::ACCEPT_RETRY => {
                    self.accept_retry_armed = false;
                    if !self.stopping && !self.accept_armed {
                        self.arm_accept();
                    }
                }
                _ => {}
            }
        }
        if returned_buffers && let RecvMode::Ring(buf_ring) = &self.recv_mode {
            buf_ring.publish();
        }
    }

    fn begin_stop(&mut self) {
        self.stopping = true;
        if self.accept_armed {
            let cancel = opcode::AsyncCancel::new(op::ACCEPT).build().user_data(user_data(op::CANCEL, usize::MAX >> 8));
            self.push(&cancel);
        }
        if self.accept_retry_armed {
            let cancel =
                opcode::AsyncCancel::new(op::ACCEPT_RETRY).build().user_data(user_data(op::CANCEL, usize::MAX >> 8));
            self.push(&cancel);
        }
        // Connections waiting in the backlog would be reset when the listener closes.
        if self.listener.set_nonblocking(true).is_ok() {
            while let Ok((stream, _)) = self.listener.accept() {
                self.adopt(stream);
            }
        }
        // Later connections are refused rather than completed by the kernel and reset when the
        // listener closes, up to a grace period later.
        let _ = socket2::SockRef::from(&self.listener).shutdown(Shutdown::Read);
        for slot in 0..self.conns.len() {
            self.say_goodbye(slot);
        }
        let _ = self.ring.submit();
    }

    /// Starts closing a connection for shutdown: a `GoAway` after its queued replies.
    fn say_goodbye(&mut self, slot: usize) {
        let Some(conn) = &mut self.conns[slot] else { return };
        // A no-op on a connection that already sent its `GoAway` (or saw the peer's).
        conn.core.go_away("server shutting down");
        conn.closing = true;
        // Bounds the whole goodbye, including replies to a peer that stopped reading.
        self.arm_close_timer(slot);
        self.maybe_send(slot);
        self.maybe_free(slot);
    }

    /// Starts the [`CLOSE_GRACE`] timer of a closing connection, once.
    fn arm_close_timer(&mut self, slot: usize) {
        self.arm_timer(slot, op::LINGER);
    }

    /// Starts timer `kind` ([`op::LINGER`] or [`op::QUIET`]) unless it is in flight or was
    /// cancelled; a connection whose timer cannot be queued is cut off.
    fn arm_timer(&mut self, slot: usize, kind: u64) {
        let Some(conn) = self.conns[slot].as_mut() else { return };
        let timer = conn.timer(kind);
        if timer.armed || timer.cancelled || conn.broken {
            return;
        }
        let timespec = if kind == op::LINGER { &*self.close_grace } else { &*self.quiet_period };
        let sqe = opcode::Timeout::new(timespec).build().user_data(user_data(kind, slot));
        if self.push(&sqe) {
            let conn = self.conns[slot].as_mut().expect("checked above");
            conn.timer(kind).armed = true;
            conn.ops += 1;
        } else {
            self.cut_off(slot);
        }
    }

    fn on_linger_timer(&mut self, slot: usize, res: i32) {
        self.op_done(slot);
        let Some(conn) = self.conns[slot].as_mut() else { return };
        conn.grace.armed = false;
        if -res == libc::ETIME {
            tracing::debug!(peer = ?conn.stream.peer_addr().ok(), "closing connection did not finish in time; cut off");
            self.cut_off(slot);
        }
        self.maybe_free(slot);
    }

    /// At shutdown, after our FIN: a peer that sent something during the last quiet period gets
    /// another; a silent one is cut off.
    fn on_quiet_timer(&mut self, slot: usize, res: i32) {
        self.op_done(slot);
        let Some(conn) = self.conns[slot].as_mut() else { return };
        conn.quiet.armed = false;
        if -res == libc::ETIME {
            if std::mem::take(&mut conn.heard) {
                self.arm_timer(slot, op::QUIET);
            } else {
                self.cut_off(slot);
            }
        }
        self.maybe_free(slot);
    }

    /// Gives up on exchanging anything more: the socket is shut down (ending its receive and any
    /// send), and the slot is freed once no operation references it.
    fn cut_off(&mut self, slot: usize) {
        let Some(conn) = self.conns[slot].as_mut() else { return };
        conn.closing = true;
        conn.broken = true;
        let _ = conn.stream.shutdown(Shutdown::Both);
    }

    fn on_accept(&mut self, res: i32, flags: u32) {
        if !cqueue::more(flags) {
            self.accept_armed = false;
        }
        if res >= 0 {
            // SAFETY: a successful accept completion carries a new descriptor we now own.
            let stream = unsafe { TcpStream::from_raw_fd(res) };
            self.adopt(stream);
        } else if !self.stopping && -res != libc::ECANCELED {
            tracing::warn!(err = %errno(res), "accept failed; retrying after {ACCEPT_BACKOFF:?}");
            if !self.accept_armed && !self.accept_retry_armed {
                self.arm_accept_retry();
            }
            return;
        }
        if !self.accept_armed && !self.accept_retry_armed && !self.stopping {
            self.arm_accept();
        }
    }

    /// Takes an accepted connection in. During shutdown it is only told to go away, so a client
    /// whose connection was still waiting to be accepted learns why rather than seeing a reset.
    fn adopt(&mut self, stream: TcpStream) {
        if let Err(err) = socket::configure_accepted(&stream).and_then(|()| socket::configure_liveness_of(&stream)) {
            tracing::warn!(%err, "could not configure an accepted connection");
        }
        let conn = Conn {
            stream,
            core: ServerConnection::new(self.config.clone()),
            send: None,
            recv_armed: false,
            paused: false,
            closing: false,
            peer_done: false,
            broken: false,
            fin_sent: false,
            grace: Timer::default(),
            quiet: Timer::default(),
            heard: false,
            ops: 0,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.conns[slot] = Some(conn);
                slot
            }
            None => {
                self.conns.push(Some(conn));
                self.conns.len() - 1
            }
        };
        if self.stopping {
            self.say_goodbye(slot);
        } else {
            self.arm_recv(slot);
        }
    }

    fn arm_recv(&mut self, slot: usize) {
        let Some(conn) = self.conns[slot].as_mut() else { return };
        // A closing connection reads again only to see the peer's FIN after sending its own.
        let draining = conn.closing && conn.fin_sent && !conn.peer_done && !conn.broken;
        if conn.recv_armed || conn.paused || (conn.closing && !draining) {
            return;
        }
        let fd = types::Fd(conn.stream.as_raw_fd());
        let sqe = match &self.recv_mode {
            RecvMode::Ring(buf_ring) => opcode::RecvMulti::new(fd, buf_ring.bgid()).build(),
            RecvMode::Plain => {
                let wanted = conn.core.wanted().max(4096);
                let spare = conn.core.recv_buf().spare_capacity_mut(wanted);
                opcode::Recv::new(fd, spare.as_mut_ptr().cast(), spare.len() as u32).build()
            }
        };
        if self.push(&sqe.user_data(user_data(op::RECV, slot))) {
            let conn = self.conns[slot].as_mut().expect("checked above");
            conn.recv_armed = true;
            conn.ops += 1;
        } else if self.conns[slot].is_some() {
            self.cut_off(slot);
            self.maybe_free(slot);
        }
    }

    /// Returns true when a provided buffer went back to the ring (publish pending).
    fn on_recv(&mut self, slot: usize, res: i32, flags: u32) -> bool {
        let more = cqueue::more(flags);
        let mut returned = false;
        let Some(conn) = self.conns[slot].as_mut() else { return false };
        if res > 0 && conn.closing {
            // Draining until the peer's FIN: the bytes are dropped unread.
            conn.heard = true;
            if let (RecvMode::Ring(buf_ring), Some(bid)) = (&mut self.recv_mode, cqueue::buffer_select(flags)) {
                buf_ring.push(bid);
                returned = true;
            }
        } else if res > 0 {
            match (&mut self.recv_mode, cqueue::buffer_select(flags)) {
                (RecvMode::Ring(buf_ring), Some(bid)) => {
                    conn.core.recv_buf().extend_from_slice(buf_ring.filled(bid, res as usize));
                    buf_ring.push(bid);
                    returned = true;
                }
                (RecvMode::Plain, _) => {
                    // SAFETY: the kernel wrote `res` bytes at the start of the spare capacity
                    // handed to it in `arm_recv`; nothing touched the buffer in between.
                    unsafe { conn.core.recv_buf().commit(res as usize) };
                }
                (RecvMode::Ring(_), None) => {}
            }
            self.process(slot);
        } else if res == 0 {
            if !conn.closing
                && let Err(err) = conn.core.handle_eof()
            {
                tracing::warn!(%err, peer = ?conn.stream.peer_addr().ok(), "client closed mid-frame");
            }
            conn.closing = true;
            conn.peer_done = true;
        } else {
            match -res {
                libc::ENOBUFS => {} // every provided buffer is in use; re-armed below
                libc::ECANCELED => {}
                code => {
                    if !conn.closing {
                        tracing::debug!(err = %io::Error::from_raw_os_error(code), "receive failed; closing connection");
                    }
                    conn.closing = true;
                    conn.broken = true;
                }
            }
        }
        if !more {
            if let Some(conn) = self.conns[slot].as_mut() {
                conn.recv_armed = false;
            }
            self.op_done(slot);
            self.arm_recv(slot);
        }
        self.maybe_send(slot);
        self.maybe_free(slot);
        returned
    }

    fn process(&mut self, slot: usize) {
        let Some(conn) = self.conns[slot].as_mut() else { return };
        loop {
            if self.stop_flag.load(Ordering::Acquire) {
                self.begin_stop();
                return;
            }
            match conn.core.poll_request() {
                Ok(Some(request)) => dispatch(&mut conn.core, &*self.service, request, &mut self.scratch),
                Ok(None) => break,
                Err(err) => {
                    tracing::warn!(%err, peer = ?conn.stream.peer_addr().ok(), "closing connection after a protocol error");
                    break;
                }
            }
        }
        if conn.core.is_closed() {
            conn.closing = true;
        }
        if conn.core.queued_bytes() > self.config.outbox_high_water && conn.recv_armed && !conn.paused {
            conn.paused = true;
            let cancel =
                opcode::AsyncCancel::new(user_data(op::RECV, slot)).build().user_data(user_data(op::CANCEL, slot));
            if self.push(&cancel) {
                self.conns[slot].as_mut().expect("live connection").ops += 1;
            }
        }
    }

    fn maybe_send(&mut self, slot: usize) {
        let Some(conn) = self.conns[slot].as_mut() else { return };
        if conn.send.is_some() {
            return;
        }
        let Some(buf) = conn.core.poll_transmit() else { return };
        let sqe = opcode::Send::new(types::Fd(conn.stream.as_raw_fd()), buf.as_ptr(), buf.len() as u32)
            .build()
            .user_data(user_data(op::SEND, slot));
        conn.send = Some((buf, 0));
        self.submit_send(slot, sqe);
    }

    /// Queues a send whose buffer is already in `conn.send`; aborts the connection if the ring
    /// refuses it.
    fn submit_send(&mut self, slot: usize, sqe: io_uring::squeue::Entry) {
        if self.push(&sqe) {
            self.conns[slot].as_mut().expect("live connection").ops += 1;
        } else {
            self.abort(slot);
        }
    }

    /// Gives up on a connection whose send the ring refused: nothing more is sent, the socket is
    /// shut down, and the slot is freed once no operation references it. Only called while no
    /// send of this connection is in flight, so dropping `conn.send` frees nothing the kernel holds.
    fn abort(&mut self, slot: usize) {
        let Some(conn) = self.conns[slot].as_mut() else { return };
        conn.send = None;
        while conn.core.poll_transmit().is_some() {}
        self.cut_off(slot);
        self.maybe_free(slot);
    }

    fn on_send(&mut self, slot: usize, res: i32) {
        self.op_done(slot);
        let Some(conn) = self.conns[slot].as_mut() else { return };
        let Some((buf, mut offset)) = conn.send.take() else { return };
        if res < 0 {
            while conn.core.poll_transmit().is_some() {}
            self.cut_off(slot);
        } else {
            offset += res as usize;
            if offset < buf.len() {
                let rest = &buf[offset..];
                let sqe = opcode::Send::new(types::Fd(conn.stream.as_raw_fd()), rest.as_ptr(), rest.len() as u32)
                    .build()
                    .user_data(user_data(op::SEND, slot));
                conn.send = Some((buf, offset));
                self.submit_send(slot, sqe);
                return;
            }
            conn.core.recycle(buf);
            if conn.paused && conn.core.queued_bytes() <= self.config.outbox_high_water / 2 {
                conn.paused = false;
                self.arm_recv(slot);
            }
        }
        self.maybe_send(slot);
        self.maybe_free(slot);
    }

    fn op_done(&mut self, slot: usize) {
        if let Some(Some(conn)) = self.conns.get_mut(slot) {
            conn.ops -= 1;
        }
    }

    /// Moves a closing connection towards its end: once its last reply (or `GoAway`) is written,
    /// sends its FIN and waits for the peer's (see the module docs), then frees the slot when no
    /// operation references it.
    fn maybe_free(&mut self, slot: usize) {
        let Some(conn) = self.conns[slot].as_mut() else { return };
        if !conn.closing {
            return;
        }
        // The grace bounds the whole goodbye, including replies to a peer that stopped reading
        // (a peer that hung up itself is left to take its replies, as in the tokio backend).
        if !conn.peer_done || self.stopping {
            self.arm_close_timer(slot);
        }
        let Some(conn) = self.conns[slot].as_mut() else { return };
        if conn.send.is_some() || (!conn.broken && conn.core.queued_bytes() > 0) {
            return;
        }
        if !conn.broken && !conn.peer_done {
            if conn.fin_sent {
                return;
            }
            conn.fin_sent = true;
            if conn.stream.shutdown(Shutdown::Write).is_err() {
                self.cut_off(slot);
            } else {
                // At shutdown a peer that stays silent (an idle client, whose io_uring connection
                // only reads while it makes a call) is not waited for the whole grace.
                if self.stopping {
                    self.arm_timer(slot, op::QUIET);
                }
                self.arm_recv(slot);
                return;
            }
        }
        let Some(conn) = self.conns[slot].as_mut() else { return };
        if conn.recv_armed {
            // Ending the read side terminates the receive; its completion brings us back here.
            let _ = conn.stream.shutdown(Shutdown::Both);
            return;
        }
        if conn.grace.armed || conn.quiet.armed {
            for kind in [op::LINGER, op::QUIET] {
                self.cancel_timer(slot, kind);
            }
            return;
        }
        if conn.ops == 0 {
            self.conns[slot] = None;
            self.free.push(slot);
        }
    }

    /// Asks for timer `kind` of a connection to be cancelled, once, if it is in flight.
    fn cancel_timer(&mut self, slot: usize, kind: u64) {
        let Some(conn) = self.conns[slot].as_mut() else { return };
        let timer = conn.timer(kind);
        if !timer.armed || timer.cancelled {
            return;
        }
        timer.cancelled = true;
        let cancel = opcode::AsyncCancel::new(user_data(kind, slot)).build().user_data(user_data(op::CANCEL, slot));
        if self.push(&cancel) {
            self.conns[slot].as_mut().expect("checked above").ops += 1;
        }
    }

    /// Waits for every operation still in flight, then releases the provided buffers.
    fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        if !self.stopping {
            self.begin_stop();
        }
        while !self.idle() {
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(err) if matches!(err.raw_os_error(), Some(libc::EINTR) | Some(libc::EBUSY)) => {}
                Err(err) => {
                    tracing::error!(%err, "io_uring failed while draining; leaking its buffers");
                    std::mem::forget(std::mem::replace(&mut self.recv_mode, RecvMode::Plain));
                    std::mem::forget(std::mem::take(&mut self.conns));
                    std::mem::forget(std::mem::replace(&mut self.stop_buf, Box::new(0)));
                    return;
                }
            }
            self.reap();
            for slot in 0..self.conns.len() {
                self.maybe_free(slot);
            }
        }
        if let RecvMode::Ring(buf_ring) = &self.recv_mode {
            let _ = buf_ring.unregister(&self.ring);
        }
    }
}

impl Drop for EventLoop {
    /// Drains in-flight operations even when the loop's thread unwinds from a panic, so the kernel
    /// never writes into buffers freed by the unwinding.
    fn drop(&mut self) {
        self.finish();
    }
}
