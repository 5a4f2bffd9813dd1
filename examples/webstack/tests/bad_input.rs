//! The front end faces the internet: malformed, oversized, smuggling, traversing, trickling and
//! idle clients each get a 4xx answer or a closed connection, and the site keeps serving
//! everyone else. Each case is checked on its own connection, followed by a good request from
//! another client.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Client, options};
use hatch_webstack::server::ServerConfig;
use hatch_webstack::site::{Options, Platform};

fn site(config: ServerConfig) -> Platform {
    Platform::start(Options { server: config, ..options() }).expect("platform starts")
}

fn quick() -> ServerConfig {
    ServerConfig {
        request_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(2),
        ..ServerConfig::default()
    }
}

/// Sends `bytes`, returns the status of the answer (0 if none) and whether the server then
/// closed the connection.
fn answer(site: &Platform, bytes: &[u8]) -> (u16, bool) {
    let mut client = Client::connect(site.addr());
    client.send_raw(bytes);
    let status = client.read_reply(false).map_or(0, |r| r.status);
    (status, client.closed())
}

fn healthy(site: &Platform) {
    let mut client = Client::connect(site.addr());
    let reply = client.get("/static/stub/0001.txt", "");
    assert_eq!(reply.status, 200, "the site still serves");
    assert_eq!(reply.body.len(), 5 * 1024);
}

#[test]
fn malformed_and_oversized_requests_get_4xx_and_a_closed_connection() {
    let site = site(quick());
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(10_000));
    let big_header = format!("GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n", "b".repeat(20_000));
    let many_headers =
        format!("GET / HTTP/1.1\r\nHost: a\r\n{}\r\n", (0..100).map(|i| format!("X-{i}: v\r\n")).collect::<String>());
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("garbage request line", b"GARBAGE\r\n\r\n".to_vec(), 400),
        ("HTTP/0.9 request line", b"GET /\r\n\r\n".to_vec(), 400),
        ("space in the target", b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), 400),
        ("header without a colon", b"GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n".to_vec(), 400),
        ("NUL in a header value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n".to_vec(), 400),
        ("obsolete line folding", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n  folded\r\n\r\n".to_vec(), 400),
        ("missing Host on HTTP/1.1", b"GET / HTTP/1.1\r\n\r\n".to_vec(), 400),
        ("two Host headers", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(), 400),
        ("oversized URI", long_uri.into_bytes(), 414),
        ("oversized header", big_header.into_bytes(), 431),
        ("too many headers", many_headers.into_bytes(), 431),
        (
            "body over the limit",
            b"POST /wiki/A HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000000\r\n\r\n".to_vec(),
            413,
        ),
        (
            "conflicting Content-Length",
            b"POST /wiki/A HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello".to_vec(),
            400,
        ),
        (
            "invalid Content-Length",
            b"POST /wiki/A HTTP/1.1\r\nHost: a\r\nContent-Length: 5x\r\n\r\nhello".to_vec(),
            400,
        ),
        ("negative Content-Length", b"POST /wiki/A HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n".to_vec(), 400),
        (
            "Content-Length with Transfer-Encoding",
            b"POST /wiki/A HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                .to_vec(),
            400,
        ),
        (
            "bad chunk size",
            b"POST /wiki/A HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n".to_vec(),
            400,
        ),
        (
            "chunk without its CRLF",
            b"POST /wiki/A HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n".to_vec(),
            400,
        ),
        (
            "chunk size overflow",
            b"POST /wiki/A HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n".to_vec(),
            400,
        ),
        ("unsupported version", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n".to_vec(), 505),
        ("unknown method", b"BREW / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), 501),
    ];
    for (name, bytes, status) in cases {
        let (got, closed) = answer(&site, &bytes);
        assert_eq!(got, status, "{name}");
        assert!(closed, "{name}: the connection is closed after the error");
        healthy(&site);
    }
    let (status, _) = answer(&site, b"PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(status, 405);
    assert!(site.server().stats().bad_requests.load(std::sync::atomic::Ordering::Relaxed) >= 22);
}

#[test]
fn path_traversal_is_refused_in_every_encoding() {
    let site = site(quick());
    let db = std::fs::read(site.catalog().1.data.join("articles.db")).unwrap();
    for path in [
        "/static/../articles.db",
        "/static/%2e%2e/articles.db",
        "/static/%2E%2E/articles.db",
        "/static/.%2e/articles.db",
        "/static/%2e%2e%2farticles.db",
        "/static/..%2farticles.db",
        "/static/..%5carticles.db",
        "/static/..\\articles.db",
        "/static/%252e%252e/articles.db",
        "/static/%c0%ae%c0%ae/articles.db",
        "/static/img/%00.jpg",
        "/static/./../articles.db",
        "//articles.db",
        "/articles.db",
        "/static/img/../../articles.db",
    ] {
        let mut client = Client::connect(site.addr());
        client.send_raw(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
        let reply = client.read_reply(false);
        let status = reply.as_ref().map_or(0, |r| r.status);
        assert!((400..500).contains(&status), "{path}: {status}");
        assert!(reply.is_none_or(|r| r.body != db && r.body.len() < 1000), "{path} leaked a file");
        healthy(&site);
    }
}

#[test]
fn trickling_clients_are_cut_off_and_others_are_served_meanwhile() {
    let site = site(quick());
    let started = Instant::now();
    let tricklers: Vec<_> = (0..5)
        .map(|_| {
            let addr = site.addr();
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(addr).unwrap();
                let request = b"GET /static/stub/0001.txt HTTP/1.1\r\nHost: a\r\n\r\n";
                for byte in request {
                    if stream.write_all(&[*byte]).is_err() {
                        return Instant::now();
                    }
                    std::thread::sleep(Duration::from_millis(150));
                }
                Instant::now()
            })
        })
        .collect();
    for _ in 0..20 {
        healthy(&site);
    }
    for trickler in tricklers {
        let cut_off = trickler.join().unwrap() - started;
        // The whole request would take 48 × 150 ms = 7 s; the 1 s request timeout ends it
        // long before (generous bounds for a loaded machine).
        assert!(cut_off < Duration::from_secs(5), "a trickling client lasted {cut_off:?}");
    }
    assert!(site.server().stats().timed_out.load(std::sync::atomic::Ordering::Relaxed) >= 5);
    healthy(&site);
}

#[test]
fn hundreds_of_idle_connections_do_not_stop_the_site_and_the_cap_holds() {
    let config = ServerConfig { max_connections: 320, ..quick() };
    let site = site(config);
    let idle: Vec<TcpStream> = (0..300).map(|_| TcpStream::connect(site.addr()).unwrap()).collect();
    for _ in 0..10 {
        healthy(&site);
    }
    // Over the cap: answered 503 and closed, never queued.
    let extra: Vec<TcpStream> = (0..40).map(|_| TcpStream::connect(site.addr()).unwrap()).collect();
    let mut refused = 0;
    for mut stream in extra {
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut reply = Vec::new();
        let _ = stream.read_to_end(&mut reply);
        if reply.starts_with(b"HTTP/1.1 503") {
            refused += 1;
        }
    }
    assert!(refused >= 20, "{refused} of 40 connections over the cap were refused with 503");
    // The idle ones are closed after the idle timeout, and the site serves again.
    for mut stream in idle.into_iter().take(5) {
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut sink = Vec::new();
        assert!(stream.read_to_end(&mut sink).is_ok_and(|n| n == 0), "an idle connection is closed");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while site.server().stats().open.load(std::sync::atomic::Ordering::SeqCst) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    healthy(&site);
}
