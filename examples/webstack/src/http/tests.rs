//! Decoding tests: byte literals with exact outcomes, and property tests over arbitrary bytes
//! and arbitrary splits of valid pipelined streams.

use proptest::prelude::*;

use super::*;
use crate::api::http::{Method, Request};

fn limits() -> Limits {
    Limits::default()
}

/// The one complete request `bytes` holds, which must be all of it.
fn complete(bytes: &[u8]) -> (Request, bool) {
    match decode(bytes, &limits()) {
        Ok(Progress::Complete { request, keep_alive, consumed }) => {
            assert_eq!(consumed, bytes.len(), "{:?}", String::from_utf8_lossy(bytes));
            (request, keep_alive)
        }
        other => panic!("{other:?} for {:?}", String::from_utf8_lossy(bytes)),
    }
}

fn refused(bytes: &[u8]) -> HttpError {
    match decode(bytes, &limits()) {
        Err(error) => error,
        Ok(progress) => panic!("{progress:?} for {:?}", String::from_utf8_lossy(bytes)),
    }
}

fn partial(bytes: &[u8]) -> bool {
    match decode(bytes, &limits()) {
        Ok(Progress::Partial { expect_continue }) => expect_continue,
        other => panic!("{other:?} for {:?}", String::from_utf8_lossy(bytes)),
    }
}

fn get(path: &str) -> Request {
    Request {
        method: Method::Get,
        path: path.into(),
        query: String::new(),
        accept_encoding: String::new(),
        if_none_match: None,
        content_type: None,
        body: Vec::new(),
    }
}

#[test]
fn good_get() {
    let (request, keep_alive) = complete(
        b"GET /wiki/Caf%C3%A9//x?action=view&q=%2F HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\
          Accept-Encoding: gzip, br;q=0.5\r\nIf-None-Match: \"abc\"\r\n\r\n",
    );
    assert_eq!(
        request,
        Request {
            query: "action=view&q=%2F".into(),
            accept_encoding: "gzip, br;q=0.5".into(),
            if_none_match: Some("\"abc\"".into()),
            ..get("/wiki/Café/x")
        }
    );
    assert!(keep_alive);
}

#[test]
fn good_head_with_lower_case_names_and_bare_lf() {
    let (request, keep_alive) = complete(b"HEAD / HTTP/1.1\nhost: h\naccept-encoding: gzip\n\n");
    assert_eq!(request, Request { method: Method::Head, accept_encoding: "gzip".into(), ..get("/") });
    assert!(keep_alive);
}

