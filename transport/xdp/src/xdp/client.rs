//! The AF_XDP [`Client`]: one socket on one queue, shared by any number of calling threads.
//!
//! Leader/follower: there is no I/O thread. A thread whose call is pending and finds nobody
//! driving the socket becomes the driver for one round: it computes the wait under the lock,
//! releases the lock while it sleeps on the socket (so others can start calls and send their
//! packets meanwhile), then takes the lock, handles what arrived, files every completion under its
//! call id, and wakes the others. Each caller returns as soon as its own result is filed.
//!
//! Only the driver receives, so no event can be consumed behind its back; a thread that sends
//! while another drives pokes an eventfd the driver also sleeps on, so the driver recomputes its
//! timers (the new packet's retransmission timeout) instead of sleeping past them.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hatch_transport::{CallId, Channel, MethodId, RemoteError};
use parking_lot::{Condvar, Mutex, MutexGuard};

use super::server::send_frame;
use super::{XdpError, XdpOptions, XdpProgram, Xsk, arp_lookup, interface};
use crate::endpoint::ClientEndpoint;
use crate::session::SessionStats;
use crate::udp::HANDSHAKE_TIMEOUT;
use crate::wire::{self, Addr};

/// How long [`Client::connect`] waits for the kernel to resolve the server's MAC address.
const ARP_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest sleep while a TX kick is pending (the kernel was busy).
const KICK_RETRY: Duration = Duration::from_micros(20);

/// An AF_XDP client of one server; see the module docs.
#[derive(Debug)]
pub struct Client {
    inner: Mutex<Inner>,
    /// Signalled after every driving round.
    round: Condvar,
    /// The socket, for sleeping on it without the lock. Valid while `inner` owns the socket,
    /// which is as long as `self` lives.
    fd: RawFd,
    /// Wakes the driver when another thread sent something.
    poke: OwnedFd,
    spin: Duration,
}

#[derive(Debug)]
struct Inner {
    xsk: Xsk,
    endpoint: ClientEndpoint<()>,
    /// Finished calls not yet picked up by their callers.
    results: HashMap<CallId, Result<Bytes, RemoteError>>,
    /// A thread is sleeping on the socket for everyone.
    driving: bool,
    local: Addr,
    server: Addr,
    out: Vec<u8>,
    ip_id: u16,
    // Dropped after the socket (field order): the program never redirects to a closed socket.
    _program: XdpProgram,
}

impl Client {
    /// Attaches the XDP program for `options.port` to `options.interface`, opens a session to
    /// `server` and completes the handshake. `server_mac` is looked up in the ARP table when
    /// `None` (the kernel is asked to resolve it first). Must run in the network namespace of
    /// the interface.
    pub fn connect(options: XdpOptions, server: SocketAddrV4, server_mac: Option<[u8; 6]>) -> Result<Self, XdpError> {
        let (ifindex, mac) = interface(&options.interface)?;
        let server_mac = match server_mac {
            Some(mac) => mac,
            None => resolve(options.ip, server)?,
        };
        let local = Addr { mac, ip: options.ip, port: options.port };
        let server = Addr { mac: server_mac, ip: *server.ip(), port: server.port() };
        let queue = options.queues.first().copied().unwrap_or(0);
        let xsk = Xsk::open(ifindex, queue, &options.xsk).map_err(XdpError::io("opening AF_XDP"))?;
        let program = XdpProgram::attach(ifindex, options.port, options.mode)?;
        program.register(queue, xsk.raw_fd())?;
        let endpoint =
            ClientEndpoint::new(crate::udp::random_session_id(), options.session.clone(), options.config.clone());
        let fd = xsk.raw_fd();
        let inner = Inner {
            xsk,
            endpoint,
            results: HashMap::new(),
            driving: false,
            local,
            server,
            out: Vec::new(),
            ip_id: 0,
            _program: program,
        };
        // SAFETY: plain system call; the result is checked.
        let poke = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if poke < 0 {
            return Err(XdpError::Io { what: "creating an eventfd", source: io::Error::last_os_error() });
        }
        // SAFETY: `poke` is a fresh descriptor that nothing else owns.
        let poke = unsafe { OwnedFd::from_raw_fd(poke) };
        let client = Self { inner: Mutex::new(inner), round: Condvar::new(), fd, poke, spin: options.spin };
        let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
        let guard = client.inner.lock();
        let guard = client.drive(guard, |inner| inner.endpoint.is_ready() || Instant::now() >= deadline)?;
        if !guard.endpoint.is_ready() {
            return Err(XdpError::Remote(RemoteError::DeadlineExceeded));
        }
        drop(guard);
        Ok(client)
    }

