//! The front end's sockets: an accept thread and one thread per connection, blocking I/O.
//!
//! One thread per connection fits what the front end does: every request calls a component
//! that may run on another host and block for a round trip, and a thread per connection lets
//! as many of those wait at once as there are clients, with no async colouring of the
//! components. The costs are bounded by [`ServerConfig::max_connections`] (further clients get
//! a `503` and are closed at once) and small thread stacks.
//!
//! Every client is untrusted: a request head must arrive within
//! [`ServerConfig::request_timeout`] of its first byte (a peer trickling one byte a second is
//! cut off), an idle keep-alive connection is closed after [`ServerConfig::idle_timeout`],
//! and a malformed request gets its 4xx answer (see [`crate::http`]) and a closed connection.
//! No client can stop another from being served.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hatch_components::Slot;
use parking_lot::Mutex;

use crate::api::http::{Connection, Frontend, Method, Response};
use crate::http::{self, DateCache, Limits, Progress};

/// How the front end treats its clients.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Request size limits (head, URI, header count, body).
    pub limits: Limits,
    /// Connections served at once; default 1024. Further ones get `503` and are closed.
    pub max_connections: usize,
    /// Time from a request's first byte to its last; default 10 s.
    pub request_timeout: Duration,
    /// Time a keep-alive connection may sit between requests; default 15 s.
    pub idle_timeout: Duration,
    /// Time a response may take to be written (a client that does not read); default 10 s.
    pub write_timeout: Duration,
    /// Time [`Server::shutdown`] waits for requests in progress; default 5 s.
    pub drain_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            limits: Limits::default(),
            max_connections: 1024,
            request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(15),
            write_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(5),
        }
    }
}

/// What the server has done, for tests and operators.
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Connections accepted and served.
    pub accepted: AtomicU64,
    /// Connections refused for being over the limit.
    pub refused: AtomicU64,
    /// Requests answered (any status).
    pub requests: AtomicU64,
    /// Requests refused as malformed or over a limit.
    pub bad_requests: AtomicU64,
    /// Connections cut off for being too slow.
    pub timed_out: AtomicU64,
    /// Connections open now.
    pub open: AtomicUsize,
}

struct Shared {
    config: ServerConfig,
    frontend: Slot<dyn Frontend>,
    dates: DateCache,
    stats: ServerStats,
    stopping: AtomicBool,
    /// Connections open now, by id, to be woken at shutdown.
    open: Mutex<std::collections::HashMap<u64, TcpStream>>,
    next_id: AtomicU64,
}

