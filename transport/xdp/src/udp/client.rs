//! The UDP [`Client`]: see the module docs of [`super`].

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hatch_transport::{CallId, Channel, MethodId, RemoteError};
use parking_lot::Mutex;

use super::{ClientOptions, random_session_id, wait_readable};
use crate::endpoint::ClientEndpoint;
use crate::error::DriverError;
use crate::session::SessionStats;

/// A shareable UDP client of one server address. Cloning is cheap; clones share the pool.
#[derive(Clone, Debug)]
pub struct Client {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    addr: SocketAddr,
    options: ClientOptions,
    pool: Mutex<Vec<Conn>>,
    /// Why one-way calls queued on a session that later failed may have been lost; reported by
    /// the next `flush`.
    lost_one_way: Mutex<Option<RemoteError>>,
}

impl Client {
    /// Opens a session to `addr` and completes the RPC handshake, so that a wrong address or a
    /// version or fingerprint mismatch fail here.
    pub fn connect(addr: SocketAddr, options: ClientOptions) -> Result<Self, DriverError> {
        let mut conn = Conn::open(addr, &options)?;
        let deadline = Instant::now() + options.handshake_timeout;
        conn.drive_until(&options, Some(deadline), |ep| ep.is_ready())?;
        let shared = Arc::new(Shared { addr, options, pool: Mutex::new(vec![conn]), lost_one_way: Mutex::new(None) });
        Ok(Self { shared })
    }

    /// The server address.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// Sessions currently idle in the pool.
    pub fn pooled_sessions(&self) -> usize {
        self.shared.pool.lock().len()
    }

    /// Counters of the sessions idle in the pool, added up.
    pub fn session_stats(&self) -> SessionStats {
        let mut total = SessionStats::default();
        for conn in self.shared.pool.lock().iter() {
            total += conn.endpoint.session().stats();
        }
        total
    }

    fn take(&self) -> Result<Conn, RemoteError> {
        if let Some(conn) = self.shared.pool.lock().pop() {
            return Ok(conn);
        }
        Conn::open(self.shared.addr, &self.shared.options).map_err(RemoteError::from)
    }

    fn put_back(&self, mut conn: Conn) {
        if let Some(err) = conn.endpoint.closed_error() {
            if conn.unflushed_one_way {
                self.shared.lost_one_way.lock().get_or_insert(err);
            }
            conn.close();
            return;
        }
        self.shared.pool.lock().push(conn);
    }
}

impl Channel for Client {
    fn call(&self, method: MethodId, request: &[u8], deadline: Option<Instant>) -> Result<Bytes, RemoteError> {
        let mut conn = self.take()?;
        let result = conn.call(&self.shared.options, method, request, deadline);
        self.put_back(conn);
        result
    }

    fn send_one_way(&self, method: MethodId, request: &[u8]) -> Result<(), RemoteError> {
        let mut conn = self.take()?;
        conn.unflushed_one_way = true;
        let result = conn.endpoint.send_one_way(method, request).and_then(|()| conn.pump(Instant::now()));
        self.put_back(conn);
        result
    }

