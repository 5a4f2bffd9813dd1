//! The conformance suite every transport backend must pass: the same tests, over real TCP, against
//! each backend's server and blocking client.
//!
//! # Adding a backend
//!
//! Create `transport/tests/<name>_backend.rs` containing:
//!
//! ```ignore
//! mod suite;
//!
//! struct MyBackend;
//!
//! impl suite::Backend for MyBackend {
//!     const NAME: &'static str = "my-backend";
//!     type Server = my_backend::Server;
//!     fn serve(service: Arc<dyn Service>, config: Config) -> (Self::Server, SocketAddr) { ... }
//!     fn connect(addr: SocketAddr, config: Config) -> Result<Arc<dyn Channel>, RemoteError> { ... }
//!     fn stop(server: Self::Server) { ... }
//! }
//!
//! suite::conformance_tests!(MyBackend);
//! ```
//!
//! `serve` must listen on a fresh loopback port and return once connections are accepted (they
//! may queue in the backlog); `stop` must return only once the server has shut down. Every
//! blocking call in the suite carries a deadline, so a backend bug fails a test instead of hanging
//! the run; there are no timing assertions.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hatch_transport::proto::frame::{DEFAULT_MAX_FRAME, FrameHeader, HEADER_LEN, encode_frame};
use hatch_transport::proto::handshake::{HELLO_LEN, Hello, PROTOCOL_VERSION};
use hatch_transport::{
    Channel, Config, ErrorCode, FrameKind, HandshakeError, MethodId, RemoteError, Service, ServiceError,
};

use crate::raw_peer::{End, drain, hello_frame};

/// Every binary running the suite counts its allocations, so tests can bound what a hostile peer
/// made the server allocate.
#[global_allocator]
static ALLOCATOR: largest_allocation::Tracking = largest_allocation::Tracking;

/// A global allocator that remembers the largest single allocation of the process.
mod largest_allocation {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicUsize, Ordering};

    static LARGEST: AtomicUsize = AtomicUsize::new(0);

    /// The largest allocation (or reallocation) requested so far, in bytes.
    pub fn largest() -> usize {
        LARGEST.load(Ordering::Relaxed)
    }

    pub struct Tracking;

    // SAFETY: every call is forwarded unchanged to the system allocator; the bookkeeping only
    // reads sizes.
    unsafe impl GlobalAlloc for Tracking {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
            // SAFETY: forwarded with the caller's layout, which meets `alloc`'s contract.
            unsafe { System.alloc(layout) }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
            // SAFETY: as in `alloc`.
            unsafe { System.alloc_zeroed(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: `ptr` came from this allocator, that is from `System`, with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            LARGEST.fetch_max(new_size, Ordering::Relaxed);
            // SAFETY: as in `dealloc`; `new_size` is the caller's, meeting `realloc`'s contract.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }
}

/// A backend under test: how to start and stop its server and open its blocking client.
pub trait Backend {
    /// Name used in failure messages.
    const NAME: &'static str;
    /// A running server.
    type Server;
    /// Serves `service` on a fresh loopback port.
    fn serve(service: Arc<dyn Service>, config: Config) -> (Self::Server, SocketAddr);
    /// Opens a blocking channel to `addr`.
    fn connect(addr: SocketAddr, config: Config) -> Result<Arc<dyn Channel>, RemoteError>;
    /// Shuts the server down and waits until it has.
    fn stop(server: Self::Server);
}

/// Instantiates every conformance test for a backend type.
macro_rules! conformance_tests {
    ($backend:ty) => {
        $crate::suite::conformance_tests!(@tests $backend;
            echo_of_many_payload_sizes_arrives_aligned,
            eight_threads_share_one_channel,
            ten_thousand_one_way_calls_arrive,
            flush_reports_a_one_way_failure,
            deadline_exceeded_leaves_the_connection_usable,
            fingerprint_mismatch_names_both_sides,
            hostile_garbage_bytes,
            hostile_unknown_frame_kind,
            hostile_oversized_frame,
            hostile_huge_length_is_refused_before_allocation,
            sixteen_mib_call_copies_its_payload_at_most_once,
            hostile_wrong_protocol_version,
            hostile_truncated_frame,
            hostile_bad_magic,
            hostile_connect_and_close,
            panicking_service_answers_internal_and_keeps_serving,
            peer_vanishing_before_the_handshake_fails_the_call,
            peer_vanishing_after_the_handshake_fails_the_call,
            shutdown_fails_calls_in_flight,
        );
    };
    (@tests $backend:ty; $($test:ident),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                $crate::suite::$test::<$backend>();
            }
        )*
    };
}
pub(crate) use conformance_tests;

