//! The UDP [`Server`]: see the module docs of [`super`].

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hatch_transport::Service;
use socket2::{Domain, Protocol, Socket, Type};

use super::{ServerOptions, wait_readable};
use crate::endpoint::ServerEndpoint;
use crate::error::DriverError;

/// How often an idle server thread looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(20);
/// Datagrams handled per wake-up before replies are sent.
const RECV_BATCH: usize = 64;

/// A running UDP server. Dropping it stops its threads (clients get a `GoAway`).
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Server {
    /// Binds `addr` (port 0 picks a free port) with one `SO_REUSEPORT` socket per thread and
    /// starts serving `service`.
    pub fn bind(addr: SocketAddr, options: ServerOptions, service: Arc<dyn Service>) -> Result<Self, DriverError> {
        let first = bind_reuseport(addr)?;
        let addr = first.local_addr().map_err(DriverError::io("reading the bound address"))?;
        let mut sockets = vec![first];
        for _ in 1..options.threads.max(1) {
            sockets.push(bind_reuseport(addr)?);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for (i, socket) in sockets.into_iter().enumerate() {
            let (stop, service, options) = (stop.clone(), service.clone(), options.clone());
            let thread = std::thread::Builder::new()
                .name(format!("hatch-udp-{i}"))
                .spawn(move || serve(socket, options, &*service, &stop))
                .map_err(DriverError::io("spawning a server thread"))?;
            threads.push(thread);
        }
        Ok(Self { addr, stop, threads })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn bind_reuseport(addr: SocketAddr) -> Result<UdpSocket, DriverError> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
        .map_err(DriverError::io("creating a UDP socket"))?;
    socket.set_reuse_port(true).map_err(DriverError::io("setting SO_REUSEPORT"))?;
    socket.set_nonblocking(true).map_err(DriverError::io("making the socket non-blocking"))?;
    socket.bind(&addr.into()).map_err(DriverError::io("binding the server socket"))?;
    Ok(socket.into())
}

fn serve(socket: UdpSocket, options: ServerOptions, service: &dyn Service, stop: &AtomicBool) {
    let mut endpoint =
        ServerEndpoint::new(options.session.clone(), options.config.clone()).idle_timeout(options.idle_timeout);
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let mut received = 0;
        while received < RECV_BATCH {
            match socket.recv_from(&mut buf) {
                Ok((n, from)) => {
                    received += 1;
                    if let Err(err) = endpoint.handle_datagram(now, from, &buf[..n], service) {
                        tracing::debug!(%err, %from, "dropping a bad datagram");
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) => {
                    tracing::debug!(%err, "receive failed");
                    break;
                }
            }
        }
        if endpoint.poll_timeout().is_some_and(|t| t <= now) {
            endpoint.handle_timeout(now);
        }
        send_all(&socket, &mut endpoint, now, &mut out);
        if received == RECV_BATCH {
            continue; // Stopped at the batch limit, not at an empty socket.
        }
        if !options.spin.is_zero() && spin_for_datagram(&socket, options.spin) {
            continue;
        }
        let wake = endpoint.poll_timeout().map_or(STOP_POLL, |t| t.saturating_duration_since(Instant::now()));
        if let Err(err) = wait_readable(&socket, Some(wake.min(STOP_POLL))) {
            tracing::error!(%err, "waiting on the server socket failed; stopping this thread");
            return;
        }
    }
    endpoint.go_away("server shutting down");
    send_all(&socket, &mut endpoint, Instant::now(), &mut out);
}

fn send_all(socket: &UdpSocket, endpoint: &mut ServerEndpoint<SocketAddr>, now: Instant, out: &mut Vec<u8>) {
    while let Some(to) = endpoint.poll_transmit(now, out) {
        // A failed send is a lost packet; the session retransmits.
        if let Err(err) = socket.send_to(out, to) {
            tracing::trace!(%err, %to, "send failed");
        }
    }
}

/// Busy-polls for a datagram for up to `spin`; true if one is waiting.
fn spin_for_datagram(socket: &UdpSocket, spin: Duration) -> bool {
    let until = Instant::now() + spin;
    let mut probe = [0u8; 1];
    while Instant::now() < until {
        if socket.peek_from(&mut probe).is_ok() {
            return true;
        }
        std::hint::spin_loop();
    }
    false
}
