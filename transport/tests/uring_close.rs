//! The io_uring server's lingering close and shutdown `GoAway`, from a review of the first
//! version (commit 8061565): the four problems it found are fixed and pinned here (the last, a
//! request crossing the shutdown `GoAway`, by the quiet-period linger). Every test bounds its
//! waits, so none can hang.

#![cfg(all(feature = "uring", target_os = "linux"))]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

mod raw_peer;

use bytes::Bytes;
use hatch_transport::proto::frame::{FrameHeader, HEADER_LEN, encode_frame};
use hatch_transport::proto::handshake::{Hello, PROTOCOL_VERSION};
use hatch_transport::uring::{Client, Server, UringOptions};
use hatch_transport::{Channel, Config, Echo, FrameKind, MethodId, RemoteError, Service, ServiceError};
use raw_peer::{End, drain, hello_frame};

/// The server's `CLOSE_GRACE`.
const GRACE: Duration = Duration::from_secs(1);

const ECHO: MethodId = 1;
const SLEEP: MethodId = 3;

/// Echoes, except [`SLEEP`], which sleeps for the little-endian `u64` of milliseconds first.
#[derive(Default)]
struct Slow {
    sleeps_started: AtomicU64,
}

impl Service for Slow {
    fn call(&self, method: MethodId, payload: &Bytes, reply: &mut Vec<u8>) -> Result<(), ServiceError> {
        if method == SLEEP {
            self.sleeps_started.fetch_add(1, Ordering::SeqCst);
            let millis = u64::from_le_bytes(payload[..8].try_into().map_err(ServiceError::bad_request)?);
            thread::sleep(Duration::from_millis(millis));
        }
        reply.extend_from_slice(payload);
        Ok(())
    }
}

fn serve(service: Arc<dyn Service>, config: Config) -> (Server, SocketAddr) {
    let server =
        Server::bind_with("127.0.0.1:0".parse().unwrap(), config, service, 1, UringOptions::default()).unwrap();
    let addr = server.local_addr();
    (server, addr)
}

fn request(out: &mut Vec<u8>, call_id: u32, method: MethodId, payload: &[u8]) {
    encode_frame(out, FrameKind::Request, 0, call_id, method, payload);
}

/// A header of an unknown frame kind: a protocol violation.
fn violation(out: &mut Vec<u8>) {
    let mut header = [0u8; HEADER_LEN];
    header[4] = 0x42;
    header[8] = 9;
    out.extend_from_slice(&header);
}

/// Reads one whole frame (blocking, bounded by the stream's read timeout).
fn read_frame(raw: &mut TcpStream) -> std::io::Result<(FrameHeader, Vec<u8>)> {
    let mut head = [0u8; HEADER_LEN];
    raw.read_exact(&mut head)?;
    let header = FrameHeader::decode(&head, u32::MAX).expect("the server sent an invalid header");
    let mut body = vec![0u8; header.wire_len() - HEADER_LEN];
    raw.read_exact(&mut body)?;
    body.truncate(header.len as usize);
    Ok((header, body))
}

/// The kinds of the whole frames in `bytes`.
fn frame_kinds(mut bytes: &[u8]) -> Vec<FrameKind> {
    let mut kinds = Vec::new();
    while let Some(head) = bytes.first_chunk::<HEADER_LEN>() {
        let header = FrameHeader::decode(head, u32::MAX).expect("invalid header");
        if bytes.len() < header.wire_len() {
            break;
        }
        kinds.push(header.kind);
        bytes = &bytes[header.wire_len()..];
    }
    kinds
}

/// Runs `server.shutdown()` on a thread; returns its handle (joins to the time it took).
fn shutdown_in_background(server: Server) -> thread::JoinHandle<Duration> {
    thread::spawn(move || {
        let started = Instant::now();
        server.shutdown();
        started.elapsed()
    })
}