/// Method ids of [`TestService`].
pub mod method {
    use super::MethodId;
    /// Echoes the payload (failing if it arrived unaligned).
    pub const ECHO: MethodId = 1;
    /// Counts the call; replies with nothing.
    pub const COUNT: MethodId = 2;
    /// Sleeps for the little-endian `u64` of milliseconds in the payload, then echoes it.
    pub const SLEEP: MethodId = 3;
    /// Panics.
    pub const PANIC: MethodId = 4;
    /// Not a method of the service.
    pub const UNKNOWN: MethodId = 0xDEAD;
}

/// The service behind every suite test.
#[derive(Default)]
pub struct TestService {
    /// Calls of [`method::COUNT`] so far.
    pub counted: AtomicU64,
    /// Calls of [`method::SLEEP`] that have started.
    pub sleeps_started: AtomicU64,
}

impl Service for TestService {
    fn call(&self, method: MethodId, payload: &Bytes, reply: &mut Vec<u8>) -> Result<(), ServiceError> {
        // Payloads are promised 16-aligned so rkyv can read them in place; an empty one has no
        // address to speak of.
        if !payload.is_empty() && !(payload.as_ptr() as usize).is_multiple_of(16) {
            return Err(ServiceError::bad_request(format!("payload at {:p} is not 16-aligned", payload.as_ptr())));
        }
        match method {
            method::ECHO => reply.extend_from_slice(payload),
            method::COUNT => {
                self.counted.fetch_add(1, Ordering::SeqCst);
            }
            method::SLEEP => {
                self.sleeps_started.fetch_add(1, Ordering::SeqCst);
                let millis = u64::from_le_bytes(payload[..8].try_into().map_err(ServiceError::bad_request)?);
                thread::sleep(Duration::from_millis(millis));
                reply.extend_from_slice(payload);
            }
            method::PANIC => panic!("the test service panics on purpose"),
            other => return Err(ServiceError::unknown_method(other)),
        }
        Ok(())
    }
}

/// The safety net on every call: long enough never to fire on a working backend.
fn safety_deadline() -> Option<Instant> {
    Some(Instant::now() + Duration::from_secs(10))
}

fn start<B: Backend>(config: Config) -> (B::Server, SocketAddr, Arc<TestService>) {
    let service = Arc::new(TestService::default());
    let (server, addr) = B::serve(service.clone(), config);
    (server, addr, service)
}

fn connect<B: Backend>(addr: SocketAddr) -> Arc<dyn Channel> {
    B::connect(addr, Config::default()).unwrap_or_else(|err| panic!("{}: connect failed: {err}", B::NAME))
}

fn echo(channel: &dyn Channel, payload: &[u8]) -> Result<Bytes, RemoteError> {
    channel.call(method::ECHO, payload, safety_deadline())
}

