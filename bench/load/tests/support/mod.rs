//! A tiny HTTP/1.1 server standing in for hatch-web: the static files of `Shape::small()` under
//! `dataset::SEED`, a fake `/wiki/<title>` page and `/`, with keep-alive, optional gzip, and
//! faults to order (a wrong body, a stall, shutting down).

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use hatch_webstack::dataset::{self, Kind, Shape};

/// What the server does besides serving correctly.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Serve this path with one byte flipped.
    pub wrong_path: Option<String>,
    /// Once, at the first request this long after the start, stop answering every connection
    /// for the given time.
    pub stall: Option<(Duration, Duration)>,
    /// Send static bodies chunked instead of with Content-Length.
    pub chunked: bool,
}

/// One request the server saw.
#[derive(Clone, Debug)]
pub struct Seen {
    /// Since the server started.
    pub at: Duration,
    /// The request target.
    pub path: String,
    /// Whether the request accepted gzip.
    pub gzip: bool,
}

struct State {
    files: HashMap<String, Vec<u8>>,
    faults: Faults,
    start: Instant,
    stop: AtomicBool,
    stall_until: Mutex<Option<Instant>>,
    stalled: AtomicBool,
    seen: Mutex<Vec<Seen>>,
}

/// A running test server; dropping it shuts it down.
pub struct TestServer {
    addr: SocketAddr,
    state: Arc<State>,
    acceptor: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server on a free loopback port.
    pub fn start(faults: Faults) -> TestServer {
        let shape = Shape::small();
        let mut files = HashMap::new();
        for kind in Kind::ALL {
            for i in 0..shape.count(kind) {
                files.insert(dataset::static_path(kind, i), dataset::static_body(kind, i, dataset::SEED));
            }
        }
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(State {
            files,
            faults,
            start: Instant::now(),
            stop: AtomicBool::new(false),
            stall_until: Mutex::new(None),
            stalled: AtomicBool::new(false),
            seen: Mutex::new(Vec::new()),
        });
        let acceptor = {
            let state = state.clone();
            thread::spawn(move || accept(listener, state))
        };
        TestServer { addr, state, acceptor: Some(acceptor) }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// Stops accepting (the port then refuses connections) and closes every connection.
    pub fn shutdown(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            acceptor.join().expect("acceptor");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn accept(listener: TcpListener, state: Arc<State>) {
    let mut connections = Vec::new();
    while !state.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let state = state.clone();
                connections.push(thread::spawn(move || serve(stream, &state)));
            }
            Err(_) => thread::sleep(Duration::from_millis(2)),
        }
    }
    drop(listener);
    for connection in connections {
        let _ = connection.join();
    }
}

fn serve(mut stream: TcpStream, state: &State) {
    stream.set_nonblocking(false).expect("blocking");
    stream.set_read_timeout(Some(Duration::from_millis(20))).expect("timeout");
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !state.stop.load(Ordering::SeqCst) {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match stream.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => return,
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end + 4);
        let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
        let gzip = head.to_ascii_lowercase().contains("accept-encoding: gzip");
        state.seen.lock().unwrap().push(Seen { at: state.start.elapsed(), path: path.clone(), gzip });
        stall(state);
        if stream.write_all(&respond(state, &path, gzip)).is_err() {
            return;
        }
    }
}

fn stall(state: &State) {
    if let Some((after, length)) = state.faults.stall
        && state.start.elapsed() >= after
        && !state.stalled.swap(true, Ordering::SeqCst)
    {
        *state.stall_until.lock().unwrap() = Some(Instant::now() + length);
    }
    let until = *state.stall_until.lock().unwrap();
    if let Some(until) = until {
        let now = Instant::now();
        if until > now {
            thread::sleep(until - now);
        }
    }
}

fn respond(state: &State, path: &str, gzip: bool) -> Vec<u8> {
    if let Some(body) = state.files.get(path) {
        let mut body = body.clone();
        if state.faults.wrong_path.as_deref() == Some(path) {
            body[0] ^= 0x20;
        }
        let mut headers = String::new();
        if gzip && path.ends_with(".txt") {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(&body).expect("gzip");
            body = encoder.finish().expect("gzip");
            headers.push_str("Content-Encoding: gzip\r\n");
        }
        if state.faults.chunked {
            let mut out = format!("HTTP/1.1 200 OK\r\n{headers}Transfer-Encoding: chunked\r\n\r\n").into_bytes();
            for part in body.chunks(3000) {
                out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
                out.extend_from_slice(part);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
            return out;
        }
        return response(200, &headers, &body);
    }
    if let Some(rest) = path.strip_prefix("/wiki/") {
        let title = rest.split('?').next().unwrap_or_default();
        let page = format!(
            "<!doctype html>\n<html><head><title>{title}</title></head><body><h1>{title}</h1><p>An article.</p></body></html>\n"
        );
        return response(200, "Content-Type: text/html\r\n", page.as_bytes());
    }
    if path == "/" {
        return response(200, "", b"<!doctype html><html>index</html>");
    }
    response(404, "", b"not found")
}

fn response(status: u16, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} X\r\n{headers}Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

/// A port on which nothing listens (bound, then released).
pub fn dead_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

/// Accepts connections on a free port and hands each to `script` on its own thread, for the
/// rest of the test process.
pub fn scripted<F>(script: F) -> SocketAddr
where
    F: Fn(TcpStream) + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let script = Arc::new(script);
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let script = script.clone();
            thread::spawn(move || script(stream));
        }
    });
    addr
}

/// Reads one request head from `stream` (the test scripts' requests have no body).
pub fn read_request(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}
