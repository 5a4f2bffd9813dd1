//! What the platform's tests share: a scratch data folder with the small data set, a platform
//! started on it, and a raw HTTP/1.1 client that shows exactly what came back.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use hatch_webstack::dataset::{self, Shape};
use hatch_webstack::site::{Options, Platform};

/// The small data set, generated once per test binary, in a folder of its own.
pub fn data_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("hatch-webstack-test-{}", std::process::id()));
        dataset::ensure(&dir, &Shape::small(), dataset::SEED).expect("generate the data set");
        dir
    })
    .clone()
}

/// Options for a platform on the small data set (a fresh copy of the database per platform,
/// so tests that edit articles do not meet).
pub fn options() -> Options {
    let shared = data_dir();
    let dir = std::env::temp_dir().join(format!(
        "hatch-webstack-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    copy_tree(&shared, &dir);
    Options { shape: Shape::small(), default_cost: 2, ..Options::new(dir) }
}

static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A platform on the small data set running `composition` (the default when `None`).
pub fn platform(composition: Option<&str>) -> Platform {
    Platform::start(Options { composition: composition.map(String::from), ..options() }).expect("platform starts")
}

/// A response as it came off the wire.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One keep-alive connection.
pub struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        Client { stream, buf: Vec::new() }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// `GET path` with extra header lines (each ending in CRLF).
    pub fn get(&mut self, path: &str, headers: &str) -> Reply {
        self.request("GET", path, headers, b"")
    }

    pub fn request(&mut self, method: &str, path: &str, headers: &str, body: &[u8]) -> Reply {
        let mut bytes = format!("{method} {path} HTTP/1.1\r\nHost: test\r\n{headers}").into_bytes();
        if !body.is_empty() || method == "POST" {
            bytes.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        }
        bytes.extend_from_slice(b"\r\n");
        bytes.extend_from_slice(body);
        self.send_raw(&bytes);
        self.read_reply(method == "HEAD").expect("a response")
    }

    /// Reads one response; `None` if the connection closed first.
    pub fn read_reply(&mut self, head_only: bool) -> Option<Reply> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut response = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(len) = response.parse(&self.buf).expect("a well-formed response") {
                let status = response.code.unwrap();
                let headers: Vec<(String, String)> = response
                    .headers
                    .iter()
                    .map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).into_owned()))
                    .collect();
                let length: usize = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                    .map_or(0, |(_, v)| v.parse().unwrap());
                let length = if head_only || status == 304 || status == 100 { 0 } else { length };
                while self.buf.len() < len + length {
                    if !self.fill() {
                        return None;
                    }
                }
                let body = self.buf[len..len + length].to_vec();
                self.buf.drain(..len + length);
                return Some(Reply { status, headers, body });
            }
            if !self.fill() {
                return None;
            }
        }
    }

    /// Whether the server closed the connection (reads to end of file, within a few seconds).
    pub fn closed(&mut self) -> bool {
        self.stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut sink = [0u8; 4096];
        loop {
            match self.stream.read(&mut sink) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }

    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16384];
        match self.stream.read(&mut chunk) {
            // io_uring task work interrupts this thread's blocking reads once it has a ring.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => true,
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }
}

/// Decompresses a `Content-Encoding` body.
pub fn decode(encoding: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        Some("gzip") => {
            flate2::read::GzDecoder::new(body).read_to_end(&mut out).unwrap();
        }
        Some("br") => {
            brotli::Decompressor::new(body, 4096).read_to_end(&mut out).unwrap();
        }
        None => out.extend_from_slice(body),
        Some(other) => panic!("unexpected encoding {other}"),
    }
    out
}