fn assert_echoes<B: Backend>(channel: &dyn Channel, payload: &[u8]) {
    match echo(channel, payload) {
        Ok(reply) => assert!(reply[..] == *payload, "{}: echo of {} bytes came back different", B::NAME, payload.len()),
        Err(err) => panic!("{}: echo of {} bytes failed: {err}", B::NAME, payload.len()),
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

pub fn echo_of_many_payload_sizes_arrives_aligned<B: Backend>() {
    let (server, addr, _) = start::<B>(Config::default());
    let channel = connect::<B>(addr);
    for (seed, len) in [0usize, 1, 15, 16, 17, 4096, 1 << 20].into_iter().enumerate() {
        let payload = pattern(len, seed as u8);
        let reply = echo(&*channel, &payload).unwrap_or_else(|err| panic!("{}: {len} bytes: {err}", B::NAME));
        assert!(reply[..] == payload[..], "{}: {len} bytes came back different", B::NAME);
        if len > 0 {
            assert_eq!(reply.as_ptr() as usize % 16, 0, "{}: reply of {len} bytes is not 16-aligned", B::NAME);
        }
    }
    B::stop(server);
}

pub fn eight_threads_share_one_channel<B: Backend>() {
    const THREADS: u8 = 8;
    const CALLS: usize = 300;
    let (server, addr, _) = start::<B>(Config::default());
    let channel = connect::<B>(addr);
    thread::scope(|scope| {
        for t in 0..THREADS {
            let channel = &channel;
            scope.spawn(move || {
                for i in 0..CALLS {
                    // Each request is unique (thread, index) and its length varies.
                    let mut payload = vec![t];
                    payload.extend_from_slice(&(i as u32).to_le_bytes());
                    payload.extend(pattern(i % 97, t));
                    assert_echoes::<B>(&**channel, &payload);
                }
            });
        }
    });
    B::stop(server);
}

pub fn ten_thousand_one_way_calls_arrive<B: Backend>() {
    const CALLS: u64 = 10_000;
    let (server, addr, service) = start::<B>(Config::default());
    let channel = connect::<B>(addr);
    for i in 0..CALLS {
        channel.send_one_way(method::COUNT, &i.to_le_bytes()).unwrap();
    }
    channel.flush().unwrap_or_else(|err| panic!("{}: flush: {err}", B::NAME));
    // The server handles a connection's frames in order, so once this reply is back every one-way
    // call before it has run.
    assert_echoes::<B>(&*channel, b"barrier");
    assert_eq!(service.counted.load(Ordering::SeqCst), CALLS, "{}: one-way calls lost or duplicated", B::NAME);
    B::stop(server);
}

pub fn flush_reports_a_one_way_failure<B: Backend>() {
    let (server, addr, _) = start::<B>(Config::default());
    let channel = connect::<B>(addr);
    channel.send_one_way(method::UNKNOWN, b"nobody home").unwrap();
    // The error frame precedes this reply on the wire.
    assert_echoes::<B>(&*channel, b"barrier");
    match channel.flush() {
        Err(RemoteError::Service { code: ErrorCode::UnknownMethod, .. }) => {}
        other => panic!("{}: flush should report the unknown method, got {other:?}", B::NAME),
    }
    // Reported once; the connection goes on.
    channel.flush().unwrap_or_else(|err| panic!("{}: second flush: {err}", B::NAME));
    assert_echoes::<B>(&*channel, b"still here");
    B::stop(server);
}

pub fn deadline_exceeded_leaves_the_connection_usable<B: Backend>() {
    let (server, addr, _) = start::<B>(Config::default());
    let channel = connect::<B>(addr);
    assert_echoes::<B>(&*channel, b"warm up");
    let deadline = Instant::now() + Duration::from_millis(50);
    match channel.call(method::SLEEP, &300u64.to_le_bytes(), Some(deadline)) {
        Err(RemoteError::DeadlineExceeded) => {}
        other => panic!("{}: expected DeadlineExceeded, got {other:?}", B::NAME),
    }
    // The late reply must be dropped, not handed to the next call.
    assert_echoes::<B>(&*channel, b"after the deadline");
    assert_echoes::<B>(&*channel, b"and again");
    B::stop(server);
}

pub fn fingerprint_mismatch_names_both_sides<B: Backend>() {
    let (server, addr, _) = start::<B>(Config::default().fingerprint(0xA11CE));
    let err = match B::connect(addr, Config::default().fingerprint(0xB0B)) {
        Err(err) => err,
        Ok(channel) => echo(&*channel, b"hello?").expect_err("calls across a fingerprint mismatch must fail"),
    };
    match err {
        RemoteError::Handshake(HandshakeError::Fingerprint { client: 0xB0B, server: 0xA11CE }) => {}
        other => panic!("{}: expected a fingerprint mismatch naming both sides, got {other:?}", B::NAME),
    }
    // The server still serves matching clients.
    let good = B::connect(addr, Config::default().fingerprint(0xA11CE)).unwrap();
    assert_echoes::<B>(&*good, b"matching");
    B::stop(server);
}

// ---- hostile peers -------------------------------------------------------------------------

fn header(len: u32, kind: u8, call_id: u32, aux: u32) -> [u8; HEADER_LEN] {
    let mut out = [0u8; HEADER_LEN];
    out[0..4].copy_from_slice(&len.to_le_bytes());
    out[4] = kind;
    out[8..12].copy_from_slice(&call_id.to_le_bytes());
    out[12..16].copy_from_slice(&aux.to_le_bytes());
    out
}

/// What a hostile connection sends.
enum Attack {
    /// Send these bytes, keep the connection open and wait for the server to close it.
    Send(Vec<u8>),
    /// Send these bytes, then close our sending side.
    SendAndHalfClose(Vec<u8>),
    /// Connect, then close at once.
    Vanish,
}

/// Runs `attack` on its own connection while two well-behaved clients (one connected before, one
/// after) keep getting correct replies: the server closes only the hostile connection.
fn hostile<B: Backend>(attack: Attack) {
    let (server, addr, _) = start::<B>(Config::default());
    let before = connect::<B>(addr);
    assert_echoes::<B>(&*before, b"before");

    match attack {
        Attack::Send(bytes) => {
            let mut raw = TcpStream::connect(addr).unwrap();
            raw.write_all(&bytes).unwrap();
            // The violation is answered with a `GoAway` that arrives intact: the server closes
            // with a FIN after it (having read what we sent), never with a reset that could
            // destroy it.
            let ending = expect_closed::<B>(raw);
            assert_eq!(ending, Ending::GoAwayThenEof, "{}: how the server closed a violating connection", B::NAME);
        }
        Attack::SendAndHalfClose(bytes) => {
            let mut raw = TcpStream::connect(addr).unwrap();
            raw.write_all(&bytes).unwrap();
            raw.shutdown(Shutdown::Write).unwrap();
            expect_closed::<B>(raw);
        }
        Attack::Vanish => drop(TcpStream::connect(addr).unwrap()),
    }

    assert_echoes::<B>(&*before, b"the earlier connection still works");
    let after = connect::<B>(addr);
    assert_echoes::<B>(&*after, b"a new connection works");
    B::stop(server);
}

/// How the server ended a hostile connection.
#[derive(Debug, PartialEq, Eq)]
enum Ending {
    /// A `GoAway` frame, then end of stream.
    GoAwayThenEof,
    /// End of stream with no `GoAway`.
    Eof,
    /// A reset.
    Reset,
}

/// Reads until the server closes the connection (end of stream or reset) and checks what it sent
/// on the way. Panics if it keeps the connection open.
fn expect_closed<B: Backend>(mut raw: TcpStream) -> Ending {
    // Safety net: a server that never closes the connection fails the test instead of hanging it.
    let (received, end) = drain(&mut raw, Duration::from_secs(10));
    assert_ne!(end, End::Timeout, "{}: the server kept a hostile connection open", B::NAME);
    let reset = end == End::Reset;
    let go_away = assert_only_handshake_and_goaway::<B>(&received);
    match (reset, go_away) {
        (true, _) => Ending::Reset,
        (false, true) => Ending::GoAwayThenEof,
        (false, false) => Ending::Eof,
    }
}

/// A server may answer a hostile peer with a hello ack and a `GoAway`, and nothing else. Returns
/// whether a `GoAway` came.
fn assert_only_handshake_and_goaway<B: Backend>(mut bytes: &[u8]) -> bool {
    let mut go_away = false;
    while !bytes.is_empty() {
        let head: &[u8; HEADER_LEN] = bytes
            .first_chunk()
            .unwrap_or_else(|| panic!("{}: the server sent a partial frame header: {bytes:?}", B::NAME));
        let header = FrameHeader::decode(head, DEFAULT_MAX_FRAME)
            .unwrap_or_else(|err| panic!("{}: the server sent an invalid frame: {err}", B::NAME));
        assert!(
            matches!(header.kind, FrameKind::HelloAck | FrameKind::GoAway),
            "{}: the server answered a hostile peer with {:?}",
            B::NAME,
            header.kind
        );
        assert!(bytes.len() >= header.wire_len(), "{}: the server sent a truncated frame", B::NAME);
        go_away |= header.kind == FrameKind::GoAway;
        bytes = &bytes[header.wire_len()..];
    }
    go_away
}

pub fn hostile_garbage_bytes<B: Backend>() {
    hostile::<B>(Attack::Send(b"GET / HTTP/1.1\r\nHost: hatch\r\n\r\n".to_vec()));
}

pub fn hostile_unknown_frame_kind<B: Backend>() {
    let mut bytes = hello_frame(PROTOCOL_VERSION);
    bytes.extend_from_slice(&header(0, 0x42, 1, method::ECHO));
    hostile::<B>(Attack::Send(bytes));
}

pub fn hostile_oversized_frame<B: Backend>() {
    let mut bytes = hello_frame(PROTOCOL_VERSION);
    bytes.extend_from_slice(&header(DEFAULT_MAX_FRAME + 1, FrameKind::Request as u8, 1, method::ECHO));
    hostile::<B>(Attack::Send(bytes));
}

/// A header announcing 3 GiB (far past the 4 MiB default limit) is refused from the header alone:
/// a `GoAway` naming the length, the connection closed, and nothing of that size allocated.
pub fn hostile_huge_length_is_refused_before_allocation<B: Backend>() {
    const ANNOUNCED: u32 = 3 << 30;
    let (server, addr, _) = start::<B>(Config::default());
    let mut raw = TcpStream::connect(addr).unwrap();
    let mut bytes = hello_frame(PROTOCOL_VERSION);
    bytes.extend_from_slice(&header(ANNOUNCED, FrameKind::Request as u8, 1, method::ECHO));
    raw.write_all(&bytes).unwrap();
    let (received, end) = drain(&mut raw, Duration::from_secs(10));
    assert_eq!(end, End::Eof, "{}: how the server closed the connection", B::NAME);
    let reason = go_away_reason(&received).unwrap_or_else(|| panic!("{}: no GoAway", B::NAME));
    assert!(reason.contains(&ANNOUNCED.to_string()), "{}: GoAway reason {reason:?} does not name the length", B::NAME);
    // No test of the suite allocates anywhere near 1 GiB, so this holds under parallel tests.
    let largest = largest_allocation::largest();
    assert!(largest < 1 << 30, "{}: the process allocated {largest} bytes at once", B::NAME);
    assert_echoes::<B>(&*connect::<B>(addr), b"others are still served");
    B::stop(server);
}

/// The reason carried by the first `GoAway` frame in `bytes`.
fn go_away_reason(mut bytes: &[u8]) -> Option<String> {
    while let Some(head) = bytes.first_chunk::<HEADER_LEN>() {
        let header = FrameHeader::decode(head, DEFAULT_MAX_FRAME).ok()?;
        let frame = bytes.get(..header.wire_len())?;
        if header.kind == FrameKind::GoAway {
            return Some(String::from_utf8_lossy(&frame[HEADER_LEN..HEADER_LEN + header.len as usize]).into_owned());
        }
        bytes = &bytes[header.wire_len()..];
    }
    None
}

/// A 16 MiB echo round-trips, and each end's receive path copies the payload at most once (the
/// first read of a frame, which carries its header, may move once more when the frame's own
/// allocation is made). Counted by the receive buffers' process-wide copy counter: other tests
/// of the suite running meanwhile copy at most a few MiB, allowed for below; growing the buffer by
/// what is missing on each 16 KiB receive copied gigabytes here.
pub fn sixteen_mib_call_copies_its_payload_at_most_once<B: Backend>() {
    const LEN: usize = 16 << 20;
    /// What the other tests of the suite may copy meanwhile (their largest payload is 1 MiB).
    const OTHERS: u64 = 8 << 20;
    let config = Config::default().max_frame(32 << 20);
    let (server, addr, _) = start::<B>(config.clone());
    let channel = B::connect(addr, config).unwrap_or_else(|err| panic!("{}: connect failed: {err}", B::NAME));
    assert_echoes::<B>(&*channel, b"warm up");
    let payload = pattern(LEN, 3);
    let before = hatch_transport::proto::recv_buf::copied_bytes_total();
    let reply = echo(&*channel, &payload).unwrap_or_else(|err| panic!("{}: 16 MiB echo failed: {err}", B::NAME));
    let copied = hatch_transport::proto::recv_buf::copied_bytes_total() - before;
    assert!(reply[..] == payload[..], "{}: the 16 MiB echo came back different", B::NAME);
    assert_eq!(reply.as_ptr() as usize % 16, 0, "{}: the 16 MiB reply is not 16-aligned", B::NAME);
    let slack = hatch_transport::proto::recv_buf::FRAME_SLACK as u64;
    let bound = 2 * (LEN as u64 + slack) + OTHERS;
    assert!(
        copied <= bound,
        "{}: receiving the 16 MiB request and reply copied {copied} bytes (bound {bound})",
        B::NAME
    );
    B::stop(server);
}

pub fn hostile_wrong_protocol_version<B: Backend>() {
    hostile::<B>(Attack::Send(hello_frame(PROTOCOL_VERSION + 98)));
}

pub fn hostile_truncated_frame<B: Backend>() {
    let mut bytes = hello_frame(PROTOCOL_VERSION);
    let mut request = Vec::new();
    encode_frame(&mut request, FrameKind::Request, 0, 1, method::ECHO, &[7; 100]);
    bytes.extend_from_slice(&request[..HEADER_LEN + 10]);
    hostile::<B>(Attack::SendAndHalfClose(bytes));
}

pub fn hostile_bad_magic<B: Backend>() {
    let mut bytes = hello_frame(PROTOCOL_VERSION);
    assert_eq!(bytes.len(), HEADER_LEN + HELLO_LEN + 8);
    bytes[HEADER_LEN..HEADER_LEN + 8].copy_from_slice(b"NOTHATCH");
    hostile::<B>(Attack::Send(bytes));
}

pub fn hostile_connect_and_close<B: Backend>() {
    hostile::<B>(Attack::Vanish);
}

pub fn panicking_service_answers_internal_and_keeps_serving<B: Backend>() {
    let (server, addr, _) = start::<B>(Config::default());
    let channel = connect::<B>(addr);
    for _ in 0..3 {
        match channel.call(method::PANIC, b"boom", safety_deadline()) {
            Err(RemoteError::Service { code: ErrorCode::Internal, .. }) => {}
            other => panic!("{}: expected an internal error, got {other:?}", B::NAME),
        }
        assert_echoes::<B>(&*channel, b"still serving");
    }
    assert_echoes::<B>(&*connect::<B>(addr), b"new connections too");
    B::stop(server);
}

// ---- vanishing peers -----------------------------------------------------------------------

/// A fake server that accepts one connection, reads the hello, optionally acknowledges it and
/// reads the request's header, and then closes the connection.
fn vanishing_peer<B: Backend>(ack_first: bool) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let fake = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut hello = vec![0u8; HEADER_LEN + HELLO_LEN + 8];
        stream.read_exact(&mut hello).unwrap();
        if ack_first {
            let mut ack = Vec::new();
            let ours = Hello { version: PROTOCOL_VERSION, max_frame: DEFAULT_MAX_FRAME, fingerprint: 0 };
            encode_frame(&mut ack, FrameKind::HelloAck, 0, 0, 0, &ours.encode());
            stream.write_all(&ack).unwrap();
            let mut request_header = [0u8; HEADER_LEN];
            stream.read_exact(&mut request_header).unwrap();
            assert_eq!(request_header[4], FrameKind::Request as u8);
        }
    });
    let outcome = match B::connect(addr, Config::default()) {
        Ok(channel) => channel.call(method::ECHO, b"anyone there?", safety_deadline()),
        Err(err) => Err(err),
    };
    fake.join().unwrap();
    match outcome {
        Err(RemoteError::ConnectionClosed(_) | RemoteError::Protocol(_)) => {}
        other => panic!("{}: expected ConnectionClosed or Protocol, got {other:?}", B::NAME),
    }
}