    /// Counters of the session.
    pub fn session_stats(&self) -> SessionStats {
        self.inner.lock().endpoint.session().stats()
    }

    /// True when the socket is bound zero-copy.
    pub fn is_zero_copy(&self) -> bool {
        self.inner.lock().xsk.is_zero_copy()
    }

    /// Drives the socket (or waits for the thread that does) until `done` holds or the
    /// connection fails. Returns the guard so the caller can take its result.
    fn drive<'a>(
        &'a self,
        mut guard: MutexGuard<'a, Inner>,
        mut done: impl FnMut(&mut Inner) -> bool,
    ) -> Result<MutexGuard<'a, Inner>, RemoteError> {
        loop {
            if done(&mut guard) {
                return Ok(guard);
            }
            if let Some(err) = guard.endpoint.closed_error() {
                return Err(err);
            }
            if guard.driving {
                self.round.wait(&mut guard);
                continue;
            }
            // Our turn to drive one round. Anything queued (the hello, a request whose sender
            // found the TX ring full) goes out first, so the timers below account for it.
            let now = Instant::now();
            guard.transmit(now);
            if !self.spin.is_zero() {
                let until = now + self.spin;
                while !guard.xsk.has_received() && Instant::now() < until {
                    std::hint::spin_loop();
                }
            }
            if !guard.xsk.has_received() {
                let mut timeout = guard.endpoint.poll_timeout().map(|t| t.saturating_duration_since(now));
                if guard.xsk.kick_pending() {
                    timeout = Some(timeout.map_or(KICK_RETRY, |t| t.min(KICK_RETRY)));
                }
                guard.driving = true;
                let waited = MutexGuard::unlocked(&mut guard, || self.sleep(timeout));
                guard.driving = false;
                if let Err(err) = waited {
                    self.round.notify_all();
                    return Err(err.into());
                }
            }
            guard.pump(Instant::now());
            self.round.notify_all();
        }
    }

    /// Sleeps until the socket is readable, another thread pokes, or `timeout` passes.
    fn sleep(&self, timeout: Option<Duration>) -> io::Result<()> {
        let mut fds = [
            libc::pollfd { fd: self.fd, events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: self.poke.as_raw_fd(), events: libc::POLLIN, revents: 0 },
        ];
        let ts = timeout.map(|t| libc::timespec {
            tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
            tv_nsec: libc::c_long::from(t.subsec_nanos() as i32),
        });
        let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |ts| ts as *const libc::timespec);
        // SAFETY: `fds` is an array of two valid pollfds, `ts_ptr` is null or points at a
        // timespec that outlives the call, and a null signal mask leaves the mask unchanged.
        let rc = unsafe { libc::ppoll(fds.as_mut_ptr(), 2, ts_ptr, std::ptr::null()) };
        if rc < 0 {
            let err = io::Error::last_os_error();
            return if err.kind() == io::ErrorKind::Interrupted { Ok(()) } else { Err(err) };
        }
        if fds[1].revents & libc::POLLIN != 0 {
            let mut count = 0u64;
            // SAFETY: reads 8 bytes into `count`, as eventfd requires; non-blocking, so an
            // already-drained counter just fails with EAGAIN, which is fine.
            unsafe { libc::read(self.poke.as_raw_fd(), (&mut count as *mut u64).cast(), 8) };
        }
        Ok(())
    }

    /// Sends what `guard`'s endpoint has queued and, if another thread is sleeping on the socket
    /// for everyone, wakes it to recompute its timers.
    fn send_queued(&self, guard: &mut Inner) {
        guard.transmit(Instant::now());
        if guard.driving {
            let one = 1u64;
            // SAFETY: writes 8 bytes from `one`, as eventfd requires; a full counter (EAGAIN)
            // means the driver is being woken anyway.
            unsafe { libc::write(self.poke.as_raw_fd(), (&one as *const u64).cast(), 8) };
        }
    }

    /// Waits for the result of call `id`.
    fn wait_for(&self, guard: MutexGuard<'_, Inner>, id: CallId) -> Result<Bytes, RemoteError> {
        let mut guard = self.drive(guard, |inner| inner.results.contains_key(&id))?;
        guard.results.remove(&id).expect("drive returned once the result was filed")
    }
}

