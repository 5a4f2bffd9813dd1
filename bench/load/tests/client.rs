//! The HTTP client against scripted servers: keep-alive, framing, reconnects, timeouts and
//! hostile responses.

mod support;

use std::io::Write;
use std::net::Shutdown;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use hatch_load::client::{Client, Error, Limits, Options};
use support::{Faults, TestServer, read_request, scripted};

fn quick() -> Options {
    Options { timeout: Duration::from_millis(300), ..Options::default() }
}

#[test]
fn keeps_the_connection_alive() {
    let server = TestServer::start(Faults::default());
    let mut client = Client::connect(server.addr()).expect("connect");
    for _ in 0..3 {
        let response = client.get("/", &[]).expect("get");
        assert_eq!((response.status, response.is_success()), (200, true));
        assert!(response.body.ends_with(b"</html>"));
    }
    let missing = client.get("/nope", &[]).expect("404 is a response");
    assert_eq!((missing.status, missing.body.as_slice()), (404, &b"not found"[..]));
    assert_eq!(client.connects(), 1);
    assert_eq!(server.seen().len(), 4);
}

#[test]
fn sends_host_and_headers_and_reads_head_responses() {
    let addr = scripted(|mut stream| {
        while let Some(request) = read_request(&mut stream) {
            let echo = request.replace("\r\n", "|");
            let head = format!("HTTP/1.1 200 OK\r\nX-Echo: {echo}\r\nContent-Length: 4\r\n\r\n");
            let body: &[u8] = if request.starts_with("HEAD ") { b"" } else { b"body" };
            if stream.write_all(&[head.as_bytes(), body].concat()).is_err() {
                return;
            }
        }
    });
    let options = Options { host: Some("example.test".into()), ..quick() };
    let mut client = Client::connect_with(addr, options).expect("connect");
    let response = client.get("/a?b=c", &[("Accept-Encoding", "gzip")]).expect("get");
    assert_eq!(response.header("x-echo"), Some("GET /a?b=c HTTP/1.1|Host: example.test|Accept-Encoding: gzip||"));
    assert_eq!(response.body, b"body");
    let head = client.request("HEAD", "/", &[]).expect("head");
    assert_eq!((head.header("Content-Length"), head.body.len()), (Some("4"), 0));
    assert_eq!(client.get("/after-head", &[]).expect("get").body, b"body", "HEAD left the framing intact");
    assert_eq!(client.connects(), 1);
}

#[test]
fn decodes_chunked_bodies_and_skips_interim_responses() {
    let addr = scripted(|mut stream| {
        while read_request(&mut stream).is_some() {
            let reply = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                          4\r\nWiki\r\n6;x=y\r\npedia!\r\n0\r\nTrailer: t\r\n\r\n";
            for piece in reply.chunks(7) {
                if stream.write_all(piece).is_err() {
                    return;
                }
                thread::sleep(Duration::from_millis(1));
            }
        }
    });
    let mut client = Client::connect_with(addr, quick()).expect("connect");
    for _ in 0..2 {
        assert_eq!(client.get("/", &[]).expect("get").body, b"Wikipedia!");
    }
    assert_eq!(client.connects(), 1);
}

#[test]
fn reconnects_when_the_server_ends_the_connection() {
    // One response per connection, said with `Connection: close`, then with nothing said.
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    let addr = scripted(move |mut stream| {
        if read_request(&mut stream).is_some() {
            let n = count.fetch_add(1, Ordering::SeqCst);
            let close = if n == 0 { "Connection: close\r\n" } else { "" };
            let _ = stream.write_all(format!("HTTP/1.1 200 OK\r\n{close}Content-Length: 2\r\n\r\nok").as_bytes());
            let _ = stream.shutdown(Shutdown::Both);
        }
    });
    let mut client = Client::connect_with(addr, quick()).expect("connect");
    for _ in 0..4 {
        assert_eq!(client.get("/", &[]).expect("get").body, b"ok");
    }
    assert_eq!(served.load(Ordering::SeqCst), 4);
    assert_eq!(client.connects(), 4, "every reconnect is counted");
}