/// A running front end.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    /// Listens on `addr` and serves every request through `frontend`.
    ///
    /// # Errors
    ///
    /// Binding the listener.
    pub fn start(addr: SocketAddr, config: ServerConfig, frontend: Slot<dyn Frontend>) -> io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config,
            frontend,
            dates: DateCache::default(),
            stats: ServerStats::default(),
            stopping: AtomicBool::new(false),
            open: Mutex::new(Default::default()),
            next_id: AtomicU64::new(0),
        });
        let accept = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("hatch-web-accept".into())
                .spawn(move || accept_loop(&listener, &shared))?
        };
        Ok(Server { addr, shared, accept: Some(accept) })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Counters.
    pub fn stats(&self) -> &ServerStats {
        &self.shared.stats
    }

    /// Stops accepting, lets the requests in progress finish (up to the drain timeout) and
    /// closes every connection.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(accept) = self.accept.take() else { return };
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the accept thread with a connection of our own.
        let _ = TcpStream::connect_timeout(&wake_addr(self.addr), Duration::from_secs(1));
        let _ = accept.join();
        // Connections waiting for a request see end-of-file; one in the middle of a request
        // still writes its response, then sees `stopping`.
        for stream in self.shared.open.lock().values() {
            let _ = stream.shutdown(Shutdown::Read);
        }
        let deadline = Instant::now() + self.shared.config.drain_timeout;
        while self.shared.stats.open.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        for stream in self.shared.open.lock().values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where to connect to reach a listener bound to `addr` (an unspecified address is reached on
/// loopback).
fn wake_addr(addr: SocketAddr) -> SocketAddr {
    let mut wake = addr;
    if wake.ip().is_unspecified() {
        wake.set_ip(if addr.is_ipv4() { [127, 0, 0, 1].into() } else { std::net::Ipv6Addr::LOCALHOST.into() });
    }
    wake
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(error) => {
                if shared.stopping.load(Ordering::SeqCst) {
                    return;
                }
                // Out of descriptors or a connection reset before accept: back off a little
                // rather than spin.
                tracing::warn!(%error, "accept failed");
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        if shared.stats.open.load(Ordering::SeqCst) >= shared.config.max_connections {
            shared.stats.refused.fetch_add(1, Ordering::Relaxed);
            refuse(stream, &shared.dates);
            continue;
        }
        shared.stats.open.fetch_add(1, Ordering::SeqCst);
        shared.stats.accepted.fetch_add(1, Ordering::Relaxed);
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(clone) = stream.try_clone() {
            shared.open.lock().insert(id, clone);
        }
        let worker = shared.clone();
        let spawned =
            std::thread::Builder::new().name("hatch-web-conn".into()).stack_size(512 << 10).spawn(move || {
                serve_connection(stream, peer, &worker);
                worker.open.lock().remove(&id);
                worker.stats.open.fetch_sub(1, Ordering::SeqCst);
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "no thread for a connection");
            shared.open.lock().remove(&id);
            shared.stats.open.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Answers a connection over the limit with `503` without reading it.
fn refuse(stream: TcpStream, dates: &DateCache) {
    let mut out = Vec::new();
    http::write_error(&mut out, &http::HttpError::unavailable(), dates.now().as_str());
    let _ = stream.set_nonblocking(true);
    let _ = (&stream).write(&out);
    let _ = stream.shutdown(Shutdown::Write);
}

/// The response body the handler sends through the connection, collected for the response.
struct Outgoing {
    peer: String,
    body: Mutex<Vec<u8>>,
}

impl Connection for Outgoing {
    fn send(&self, data: &[u8]) {
        self.body.lock().extend_from_slice(data);
    }

    fn send_sync(&self, data: &[u8]) {
        self.body.lock().extend_from_slice(data);
    }

    fn peer(&self) -> String {
        self.peer.clone()
    }
}

enum Filled {
    More,
    Closed,
}

fn serve_connection(mut stream: TcpStream, peer: SocketAddr, shared: &Shared) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(shared.config.write_timeout));
    let config = &shared.config;
    let outgoing = Outgoing { peer: peer.to_string(), body: Mutex::new(Vec::new()) };
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut out: Vec<u8> = Vec::with_capacity(16 << 10);
    let mut started: Option<Instant> = None;
    let mut continued = false;
    loop {
        match http::decode(&buf, &config.limits) {
            Ok(Progress::Complete { request, keep_alive, consumed }) => {
                buf.drain(..consumed);
                started = None;
                continued = false;
                let keep_alive = keep_alive && !shared.stopping.load(Ordering::SeqCst);
                let response = call(&shared.frontend, &request, &outgoing);
                let streamed = std::mem::take(&mut *outgoing.body.lock());
                out.clear();
                let head_only = request.method == Method::Head;
                let keep = keep_alive && response.status < 500;
                http::write_response(
                    &mut out,
                    &response,
                    &streamed,
                    head_only,
                    keep,
                    shared.dates.now().as_str(),
                    request.if_none_match.as_deref(),
                );
                shared.stats.requests.fetch_add(1, Ordering::Relaxed);
                if stream.write_all(&out).is_err() || !keep {
                    return close(stream);
                }
            }
            Ok(Progress::Partial { expect_continue }) => {
                if expect_continue && !continued {
                    continued = true;
                    out.clear();
                    http::write_continue(&mut out);
                    if stream.write_all(&out).is_err() {
                        return;
                    }
                }
                let deadline = match started {
                    Some(at) => at + config.request_timeout,
                    None if buf.is_empty() => Instant::now() + config.idle_timeout,
                    None => {
                        let now = Instant::now();
                        started = Some(now);
                        now + config.request_timeout
                    }
                };
                match read_more(&mut stream, &mut buf, deadline) {
                    Ok(Filled::More) => {
                        if started.is_none() {
                            started = Some(Instant::now());
                        }
                    }
                    Ok(Filled::Closed) => return,
                    Err(error) if matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                        if !buf.is_empty() {
                            shared.stats.timed_out.fetch_add(1, Ordering::Relaxed);
                            let mut out = Vec::new();
                            http::write_error(&mut out, &http::HttpError::timeout(), shared.dates.now().as_str());
                            let _ = stream.write_all(&out);
                        }
                        return close(stream);
                    }
                    Err(_) => return,
                }
            }
            Err(error) => {
                shared.stats.bad_requests.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%peer, status = error.status, reason = error.reason, "bad request");
                out.clear();
                http::write_error(&mut out, &error, shared.dates.now().as_str());
                let _ = stream.write_all(&out);
                return close(stream);
            }
        }
    }
}

/// Calls the front end; a panic (an implicit interface's failure handler giving up) becomes a
/// `500` for this request only.
fn call(frontend: &Slot<dyn Frontend>, request: &crate::api::http::Request, outgoing: &Outgoing) -> Response {
    match std::panic::catch_unwind(AssertUnwindSafe(|| frontend.load().handle(request, outgoing))) {
        Ok(response) => response,
        Err(_) => {
            outgoing.body.lock().clear();
            Response {
                status: 500,
                content_type: "text/plain; charset=utf-8".into(),
                body: b"internal error\n".to_vec(),
                ..Response::default()
            }
        }
    }
}

/// Reads what is there into `buf`, waiting until `deadline` at most.
fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>, deadline: Instant) -> io::Result<Filled> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::ErrorKind::TimedOut.into());
    }
    stream.set_read_timeout(Some(left))?;
    let len = buf.len();
    buf.resize(len + (16 << 10), 0);
    let read = loop {
        match stream.read(&mut buf[len..]) {
            // A thread that has called through an io_uring client sees its blocking reads
            // interrupted by the ring's task work: not an error, read again.
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            read => break read,
        }
    };
    buf.truncate(len + *read.as_ref().unwrap_or(&0));
    match read? {
        0 => Ok(Filled::Closed),
        _ => Ok(Filled::More),
    }
}

/// Closes after an answer: the write side first, then a short drain (200 ms and 64 KiB at
/// most, whatever the client does) of what the client still sends, so that the answer is not
/// destroyed by a reset.
fn close(stream: TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + Duration::from_millis(200);
    let mut sink = [0u8; 4096];
    let mut budget = 64usize << 10;
    while budget > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match (&stream).read(&mut sink) {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Ok(0) | Err(_) => break,
            Ok(n) => budget = budget.saturating_sub(n),
        }
    }
}