/// A raw client that sends `requests` echo calls of `size` bytes each (after the hello), then
/// `tail`, from a background thread, and never reads. Returns the stream and the writer.
fn flood(addr: SocketAddr, requests: u32, size: usize, tail: Vec<u8>) -> (TcpStream, thread::JoinHandle<()>) {
    let raw = TcpStream::connect(addr).unwrap();
    let mut writer = raw.try_clone().unwrap();
    let handle = thread::spawn(move || {
        let payload = vec![0xAB; size];
        let mut bytes = hello_frame(PROTOCOL_VERSION);
        for id in 1..=requests {
            request(&mut bytes, id, ECHO, &payload);
        }
        bytes.extend_from_slice(&tail);
        // Fails once the server gives up on the connection; that is fine.
        let _ = writer.write_all(&bytes);
    });
    (raw, handle)
}

// ---- problems ------------------------------------------------------------------------------

/// server.rs: outside shutdown the `CLOSE_GRACE` timer is only armed once the `GoAway` is written
/// (`maybe_free`, FIN branch). A peer that breaks the protocol after pipelining large requests and
/// then stops reading keeps the replies' send pending forever: its connection slot, descriptor and
/// queued replies (here 16 MiB) are never released. The tokio backend bounds the whole goodbye
/// (`timeout(CLOSE_GRACE, finish)`), and the io_uring module docs promise the same.
#[test]
fn violating_peer_that_stops_reading_is_cut_off() {
    const REQUESTS: u32 = 16;
    const SIZE: usize = 1 << 20;
    // A high water mark above the replies, so the server reads the violation behind them.
    let (server, addr) = serve(Arc::new(Echo), Config::default().outbox_high_water(64 << 20));
    let mut tail = Vec::new();
    violation(&mut tail);
    let (mut raw, writer) = flood(addr, REQUESTS, SIZE, tail);
    writer.join().unwrap();
    // Well past the grace; a server that cut us off has thrown the unsent replies away.
    thread::sleep(GRACE + Duration::from_millis(700));
    let (received, _) = drain(&mut raw, Duration::from_millis(300));
    let everything = REQUESTS as usize * (HEADER_LEN + SIZE);
    assert!(
        received.len() < everything,
        "the server was still delivering {} bytes to a violating peer {:?} after the violation \
         (it holds the connection as long as the peer does not read)",
        received.len(),
        GRACE + Duration::from_millis(700)
    );
    server.shutdown();
}

/// server.rs `begin_stop`: the backlog is drained once, but the listener stays open (and in the
/// `SO_REUSEPORT` group) until the thread's `EventLoop` is dropped, up to `CLOSE_GRACE` later. A
/// client connecting in that window is accepted by the kernel, never by the server, and is reset
/// without a `GoAway` when the listener closes.
#[test]
fn connection_arriving_during_a_lingering_shutdown_is_refused() {
    let (server, addr) = serve(Arc::new(Echo), Config::default());
    // A peer that does not read holds the shutdown for the grace period.
    let (_stuck, writer) = flood(addr, 16, 1 << 20, Vec::new());
    thread::sleep(Duration::from_millis(200));
    let stopping = shutdown_in_background(server);
    thread::sleep(Duration::from_millis(200));
    let outcome = match TcpStream::connect(addr) {
        Err(err) => {
            assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
            None
        }
        Ok(mut late) => {
            late.write_all(&hello_frame(PROTOCOL_VERSION)).unwrap();
            Some(drain(&mut late, Duration::from_secs(3)))
        }
    };
    let took = stopping.join().unwrap();
    writer.join().unwrap();
    if let Some((received, end)) = outcome {
        assert!(
            frame_kinds(&received).contains(&FrameKind::GoAway),
            "a connection made during shutdown (shutdown took {took:?}) was accepted by the kernel \
             and then ended with {end:?} after {} bytes, without a GoAway",
            received.len()
        );
    }
}