#[test]
fn times_out_and_recovers() {
    let calls = Arc::new(AtomicUsize::new(0));
    let count = calls.clone();
    let addr = scripted(move |mut stream| {
        while read_request(&mut stream).is_some() {
            if count.fetch_add(1, Ordering::SeqCst) == 0 {
                thread::sleep(Duration::from_secs(2));
                return;
            }
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let mut client = Client::connect_with(addr, quick()).expect("connect");
    let started = Instant::now();
    assert!(matches!(client.get("/", &[]), Err(Error::Timeout)));
    assert!(started.elapsed() >= Duration::from_millis(290) && started.elapsed() < Duration::from_millis(1900));
    assert!(!client.is_open(), "a timed-out connection is dropped");
    assert_eq!(client.get("/", &[]).expect("after the timeout").status, 200);
    assert_eq!(client.connects(), 2);
}

#[test]
fn refused_is_a_connect_error() {
    let addr = support::dead_port();
    assert!(matches!(Client::connect_with(addr, quick()), Err(Error::Connect(_))));
    let mut lazy = Client::new(addr, quick());
    assert!(matches!(lazy.get("/", &[]), Err(Error::Connect(_))));
    let io: std::io::Error = Error::Connect(std::io::ErrorKind::ConnectionRefused.into()).into();
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
}

/// The client's answer to a server that replies `reply` and closes.
fn against(reply: &'static [u8], limits: Limits) -> Result<hatch_load::client::Response, Error> {
    let addr = scripted(move |mut stream| {
        if read_request(&mut stream).is_some() {
            let _ = stream.write_all(reply);
            thread::sleep(Duration::from_millis(50));
        }
    });
    Client::connect_with(addr, Options { limits, ..quick() })?.get("/", &[])
}

#[test]
fn hostile_responses_are_errors_not_panics() {
    let small = Limits { max_head: 256, max_body: 1024 };
    type Expected = fn(&Error) -> bool;
    let cases: [(&[u8], Expected); 7] = [
        (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", |e| matches!(e, Error::Malformed(_))),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", |e| matches!(e, Error::Malformed(_))),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\n\r\n", |e| matches!(e, Error::TooLarge(_))),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n", |e| matches!(e, Error::TooLarge(_))),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", |e| matches!(e, Error::Closed(_))),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", |e| matches!(e, Error::Malformed(_))),
        (b"", |e| matches!(e, Error::Closed(_))),
    ];
    for (reply, expected) in cases {
        let result = against(reply, small);
        assert!(result.as_ref().is_err_and(expected), "{:?}: {result:?}", String::from_utf8_lossy(reply));
    }
    let endless_head: &'static [u8] =
        Box::leak([b"HTTP/1.1 200 OK\r\nX: ".as_slice(), &[b'a'; 300]].concat().into_boxed_slice());
    assert!(matches!(against(endless_head, small), Err(Error::TooLarge(_))));
}

#[test]
fn a_body_until_close_is_read_to_the_end() {
    let response = against(b"HTTP/1.0 200 OK\r\n\r\nuntil the end", Limits::default()).expect("get");
    assert_eq!(response.body, b"until the end");
}

#[test]
fn requests_that_would_break_framing_are_refused() {
    let server = TestServer::start(Faults::default());
    let mut client = Client::connect(server.addr()).expect("connect");
    assert!(matches!(client.get("/a b", &[]), Err(Error::InvalidRequest(_))));
    assert!(matches!(client.get("/", &[("X", "a\r\nInjected: 1")]), Err(Error::InvalidRequest(_))));
    assert_eq!(client.get("/", &[]).expect("still usable").status, 200);
    assert_eq!(client.connects(), 1);
}