pub fn peer_vanishing_before_the_handshake_fails_the_call<B: Backend>() {
    vanishing_peer::<B>(false);
}

pub fn peer_vanishing_after_the_handshake_fails_the_call<B: Backend>() {
    vanishing_peer::<B>(true);
}

pub fn shutdown_fails_calls_in_flight<B: Backend>() {
    const CALLERS: usize = 4;
    let (server, addr, service) = start::<B>(Config::default());
    let channel = connect::<B>(addr);
    assert_echoes::<B>(&*channel, b"warm up");
    let outcomes = thread::scope(|scope| {
        let callers: Vec<_> = (0..CALLERS)
            .map(|_| scope.spawn(|| channel.call(method::SLEEP, &300u64.to_le_bytes(), safety_deadline())))
            .collect();
        // Stop while the first call is inside the service and the others are queued behind it.
        let waiting_since = Instant::now();
        while service.sleeps_started.load(Ordering::SeqCst) == 0 {
            assert!(waiting_since.elapsed() < Duration::from_secs(10), "{}: no call reached the service", B::NAME);
            thread::sleep(Duration::from_millis(1));
        }
        B::stop(server);
        callers.into_iter().map(|caller| caller.join().unwrap()).collect::<Vec<_>>()
    });
    for outcome in &outcomes {
        match outcome {
            Ok(reply) => assert_eq!(&reply[..], &300u64.to_le_bytes(), "{}", B::NAME),
            // The server said why: its `GoAway` arrived before the connection closed.
            Err(err) => assert!(
                matches!(err, RemoteError::GoAway(reason) if reason.contains("shutting down")),
                "{}: a call in flight at shutdown failed with {err:?}",
                B::NAME
            ),
        }
    }
    assert!(outcomes.iter().any(Result::is_err), "{}: every call outlived the shutdown: {outcomes:?}", B::NAME);
    assert!(echo(&*channel, b"after shutdown").is_err(), "{}: a call after shutdown succeeded", B::NAME);
}