/// server.rs `maybe_free`: the first version shut a connection with no unread bytes
/// (`FIONREAD` == 0) down at once after its shutdown `GoAway`. A request the client sent before
/// the `GoAway` reached it (one round trip of delay, simulated here by 20 ms) then arrived at a
/// closed socket and the server's kernel answered with a reset; on a real network that reset can
/// overtake or destroy an unacknowledged `GoAway` (and with the multishot receive draining the
/// socket, `FIONREAD` is nearly always 0, so this was the common case, not a corner). Now the
/// server lingers after its FIN until the peer has been silent for `QUIET_PERIOD` (100 ms).
#[test]
fn request_crossing_the_shutdown_goaway_is_not_reset() {
    let service = Arc::new(Slow::default());
    let (server, addr) = serve(service.clone(), Config::default());
    let mut raw = TcpStream::connect(addr).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut bytes = hello_frame(PROTOCOL_VERSION);
    request(&mut bytes, 1, SLEEP, &200u64.to_le_bytes());
    raw.write_all(&bytes).unwrap();
    let waiting = Instant::now();
    while service.sleeps_started.load(Ordering::SeqCst) == 0 {
        assert!(waiting.elapsed() < Duration::from_secs(2), "the call never reached the service");
        thread::sleep(Duration::from_millis(1));
    }
    let stopping = shutdown_in_background(server);
    // The reply to the call in progress still comes (after the hello ack).
    let (ack, _) = read_frame(&mut raw).unwrap();
    assert_eq!(ack.kind, FrameKind::HelloAck);
    let (reply, _) = read_frame(&mut raw).unwrap();
    assert_eq!((reply.kind, reply.call_id), (FrameKind::Response, 1));
    // Our next request was already on its way when the GoAway was sent.
    thread::sleep(Duration::from_millis(20));
    let mut next = Vec::new();
    request(&mut next, 2, ECHO, b"crossing the GoAway");
    let wrote = raw.write_all(&next);
    let (goaway, reason) = read_frame(&mut raw).unwrap();
    assert_eq!(goaway.kind, FrameKind::GoAway);
    assert!(String::from_utf8_lossy(&reason).contains("shutting down"));
    // Having seen the GoAway, we hang up properly.
    let hung_up = raw.shutdown(Shutdown::Write);
    let (rest, end) = drain(&mut raw, Duration::from_secs(3));
    let pending_error = raw.take_error().unwrap();
    stopping.join().unwrap();
    assert!(
        wrote.is_ok() && hung_up.is_ok() && end == End::Eof && rest.is_empty() && pending_error.is_none(),
        "the connection was reset instead of closed: write {wrote:?}, shutdown {hung_up:?}, end {end:?} \
         after {} more bytes, socket error {pending_error:?}",
        rest.len()
    );
}

/// Sets up a connection that waits in the accept backlog while the shutdown begins: the only
/// server thread is busy in a slow call. Returns how long `shutdown` took and what the backlog
/// connection received.
fn backlog_at_shutdown() -> (Duration, Vec<u8>, End) {
    let service = Arc::new(Slow::default());
    let (server, addr) = serve(service.clone(), Config::default());
    let client = Client::connect(addr, Config::default()).unwrap();
    let caller = thread::spawn(move || {
        let result = client.call(SLEEP, &300u64.to_le_bytes(), Some(Instant::now() + Duration::from_secs(5)));
        drop(client);
        result
    });
    let waiting = Instant::now();
    while service.sleeps_started.load(Ordering::SeqCst) == 0 {
        assert!(waiting.elapsed() < Duration::from_secs(2), "the call never reached the service");
        thread::sleep(Duration::from_millis(1));
    }
    // The server thread is inside the service: this connection waits in the backlog, idle.
    let mut queued = TcpStream::connect(addr).unwrap();
    let stopping = shutdown_in_background(server);
    let (received, end) = drain(&mut queued, Duration::from_secs(3));
    // Still open: the server must not wait for us.
    let took = stopping.join().unwrap();
    drop(queued);
    let _ = caller.join().unwrap();
    (took, received, end)
}