#[test]
fn absolute_form_and_leading_empty_lines() {
    let (request, _) = complete(b"\r\n\r\nGET http://example.com:8080/a/b?c HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert_eq!(request, Request { query: "c".into(), ..get("/a/b") });
}

#[test]
fn post_with_content_length() {
    let (request, _) = complete(
        b"POST /edit HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\n\
          Content-Length: 11\r\n\r\ntitle=a&b=c",
    );
    assert_eq!(
        request,
        Request {
            method: Method::Post,
            content_type: Some("application/x-www-form-urlencoded".into()),
            body: b"title=a&b=c".to_vec(),
            ..get("/edit")
        }
    );
    assert_eq!(complete(b"POST /e HTTP/1.1\r\nHost: h\r\nContent-Length: 000\r\n\r\n").0.body, b"");
    assert_eq!(complete(b"POST /e HTTP/1.1\r\nHost: h\r\n\r\n").0.body, b"");
}

#[test]
fn post_chunked_with_extensions_and_trailers() {
    let (request, keep_alive) = complete(
        b"POST /edit HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n\
          4;sig=\"x y\"\r\nWiki\r\n5\r\npedia\r\n0;last\r\nChecksum: 42\r\nX-T: v\r\n\r\n",
    );
    assert_eq!(request, Request { method: Method::Post, body: b"Wikipedia".to_vec(), ..get("/edit") });
    assert!(!keep_alive);
}

#[test]
fn get_and_head_bodies_are_read_and_dropped() {
    let stream = b"GET /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcHEAD /b HTTP/1.1\r\nHost: h\r\n\
                   Transfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\nGET /c HTTP/1.1\r\nHost: h\r\n\r\n";
    let mut at = 0;
    let mut seen = Vec::new();
    while let Ok(Progress::Complete { request, consumed, .. }) = decode(&stream[at..], &limits()) {
        assert!(request.body.is_empty());
        seen.push(request.path);
        at += consumed;
    }
    assert_eq!((seen, at), (vec!["/a".to_owned(), "/b".to_owned(), "/c".to_owned()], stream.len()));
    let limit = Limits { max_body: 2, ..limits() };
    assert_eq!(
        decode(b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n", &limit),
        Err(HttpError::body_too_large())
    );
}

#[test]
fn pipelined_two_complete_then_partial() {
    let first = b"GET /one HTTP/1.1\r\nHost: h\r\n\r\n".as_slice();
    let second = b"POST /two HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi".as_slice();
    let third = b"GET /three HTTP/1.1\r\nHo".as_slice();
    let stream = [first, second, third].concat();
    let Ok(Progress::Complete { request, consumed, .. }) = decode(&stream, &limits()) else { panic!() };
    assert_eq!((request.path.as_str(), consumed), ("/one", first.len()));
    let rest = &stream[consumed..];
    let Ok(Progress::Complete { request, consumed, .. }) = decode(rest, &limits()) else { panic!() };
    assert_eq!((request.path.as_str(), request.body.as_slice(), consumed), ("/two", &b"hi"[..], second.len()));
    assert!(!partial(&rest[consumed..]));
    assert_eq!(&rest[consumed..], third);
}

/// Requests that must reach `Complete` exactly at their last byte.
const VALID: [&[u8]; 6] = [
    b"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
    b"\r\nHEAD /a?b HTTP/1.0\r\n\r\n",
    b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /p HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n0\r\nT: 1\r\n\r\n",
    b"GET /x HTTP/1.1\nHost: h\nContent-Length: 1\n\nz",
];

#[test]
fn byte_at_a_time_completes_exactly_at_the_last_byte() {
    for request in VALID {
        for end in 0..request.len() {
            assert!(
                matches!(decode(&request[..end], &limits()), Ok(Progress::Partial { .. })),
                "{end} of {:?}",
                String::from_utf8_lossy(request)
            );
        }
        assert!(
            matches!(decode(request, &limits()), Ok(Progress::Complete { consumed, .. }) if consumed == request.len())
        );
    }
}

#[test]
fn expect_continue_while_no_body_has_arrived() {
    let head = b"POST /p HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\n";
    assert!(!partial(&head[..head.len() - 1]));
    assert!(partial(head));
    assert!(!partial(&[&head[..], b"he"].concat()));
    let chunked = b"POST /p HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert!(partial(chunked));
    // HTTP/1.0 clients cannot ask for it (RFC 9110 §10.1.1), and a body over the limit is
    // refused rather than invited.
    assert!(!partial(b"POST /p HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
    assert_eq!(
        refused(b"POST /p HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1048577\r\n\r\n"),
        HttpError::body_too_large()
    );
    // Nothing to wait for with no body.
    complete(b"POST /p HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n");
}

#[test]
fn keep_alive_rules() {
    for (bytes, keep_alive) in [
        (&b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"[..], true),
        (b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", false),
        (b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, CLOSE\r\n\r\n", false),
        (b"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n", true),
        (b"GET / HTTP/1.0\r\n\r\n", false),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
        (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", false),
        (b"GET / HTTP/1.0\r\nHost: h\r\nConnection: x\r\n\r\n", false),
    ] {
        assert_eq!(complete(bytes).1, keep_alive, "{:?}", String::from_utf8_lossy(bytes));
    }
}

#[test]
fn oversized_content_length_is_refused_before_the_body() {
    let head = b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 1048577\r\n\r\n";
    assert_eq!(refused(head), HttpError::body_too_large());
    assert_eq!(refused(b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n").status, 413);
    // Exactly the limit is fine, and waits for the body.
    assert!(!partial(b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 1048576\r\n\r\n"));
}

#[test]
fn huge_uri_is_refused_after_about_max_uri_bytes_without_crlf() {
    let max_uri = limits().max_uri;
    let mut line = b"GET /".to_vec();
    line.resize(4 + max_uri, b'a');
    assert!(!partial(&line));
    line.push(b'a');
    assert_eq!(refused(&line), HttpError::uri_too_long());
    // A line too long for any target to fit is refused too, whatever makes it long.
    let max_line = max_uri + decode::LINE_SLACK;
    let mut line = vec![b'A'; max_line];
    assert!(!partial(&line));
    line.push(b'A');
    assert_eq!(refused(&line), HttpError::uri_too_long());
}

#[test]
fn target_longer_than_max_uri_is_414() {
    let limits = limits();
    let target = format!("/{}", "a".repeat(limits.max_uri - 1));
    let request = format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(matches!(decode(request.as_bytes(), &limits), Ok(Progress::Complete { .. })));
    let request = format!("GET {target}a HTTP/1.1\r\n");
    assert_eq!(decode(request.as_bytes(), &limits), Err(HttpError::uri_too_long()));
    // The target alone is enough to know, before the line ends.
    let request = format!("GET {target}a");
    assert_eq!(decode(request.as_bytes(), &limits), Err(HttpError::uri_too_long()));
}

#[test]
fn head_size_and_header_count_limits() {
    let mut big = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
    while big.len() <= 16 << 10 {
        big.extend_from_slice(format!("X-Padding: {}\r\n", "a".repeat(1000)).as_bytes());
    }
    // Refused while still incomplete once past the limit, and the same when complete.
    assert_eq!(refused(&big), HttpError::head_too_large());
    big.extend_from_slice(b"\r\n");
    assert_eq!(refused(&big), HttpError::head_too_large());
    let leading = vec![b'\n'; (16 << 10) + 1];
    assert_eq!(refused(&leading), HttpError::head_too_large());

    let mut many = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
    for i in 0..63 {
        many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    assert!(!partial(&many));
    assert!(matches!(decode(&[&many[..], b"\r\n"].concat(), &limits()), Ok(Progress::Complete { .. })));
    many.extend_from_slice(b"X-64: v\r\n\r\n");
    assert_eq!(refused(&many), HttpError::too_many_headers());
    let small = Limits { max_headers: 1, ..limits() };
    assert_eq!(decode(b"GET / HTTP/1.1\r\nHost: h\r\nA: b\r\n\r\n", &small), Err(HttpError::too_many_headers()));
    // More slots than the stack holds.
    let large = Limits { max_headers: 100, ..limits() };
    assert!(matches!(decode(&[&many[..]].concat(), &large), Ok(Progress::Complete { .. })));
}

/// Every refusal, with its exact error.
#[test]
fn every_refusal() {
    let cases: &[(&[u8], HttpError)] = &[
        // The request line.
        (b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", HttpError::bad_request_line()),
        (b"GET /\r\nHost: h\r\n\r\n", HttpError::bad_request_line()),
        (b"G@T / HTTP/1.1\r\nHost: h\r\n\r\n", HttpError::bad_request_line()),
        (b" GET / HTTP/1.1\r\nHost: h\r\n\r\n", HttpError::bad_request_line()),
        (b"GET /a\x01b HTTP/1.1\r\nHost: h\r\n\r\n", HttpError::bad_request_line()),
        (b"GET /a\x00b HTTP/1.1\r\nHost: h\r\n\r\n", HttpError::bad_request_line()),
        (b"GET / HTTP/1.1\rHost: h\r\n\r\n", HttpError::bad_request_line()),
        (b"GET / HTTP/1.1 \r\nHost: h\r\n\r\n", HttpError::bad_request_line()),
        (b"GET / http/1.1\r\nHost: h\r\n\r\n", HttpError::bad_request_line()),
        (b"GET / HTTP/11.1\r\nHost: h\r\n\r\n", HttpError::bad_request_line()),
        (b"GET / HTTP/1\r\nHost: h\r\n\r\n", HttpError::bad_request_line()),
        (b"GET / HTTP/2\r\nHost: h\r\n\r\n", HttpError::bad_request_line()),
        (b"GET / HTTP/2.0 x\r\n\r\n", HttpError::bad_request_line()),
        // Header syntax.
        (b"GET / HTTP/1.1\r\nHost : h\r\n\r\n", HttpError::bad_header()),
        (b"GET / HTTP/1.1\r\nHost: h\r\nBad Name: v\r\n\r\n", HttpError::bad_header()),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n", HttpError::bad_header()),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x7fb\r\n\r\n", HttpError::bad_header()),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", HttpError::bad_header()),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n folded\r\n\r\n", HttpError::bad_header()),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tfolded\r\n\r\n", HttpError::bad_header()),
        (b"GET / HTTP/1.1\r\n Host: h\r\n\r\n", HttpError::bad_header()),
        (b"GET / HTTP/1.1\r\nHost: h\r\n\rX", HttpError::bad_header()),
        (b"GET / HTTP/1.1\r\nHost: h\r\nAccept-Encoding: \xff\r\n\r\n", HttpError::bad_header()),
        (b"GET / HTTP/1.1\r\nHost: h\r\nIf-None-Match: \"\xc3\"\r\n\r\n", HttpError::bad_header()),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Type: a\r\nContent-Type: b\r\n\r\n", HttpError::bad_header()),
        // Host.
        (b"GET / HTTP/1.1\r\n\r\n", HttpError::missing_host()),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", HttpError::multiple_host()),
        (b"GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", HttpError::multiple_host()),
        // Content-Length.
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n", HttpError::bad_content_length()),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", HttpError::bad_content_length()),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", HttpError::bad_content_length()),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x5\r\n\r\n", HttpError::bad_content_length()),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5 5\r\n\r\n", HttpError::bad_content_length()),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n", HttpError::bad_content_length()),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", HttpError::bad_content_length()),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
            HttpError::bad_content_length(),
        ),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            HttpError::bad_content_length(),
        ),
        // Smuggling: both framings.
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            HttpError::length_and_transfer_encoding(),
        ),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n",
            HttpError::length_and_transfer_encoding(),
        ),
        // Transfer-Encoding.
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", HttpError::unframed_transfer_encoding()),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n", HttpError::unframed_transfer_encoding()),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            HttpError::unframed_transfer_encoding(),
        ),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked;x=1\r\n\r\n",
            HttpError::unframed_transfer_encoding(),
        ),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n", HttpError::unframed_transfer_encoding()),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n", HttpError::unframed_transfer_encoding()),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            HttpError::unsupported_transfer_encoding(),
        ),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            HttpError::unsupported_transfer_encoding(),
        ),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            HttpError::unsupported_transfer_encoding(),
        ),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", HttpError::transfer_encoding_in_http10()),
        // Body limits.
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1048577\r\n\r\n", HttpError::body_too_large()),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n100001\r\n", HttpError::body_too_large()),
        // Chunked framing.
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", HttpError::bad_chunk_size()),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", HttpError::bad_chunk_size()),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
            HttpError::bad_chunk_size(),
        ),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
            HttpError::bad_chunk_framing(),
        ),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\nab\r\n", HttpError::bad_chunk_framing()),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\n0\r\n\r\n",
            HttpError::bad_chunk_framing(),
        ),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\n", HttpError::bad_chunk_framing()),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad\r\n\r\n", HttpError::bad_trailer()),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n fold\r\n\r\n",
            HttpError::bad_trailer(),
        ),
        // Path traversal and forbidden bytes, in every encoding.
        (b"GET /../etc/passwd HTTP/1.1\r\nHost: h\r\n\r\n", HttpError::unsafe_path()),
        (b"GET /a/.. HTTP/1.1\r\nHost: h\r\n\r\n", HttpError::unsafe_path()),
        (b"GET /%2e%2e/etc/passwd HTTP/1.1\r\nHost: h\r\n\r\n", HttpError::unsafe_path()),
        (b"GET /.%2E/x HTTP/1.1\r\nHost: h\r\n\r\n", HttpError::unsafe_path()),
        (b"GET /a%2f..%2fb HTTP/1.1\r\nHost: h\r\n\r\n", HttpError::unsafe_path()),
        (b"GET /a%2Fb HTTP/1.1\r\nHost: h\r\n\r\n", HttpError::unsafe_path()),
        (b"GET /%252e%252e/x HTTP/1.1\r\nHost: h\r\n\r\n", HttpError::unsafe_path()),
        (b"GET /a\\..\\b HTTP/1.1\r\nHost: h\r\n\r\n", HttpError::unsafe_path()),
        (b"GET /a%5c..%5cb HTTP/1.1\r\nHost: h\r\n\r\n", HttpError::unsafe_path()),
        (b"GET /a%00.html HTTP/1.1\r\nHost: h\r\n\r\n", HttpError::unsafe_path()),
        (b"GET /%c0%ae%c0%ae/x HTTP/1.1\r\nHost: h\r\n\r\n", HttpError::unsafe_path()),
        (b"GET /%ff HTTP/1.1\r\nHost: h\r\n\r\n", HttpError::unsafe_path()),
        (b"GET http://h/../x HTTP/1.1\r\nHost: h\r\n\r\n", HttpError::unsafe_path()),
        // Malformed targets.
        (b"GET * HTTP/1.1\r\nHost: h\r\n\r\n", HttpError::bad_target()),
        (b"GET a/b HTTP/1.1\r\nHost: h\r\n\r\n", HttpError::bad_target()),
        (b"GET /a#f HTTP/1.1\r\nHost: h\r\n\r\n", HttpError::bad_target()),
        (b"GET /%zz HTTP/1.1\r\nHost: h\r\n\r\n", HttpError::bad_target()),
        (b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", HttpError::bad_target()),
        (b"GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n", HttpError::bad_target()),
        // Methods.
        (b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx", HttpError::method_not_allowed()),
        (b"DELETE / HTTP/1.1\r\nHost: h\r\n\r\n", HttpError::method_not_allowed()),
        (b"PATCH / HTTP/1.1\r\nHost: h\r\n\r\n", HttpError::method_not_allowed()),
        (b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", HttpError::method_not_allowed()),
        (b"TRACE / HTTP/1.1\r\nHost: h\r\n\r\n", HttpError::method_not_allowed()),
        (b"CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n", HttpError::method_not_allowed()),
        (b"FOO / HTTP/1.1\r\nHost: h\r\n\r\n", HttpError::method_not_implemented()),
        (b"get / HTTP/1.1\r\nHost: h\r\n\r\n", HttpError::method_not_implemented()),
        (b"PROPFIND / HTTP/1.1\r\nHost: h\r\n\r\n", HttpError::method_not_implemented()),
        // Versions.
        (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", HttpError::version_not_supported()),
        (b"GET / HTTP/1.2\r\nHost: h\r\n\r\n", HttpError::version_not_supported()),
        (b"GET / HTTP/0.9\r\n\r\n", HttpError::version_not_supported()),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", HttpError::version_not_supported()),
    ];
    for &(bytes, expected) in cases {
        assert_eq!(refused(bytes), expected, "{:?}", String::from_utf8_lossy(bytes));
    }
    // The ones too long to write out.
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: h\r\n\r\n", "a".repeat(4096));
    let long_head = format!("GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n", "a".repeat(16 << 10));
    let many_headers = format!("GET / HTTP/1.1\r\n{}\r\n", "Host: h\r\n".repeat(65));
    let long_extension = format!(
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1;{}\r\nx\r\n0\r\n\r\n",
        "e".repeat(chunked::MAX_CHUNK_LINE)
    );
    let long_trailer = format!(
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: {}\r\n\r\n",
        "t".repeat(16 << 10)
    );
    // Two chunks of half the body limit each, and one byte more: refused at the second size.
    let over_in_total = [
        &b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n80000\r\n"[..],
        &[b'x'; 0x80000],
        b"\r\n80001\r\n",
    ]
    .concat();
    let dynamic = [
        (String::from_utf8(over_in_total).unwrap(), HttpError::body_too_large()),
        (long_target, HttpError::uri_too_long()),
        (long_head, HttpError::head_too_large()),
        (many_headers, HttpError::too_many_headers()),
        (long_extension, HttpError::chunk_overhead()),
        (long_trailer, HttpError::bad_trailer()),
    ];
    for (bytes, expected) in &dynamic {
        assert_eq!(refused(bytes.as_bytes()), *expected, "{bytes:?}");
    }
    let statuses: Vec<u16> = cases.iter().chain(&dynamic.map(|(_, e)| (&b""[..], e))).map(|(_, e)| e.status).collect();
    for status in [400, 405, 413, 414, 431, 501, 505] {
        assert!(statuses.contains(&status), "{status}");
    }
}

#[test]
fn version_errors_wait_for_the_whole_version() {
    // `HTTP/2` may still become `HTTP/2.0` (505) or something malformed (400).
    assert!(!partial(b"GET / HTTP/2"));
    assert!(!partial(b"GET / HTTP/2.0"));
    assert!(!partial(b"GET / HTTP/2.0\r"));
    assert_eq!(refused(b"GET / HTTP/2.0\r\n"), HttpError::version_not_supported());
    assert_eq!(refused(b"GET / HTTP/2x"), HttpError::bad_request_line());
}

#[test]
fn error_statuses() {
    for (error, status) in [
        (HttpError::bad_request_line(), 400),
        (HttpError::uri_too_long(), 414),
        (HttpError::head_too_large(), 431),
        (HttpError::too_many_headers(), 431),
        (HttpError::body_too_large(), 413),
        (HttpError::unsupported_transfer_encoding(), 501),
        (HttpError::method_not_allowed(), 405),
        (HttpError::method_not_implemented(), 501),
        (HttpError::version_not_supported(), 505),
        (HttpError::timeout(), 408),
        (HttpError::unavailable(), 503),
    ] {
        assert_eq!(error.status, status, "{error}");
        assert_eq!(error.allow().is_some(), status == 405);
    }
}

// ---- Property tests ----

/// A valid request and what decoding it must give.
#[derive(Clone, Debug)]
struct Spec {
    bytes: Vec<u8>,
    request: Request,
    keep_alive: bool,
}

fn segment() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._~ é?-]{1,6}".prop_filter("dot segments", |s| s != "." && s != "..")
}