/// Asks the kernel to resolve `server`'s MAC (a UDP datagram from our address triggers ARP) and
/// reads it from the ARP table.
fn resolve(local: Ipv4Addr, server: SocketAddrV4) -> Result<[u8; 6], XdpError> {
    if let Some(mac) = arp_lookup(*server.ip()) {
        return Ok(mac);
    }
    let probe = UdpSocket::bind((local, 0)).map_err(XdpError::io("binding the ARP probe socket"))?;
    let deadline = Instant::now() + ARP_TIMEOUT;
    loop {
        // An empty datagram: the server drops it as too short to be a packet.
        let _ = probe.send_to(&[], server);
        std::thread::sleep(Duration::from_millis(5));
        if let Some(mac) = arp_lookup(*server.ip()) {
            return Ok(mac);
        }
        if Instant::now() >= deadline {
            return Err(XdpError::NoNeighbour(*server.ip()));
        }
    }
}

impl Inner {
    /// Handles what arrived, fires due timers, files completions, and sends what is due. Only the
    /// driver calls this (see the module docs).
    fn pump(&mut self, now: Instant) {
        let Self { xsk, endpoint, local, .. } = self;
        xsk.receive(64, |frame| match wire::parse(frame) {
            Ok((_, to, datagram)) if to.port == local.port => {
                if let Err(err) = endpoint.handle_datagram(now, datagram) {
                    tracing::debug!(%err, "dropping a bad datagram");
                }
            }
            Ok(_) => {}
            Err(err) => tracing::debug!(%err, "dropping a bad frame"),
        });
        self.endpoint.handle_timeout(now);
        while let Some(done) = self.endpoint.poll_completion() {
            self.results.insert(done.call_id, done.result);
        }
        self.transmit(now);
    }

    /// Sends what is due.
    fn transmit(&mut self, now: Instant) {
        while self.endpoint.poll_transmit(now, &mut self.out) {
            send_frame(&mut self.xsk, &self.local, &self.server, &self.out, &mut self.ip_id);
        }
        if let Err(err) = self.xsk.kick() {
            tracing::debug!(%err, "AF_XDP transmit kick failed");
        }
    }
}

impl Channel for Client {
    fn call(&self, method: MethodId, request: &[u8], deadline: Option<Instant>) -> Result<Bytes, RemoteError> {
        let mut guard = self.inner.lock();
        let id = guard.endpoint.start_call(method, request, deadline, ())?;
        self.send_queued(&mut guard);
        self.wait_for(guard, id)
    }

    fn send_one_way(&self, method: MethodId, request: &[u8]) -> Result<(), RemoteError> {
        let mut guard = self.inner.lock();
        guard.endpoint.send_one_way(method, request)?;
        self.send_queued(&mut guard);
        Ok(())
    }

    fn flush(&self) -> Result<(), RemoteError> {
        let guard = self.inner.lock();
        let mut guard = self.drive(guard, |inner| inner.endpoint.is_flushed())?;
        match guard.endpoint.take_one_way_failure() {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.endpoint.close();
        self.pump(Instant::now());
    }
}