/// server.rs `maybe_free`: the first version's "idle peer" branch (no unread bytes at shutdown)
/// called `cut_off` and returned. When no receive is armed (here: the connection was paused because its
/// reply exceeded `outbox_high_water`, and a closing connection does not re-arm on unpause; also a
/// connection adopted by a late accept completion after `begin_stop`) nothing calls `maybe_free`
/// again, so the `CLOSE_GRACE` timer is never cancelled: the slot lingers until the timer fires
/// and `Server::shutdown` takes a full second, although the peer read everything at once. The
/// module docs promise that such peers "do not hold the shutdown up for the grace period".
#[test]
fn paused_connection_does_not_hold_the_shutdown() {
    const SIZE: usize = 10 << 20;
    let (server, addr) = serve(Arc::new(Echo), Config::default().max_frame(16 << 20));
    let mut raw = TcpStream::connect(addr).unwrap();
    let mut bytes = Vec::new();
    let hello = Hello { version: PROTOCOL_VERSION, max_frame: 16 << 20, fingerprint: 0 };
    encode_frame(&mut bytes, FrameKind::Hello, 0, 0, 0, &hello.encode());
    // One request whose reply is far above the high water mark and the socket buffers: the server
    // reads all of it, then pauses its receive while the reply is stuck.
    request(&mut bytes, 1, ECHO, &vec![7u8; SIZE]);
    raw.write_all(&bytes).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let (ack, _) = read_frame(&mut raw).unwrap();
    assert_eq!(ack.kind, FrameKind::HelloAck);
    // The reply has started (so the request was dispatched); the rest of it is stuck.
    let mut head = [0u8; HEADER_LEN];
    raw.read_exact(&mut head).unwrap();
    let reply = FrameHeader::decode(&head, u32::MAX).unwrap();
    assert_eq!((reply.kind, reply.len as usize), (FrameKind::Response, SIZE));
    thread::sleep(Duration::from_millis(100));
    let stopping = shutdown_in_background(server);
    thread::sleep(Duration::from_millis(100));
    // Now we read everything at once: the reply, the GoAway, and the server's FIN.
    let (received, end) = drain(&mut raw, Duration::from_secs(3));
    assert!(received.len() > SIZE, "only {} bytes after the reply's header", received.len());
    assert_eq!(frame_kinds(&received[SIZE..]), [FrameKind::GoAway]);
    assert_eq!(end, End::Eof);
    let took = stopping.join().unwrap();
    assert!(took < Duration::from_millis(700), "shutdown took {took:?} although the peer read everything at once");
}

// ---- behaviour that is right -----------------------------------------------------------------

/// A connection waiting in the backlog at shutdown is accepted and told to go away, and (even
/// though it stays open) does not hold the shutdown up. (Only thanks to the second `begin_stop`,
/// from the stop eventfd's completion, which calls `maybe_free` on every slot again.)
#[test]
fn backlog_connection_at_shutdown_gets_goaway_then_eof() {
    let (took, received, end) = backlog_at_shutdown();
    assert_eq!(frame_kinds(&received), [FrameKind::GoAway]);
    assert_eq!(end, End::Eof);
    assert!(took < Duration::from_millis(900), "shutdown took {took:?}");
}

/// After a violation the server sends its `GoAway` and FIN and keeps reading: bytes we send in
/// the meantime do not reset the connection, and our FIN ends it cleanly.
#[test]
fn violating_peer_still_sending_after_goaway_sees_a_clean_close() {
    let (server, addr) = serve(Arc::new(Echo), Config::default());
    let mut raw = TcpStream::connect(addr).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut bytes = hello_frame(PROTOCOL_VERSION);
    violation(&mut bytes);
    raw.write_all(&bytes).unwrap();
    let (ack, _) = read_frame(&mut raw).unwrap();
    assert_eq!(ack.kind, FrameKind::HelloAck);
    let (goaway, _) = read_frame(&mut raw).unwrap();
    assert_eq!(goaway.kind, FrameKind::GoAway);
    for i in 0..5 {
        thread::sleep(Duration::from_millis(20));
        let mut more = Vec::new();
        request(&mut more, 10 + i, ECHO, b"still talking");
        raw.write_all(&more).unwrap();
    }
    raw.shutdown(Shutdown::Write).unwrap();
    let (rest, end) = drain(&mut raw, Duration::from_secs(3));
    assert_eq!((rest.len(), end), (0, End::Eof));
    assert!(raw.take_error().unwrap().is_none());
    // The server itself is unaffected.
    let client = Client::connect(addr, Config::default()).unwrap();
    assert_eq!(&client.call(ECHO, b"fine", Some(Instant::now() + Duration::from_secs(3))).unwrap()[..], b"fine");
    drop(client);
    server.shutdown();
}

