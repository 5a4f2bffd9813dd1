//! The AF_XDP [`Server`]: one thread per queue, each with its own socket and endpoint.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hatch_transport::Service;

use super::{XdpError, XdpMode, XdpOptions, XdpProgram, Xsk, interface};
use crate::endpoint::ServerEndpoint;
use crate::wire::{self, Addr, HEADERS_LEN};

/// How often an idle server thread looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(20);
/// Frames handled per wake-up before replies are sent.
const RX_BATCH: u32 = 64;

/// A running AF_XDP server. Dropping it stops its threads and detaches the XDP program.
#[derive(Debug)]
pub struct Server {
    local: Addr,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    zero_copy: bool,
    // Dropped after the threads stopped (field order), so no frame is redirected to a closed socket.
    program: XdpProgram,
}

impl Server {
    /// Attaches the XDP program to `options.interface` and serves `service` on every queue of
    /// `options.queues`. Must run in the network namespace of the interface; the server threads
    /// inherit it.
    pub fn bind(options: XdpOptions, service: Arc<dyn Service>) -> Result<Self, XdpError> {
        let (ifindex, mac) = interface(&options.interface)?;
        let local = Addr { mac, ip: options.ip, port: options.port };
        let mut sockets = Vec::new();
        for &queue in &options.queues {
            sockets.push((queue, Xsk::open(ifindex, queue, &options.xsk).map_err(XdpError::io("opening AF_XDP"))?));
        }
        let program = XdpProgram::attach(ifindex, options.port, options.mode)?;
        for (queue, xsk) in &sockets {
            program.register(*queue, xsk.raw_fd())?;
        }
        let zero_copy = sockets.iter().all(|(_, xsk)| xsk.is_zero_copy());
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for (queue, xsk) in sockets {
            let (stop, service, options) = (stop.clone(), service.clone(), options.clone());
            let thread = std::thread::Builder::new()
                .name(format!("hatch-xdp-q{queue}"))
                .spawn(move || serve(xsk, local, options, &*service, &stop))
                .map_err(XdpError::io("spawning a server thread"))?;
            threads.push(thread);
        }
        Ok(Self { local, stop, threads, zero_copy, program })
    }

    /// Our MAC, IP and port.
    pub fn local_addr(&self) -> Addr {
        self.local
    }

    /// True when every socket is bound zero-copy.
    pub fn is_zero_copy(&self) -> bool {
        self.zero_copy
    }

    /// How the XDP program was attached.
    pub fn mode(&self) -> XdpMode {
        self.program.mode()
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

fn serve(mut xsk: Xsk, local: Addr, options: XdpOptions, service: &dyn Service, stop: &AtomicBool) {
    let mut endpoint = ServerEndpoint::new(options.session.clone(), options.config.clone());
    let mut out = Vec::new();
    let mut ip_id = 0u16;
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let received = xsk.receive(RX_BATCH, |frame| match wire::parse(frame) {
            Ok((from, to, datagram)) if to.port == local.port => {
                if let Err(err) = endpoint.handle_datagram(now, from, datagram, service) {
                    tracing::debug!(%err, "dropping a bad datagram");
                }
            }
            Ok(_) => {}
            Err(err) => tracing::debug!(%err, "dropping a bad frame"),
        });
        if endpoint.poll_timeout().is_some_and(|t| t <= now) {
            endpoint.handle_timeout(now);
        }
        transmit(&mut xsk, &mut endpoint, &local, now, &mut out, &mut ip_id);
        if received > 0 {
            continue;
        }
        if !options.spin.is_zero() {
            let until = Instant::now() + options.spin;
            while !xsk.has_received() && Instant::now() < until {
                std::hint::spin_loop();
            }
            if xsk.has_received() {
                continue;
            }
        }
        let wake = endpoint.poll_timeout().map_or(STOP_POLL, |t| t.saturating_duration_since(Instant::now()));
        if let Err(err) = xsk.wait(Some(wake.min(STOP_POLL))) {
            tracing::error!(%err, "waiting on the AF_XDP socket failed; stopping this thread");
            return;
        }
    }
    endpoint.go_away("server shutting down");
    transmit(&mut xsk, &mut endpoint, &local, Instant::now(), &mut out, &mut ip_id);
}

/// Sends everything the endpoint has to send, as Ethernet frames.
pub(super) fn transmit(
    xsk: &mut Xsk,
    endpoint: &mut ServerEndpoint<Addr>,
    local: &Addr,
    now: Instant,
    out: &mut Vec<u8>,
    ip_id: &mut u16,
) {
    while let Some(to) = endpoint.poll_transmit(now, out) {
        send_frame(xsk, local, &to, out, ip_id);
    }
    if let Err(err) = xsk.kick() {
        tracing::debug!(%err, "AF_XDP transmit kick failed");
    }
}

/// Queues one datagram as a frame; false if the TX ring is full (the session retransmits).
pub(super) fn send_frame(xsk: &mut Xsk, local: &Addr, to: &Addr, datagram: &[u8], ip_id: &mut u16) -> bool {
    if HEADERS_LEN + datagram.len() > xsk.frame_capacity() {
        tracing::error!(len = datagram.len(), "datagram larger than a UMEM frame; dropped");
        return false;
    }
    *ip_id = ip_id.wrapping_add(1);
    let id = *ip_id;
    xsk.send(|frame| {
        frame[HEADERS_LEN..HEADERS_LEN + datagram.len()].copy_from_slice(datagram);
        wire::write_headers(frame, local, to, datagram.len(), id)
    })
}