    fn flush(&self) -> Result<(), RemoteError> {
        let conns = std::mem::take(&mut *self.shared.pool.lock());
        let mut first_err = self.shared.lost_one_way.lock().take();
        for mut conn in conns {
            if let Err(err) = conn.drive_until(&self.shared.options, None, |ep| ep.is_flushed()) {
                first_err.get_or_insert(err.into());
            }
            // Delivered, or reported by this flush: either way not again.
            conn.unflushed_one_way = false;
            if let Some(err) = conn.endpoint.take_one_way_failure() {
                first_err.get_or_insert(err);
            }
            self.put_back(conn);
        }
        match first_err {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}

/// One session and its socket.
#[derive(Debug)]
struct Conn {
    socket: UdpSocket,
    endpoint: ClientEndpoint<()>,
    buf: Vec<u8>,
    /// One-way calls were queued since the last successful flush (if the session fails, they
    /// may be lost, and the next flush says so).
    unflushed_one_way: bool,
}

/// Largest datagram the client receives.
const RECV_BUF: usize = 64 * 1024;

impl Conn {
    fn open(addr: SocketAddr, options: &ClientOptions) -> Result<Self, DriverError> {
        let bind: SocketAddr = if addr.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().expect("valid address");
        let socket = UdpSocket::bind(bind).map_err(DriverError::io("binding a UDP socket"))?;
        socket.connect(addr).map_err(DriverError::io("connecting the UDP socket"))?;
        socket.set_nonblocking(true).map_err(DriverError::io("making the socket non-blocking"))?;
        let endpoint = ClientEndpoint::new(random_session_id(), options.session.clone(), options.config.clone());
        Ok(Self { socket, endpoint, buf: Vec::with_capacity(RECV_BUF), unflushed_one_way: false })
    }

    fn call(
        &mut self,
        options: &ClientOptions,
        method: MethodId,
        request: &[u8],
        deadline: Option<Instant>,
    ) -> Result<Bytes, RemoteError> {
        let id: CallId = self.endpoint.start_call(method, request, deadline, ())?;
        let mut reply = None;
        self.drive_until(options, None, |ep| {
            while let Some(done) = ep.poll_completion() {
                if done.call_id == id {
                    reply = Some(done.result);
                    return true;
                }
            }
            false
        })
        .map_err(RemoteError::from)?;
        reply.expect("drive_until returned after the completion")
    }

    /// Sends what is due and handles what has arrived, without blocking.
    fn pump(&mut self, now: Instant) -> Result<(), RemoteError> {
        self.receive_ready(now)?;
        self.endpoint.handle_timeout(now);
        self.transmit(now)
    }

    fn transmit(&mut self, now: Instant) -> Result<(), RemoteError> {
        while self.endpoint.poll_transmit(now, &mut self.buf) {
            match self.socket.send(&self.buf) {
                Ok(_) => {}
                // A full socket buffer is loss; the session retransmits.
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                // ICMP port unreachable from an earlier packet: the session times out instead.
                Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => {}
                Err(err) => return Err(err.into()),
            }
        }
        Ok(())
    }

    /// Handles every datagram already queued on the socket. Returns how many there were.
    fn receive_ready(&mut self, now: Instant) -> Result<usize, RemoteError> {
        let mut received = 0;
        loop {
            self.buf.resize(RECV_BUF, 0);
            match self.socket.recv(&mut self.buf) {
                Ok(n) => {
                    received += 1;
                    if let Err(err) = self.endpoint.handle_datagram(now, &self.buf[..n]) {
                        tracing::debug!(%err, "dropping a bad datagram");
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(received),
                Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => continue,
                Err(err) => return Err(err.into()),
            }
        }
    }

    /// Receives and handles one datagram if one is queued; false if none is.
    fn receive_one(&mut self, now: Instant) -> Result<bool, RemoteError> {
        loop {
            self.buf.resize(RECV_BUF, 0);
            match self.socket.recv(&mut self.buf) {
                Ok(n) => {
                    if let Err(err) = self.endpoint.handle_datagram(now, &self.buf[..n]) {
                        tracing::debug!(%err, "dropping a bad datagram");
                    }
                    return Ok(true);
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => continue,
                Err(err) => return Err(err.into()),
            }
        }
    }

    /// Drives the session until `done` holds (checked after every event), the endpoint closes,
    /// or `deadline` passes.
    ///
    /// System calls on the fast path of a call: one `send`, one `ppoll`, one `recv`. Datagrams
    /// are handled one at a time so the one that completes the call returns without a further
    /// `recv` that would only report that nothing more is queued.
    fn drive_until(
        &mut self,
        options: &ClientOptions,
        deadline: Option<Instant>,
        mut done: impl FnMut(&mut ClientEndpoint<()>) -> bool,
    ) -> Result<(), DriverError> {
        let mut now = Instant::now();
        self.endpoint.handle_timeout(now);
        self.transmit(now)?;
        loop {
            if done(&mut self.endpoint) {
                return Ok(());
            }
            if let Some(err) = self.endpoint.closed_error() {
                return Err(err.into());
            }
            if deadline.is_some_and(|d| d <= now) {
                return Err(RemoteError::DeadlineExceeded.into());
            }
            let wake = match (self.endpoint.poll_timeout(), deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            self.wait(options, now, wake).map_err(DriverError::io("waiting for the socket"))?;
            now = Instant::now();
            while self.receive_one(now)? {
                if done(&mut self.endpoint) {
                    // Whatever became due (an immediate ack) goes now; delayed acks ride on the
                    // next call.
                    self.transmit(now)?;
                    return Ok(());
                }
            }
            self.endpoint.handle_timeout(now);
            self.transmit(now)?;
        }
    }

    /// Waits for a datagram until `wake`, spinning first if configured.
    fn wait(&mut self, options: &ClientOptions, now: Instant, wake: Option<Instant>) -> io::Result<()> {
        if !options.spin.is_zero() {
            let spin_until = now + options.spin;
            loop {
                let mut probe = [0u8; 1];
                match self.socket.peek(&mut probe) {
                    Ok(_) => return Ok(()),
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                    Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => return Ok(()),
                    Err(err) => return Err(err),
                }
                let t = Instant::now();
                if t >= spin_until || wake.is_some_and(|w| t >= w) {
                    break;
                }
                std::hint::spin_loop();
            }
        }
        let timeout = wake.map(|w| w.saturating_duration_since(Instant::now()));
        if timeout == Some(Duration::ZERO) {
            return Ok(());
        }
        wait_readable(&self.socket, timeout).map(|_| ())
    }

    /// Closes the session, sending its `Close` packet best effort.
    fn close(&mut self) {
        self.endpoint.close();
        let _ = self.transmit(Instant::now());
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        for conn in self.pool.get_mut() {
            conn.close();
        }
    }
}