/// A violating peer that reads the `GoAway` but never hangs up is cut off after the grace period.
#[test]
fn violating_peer_that_never_hangs_up_is_cut_off_after_the_grace() {
    let (server, addr) = serve(Arc::new(Echo), Config::default());
    let mut raw = TcpStream::connect(addr).unwrap();
    let mut bytes = hello_frame(PROTOCOL_VERSION);
    violation(&mut bytes);
    raw.write_all(&bytes).unwrap();
    let (received, end) = drain(&mut raw, Duration::from_secs(3));
    assert_eq!(frame_kinds(&received), [FrameKind::HelloAck, FrameKind::GoAway]);
    assert_eq!(end, End::Eof);
    let since = Instant::now();
    // Keep the connection open, trickling bytes the server drains, until it gives up.
    let cut_off = loop {
        thread::sleep(Duration::from_millis(50));
        if raw.write_all(&[0u8; 16]).is_err() {
            break since.elapsed();
        }
        assert!(since.elapsed() < GRACE * 2 + Duration::from_millis(500), "the server never cut the peer off");
    };
    assert!(cut_off > GRACE / 2, "cut off after {cut_off:?}, before the grace");
    server.shutdown();
}

/// An idle io_uring client does not hold the shutdown up, and its next call learns why.
#[test]
fn idle_client_does_not_delay_shutdown() {
    let (server, addr) = serve(Arc::new(Echo), Config::default());
    let client = Client::connect(addr, Config::default()).unwrap();
    assert_eq!(&client.call(ECHO, b"warm", Some(Instant::now() + Duration::from_secs(3))).unwrap()[..], b"warm");
    let started = Instant::now();
    server.shutdown();
    let took = started.elapsed();
    assert!(took < Duration::from_millis(500), "shutdown took {took:?}");
    let after = client.call(ECHO, b"late", Some(Instant::now() + Duration::from_secs(3)));
    assert!(
        matches!(&after, Err(RemoteError::GoAway(reason)) if reason.contains("shutting down")),
        "call after shutdown: {after:?}"
    );
}

/// Many violating connections in a row (slots freed and reused with their timers and cancels in
/// flight), then a shutdown: the server keeps serving and stops promptly.
#[test]
fn slot_reuse_after_many_lingering_closes() {
    let (server, addr) = serve(Arc::new(Echo), Config::default());
    let client = Client::connect(addr, Config::default()).unwrap();
    for round in 0..50u32 {
        let mut raw = TcpStream::connect(addr).unwrap();
        let mut bytes = hello_frame(PROTOCOL_VERSION);
        request(&mut bytes, 1, ECHO, &round.to_le_bytes());
        violation(&mut bytes);
        raw.write_all(&bytes).unwrap();
        if round % 2 == 0 {
            raw.shutdown(Shutdown::Write).unwrap();
        }
        let (received, end) = drain(&mut raw, Duration::from_secs(3));
        assert_eq!(end, End::Eof, "round {round}");
        assert_eq!(frame_kinds(&received), [FrameKind::HelloAck, FrameKind::Response, FrameKind::GoAway]);
        let reply = client.call(ECHO, &round.to_le_bytes(), Some(Instant::now() + Duration::from_secs(3))).unwrap();
        assert_eq!(&reply[..], &round.to_le_bytes());
    }
    let started = Instant::now();
    server.shutdown();
    assert!(started.elapsed() < Duration::from_millis(500), "shutdown took {:?}", started.elapsed());
}