/// Percent-encodes what must be, and, when `extra`, unreserved characters too (servers must
/// treat both alike).
fn encode_segment(segment: &str, extra: bool) -> String {
    let mut out = String::new();
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() && !extra || b"._~-".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

prop_compose! {
    fn spec()(
        method in prop_oneof![Just(Method::Get), Just(Method::Head), Just(Method::Post)],
        segments in proptest::collection::vec(segment(), 0..4),
        trailing_slash in any::<bool>(),
        encode_more in any::<bool>(),
        query in proptest::option::of("[a-z0-9=&%+]{0,8}"),
        http10 in any::<bool>(),
        close in any::<bool>(),
        lower_names in any::<bool>(),
        accept in proptest::option::of("[a-z, ;=.0-9]{0,12}"),
        inm in proptest::option::of("(W/)?\"[a-z0-9]{0,6}\""),
        content_type in proptest::option::of("[a-z]{1,5}/[a-z]{1,5}"),
        body in proptest::collection::vec(any::<u8>(), 0..40),
        chunked in any::<bool>(),
        cuts in proptest::collection::vec(0usize..40, 0..4),
        extensions in any::<bool>(),
        trailer in any::<bool>(),
    ) -> Spec {
        let chunked = chunked && !http10;
        let path = if segments.is_empty() {
            "/".to_owned()
        } else {
            let joined = segments.iter().map(|s| format!("/{s}")).collect::<String>();
            if trailing_slash { joined + "/" } else { joined }
        };
        let mut target: String = segments.iter().map(|s| format!("/{}", encode_segment(s, encode_more))).collect();
        if target.is_empty() || trailing_slash {
            target.push('/');
        }
        if let Some(query) = &query {
            target.push('?');
            target.push_str(query);
        }
        let name = |n: &str| if lower_names { n.to_ascii_lowercase() } else { n.to_owned() };
        let mut head = format!("{} {target} HTTP/1.{}\r\n", match method {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
        }, if http10 { 0 } else { 1 });
        if !http10 || close {
            head.push_str(&format!("{}: example.com\r\n", name("Host")));
        }
        match (http10, close) {
            (false, true) => head.push_str(&format!("{}: close\r\n", name("Connection"))),
            (true, false) => head.push_str(&format!("{}: keep-alive\r\n", name("Connection"))),
            _ => {}
        }
        if let Some(accept) = &accept {
            head.push_str(&format!("{}: {accept}\r\n", name("Accept-Encoding")));
        }
        if let Some(inm) = &inm {
            head.push_str(&format!("{}: {inm}\r\n", name("If-None-Match")));
        }
        if let Some(content_type) = &content_type {
            head.push_str(&format!("{}: {content_type}\r\n", name("Content-Type")));
        }
        let mut bytes;
        if chunked {
            head.push_str(&format!("{}: chunked\r\n\r\n", name("Transfer-Encoding")));
            bytes = head.into_bytes();
            let mut cuts: Vec<usize> = cuts.into_iter().filter(|&c| c > 0 && c < body.len()).collect();
            cuts.sort_unstable();
            cuts.dedup();
            let mut start = 0;
            for end in cuts.into_iter().chain([body.len()]) {
                if end > start {
                    bytes.extend_from_slice(format!("{:x}{}\r\n", end - start, if extensions { ";e=\"v\"" } else { "" }).as_bytes());
                    bytes.extend_from_slice(&body[start..end]);
                    bytes.extend_from_slice(b"\r\n");
                }
                start = end;
            }
            bytes.extend_from_slice(if trailer { b"0\r\nT: x\r\n\r\n" } else { b"0\r\n\r\n" });
        } else {
            if !body.is_empty() {
                head.push_str(&format!("{}: {}\r\n", name("Content-Length"), body.len()));
            }
            head.push_str("\r\n");
            bytes = head.into_bytes();
            bytes.extend_from_slice(&body);
        }
        let request = Request {
            method,
            path,
            query: query.unwrap_or_default(),
            accept_encoding: accept.map(|a| a.trim_matches(' ').to_owned()).unwrap_or_default(),
            if_none_match: inm,
            content_type,
            body: if method == Method::Post { body } else { Vec::new() },
        };
        Spec { bytes, request, keep_alive: !close }
    }
}

/// Feeds `stream` in pieces ending at `cuts` (then the rest), as a server would, decoding
/// after each piece until it needs more.
fn feed(stream: &[u8], cuts: &[usize]) -> Result<Vec<(Request, bool)>, String> {
    let mut ends: Vec<usize> = cuts.iter().map(|&c| c % (stream.len() + 1)).chain([stream.len()]).collect();
    ends.sort_unstable();
    let mut buf = Vec::new();
    let mut fed = 0;
    let mut decoded = Vec::new();
    for end in ends {
        buf.extend_from_slice(&stream[fed..end]);
        fed = end;
        loop {
            match decode(&buf, &Limits::default()) {
                Ok(Progress::Complete { request, keep_alive, consumed }) => {
                    decoded.push((request, keep_alive));
                    buf.drain(..consumed);
                }
                Ok(Progress::Partial { .. }) => break,
                Err(error) => return Err(format!("{error} with {:?} buffered", String::from_utf8_lossy(&buf))),
            }
        }
    }
    if buf.is_empty() { Ok(decoded) } else { Err(format!("left over: {:?}", String::from_utf8_lossy(&buf))) }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = decode(&bytes, &Limits::default());
        let tiny = Limits { max_head: 40, max_uri: 8, max_headers: 2, max_body: 4 };
        let _ = decode(&bytes, &tiny);
    }

    #[test]
    fn mutated_requests_never_panic(
        spec in spec(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        let mut bytes = spec.bytes;
        for (at, byte, kind) in edits {
            let at = at.index(bytes.len() + 1);
            match kind {
                0 if at < bytes.len() => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                _ if at < bytes.len() => { bytes.remove(at); }
                _ => {}
            }
        }
        for end in 0..=bytes.len() {
            let _ = decode(&bytes[..end], &Limits::default());
        }
        let tiny = Limits { max_head: 60, max_uri: 10, max_headers: 3, max_body: 8 };
        let _ = decode(&bytes, &tiny);
    }

    #[test]
    fn arbitrary_splits_of_a_pipelined_stream_give_the_same_requests(
        specs in proptest::collection::vec(spec(), 1..5),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let stream: Vec<u8> = specs.iter().flat_map(|s| s.bytes.iter().copied()).collect();
        let expected: Vec<(Request, bool)> = specs.iter().map(|s| (s.request.clone(), s.keep_alive)).collect();
        prop_assert_eq!(feed(&stream, &[]), Ok(expected.clone()));
        prop_assert_eq!(feed(&stream, &cuts), Ok(expected));
    }

    #[test]
    fn valid_requests_fed_byte_by_byte_complete_at_their_last_byte(spec in spec()) {
        for end in 0..spec.bytes.len() {
            prop_assert!(matches!(decode(&spec.bytes[..end], &Limits::default()), Ok(Progress::Partial { .. })), "{}", end);
        }
        let whole = decode(&spec.bytes, &Limits::default());
        prop_assert_eq!(
            whole,
            Ok(Progress::Complete { request: spec.request, keep_alive: spec.keep_alive, consumed: spec.bytes.len() })
        );
    }
}
