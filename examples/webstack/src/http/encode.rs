//! Response writing: status line, headers and body into the buffer the server writes out.

use super::chunked::is_field_value_byte;
use super::negotiate::etag_matches;
use super::{HttpError, reason_phrase};
use crate::api::http::Response;

/// What every response says it is.
pub const SERVER: &str = "hatch-web";

/// Appends `response` to `out`, its body being `streamed` followed by `response.body` (both
/// copied straight into `out`, which the server writes in one go).
///
/// * `head_only`: the request was `HEAD`: the headers are those of the `GET` response,
///   `Content-Length` included, and no body follows.
/// * `keep_alive`: whether the connection stays open; `Connection: keep-alive` or
///   `Connection: close` says so. `keep-alive` is redundant for HTTP/1.1 clients but is what
///   an HTTP/1.0 client that asked for it waits to see, and the response does not know the
///   request's version.
/// * `date`: the `Date` value (from a [`DateCache`](super::DateCache)); omitted if it is not a
///   valid field value.
/// * `if_none_match`: the request's `If-None-Match`. Pass it for `GET` and `HEAD` only: a
///   `200` whose `ETag` it matches (see [`etag_matches`]) becomes `304 Not Modified`, with
///   `Date`, `ETag` and `Vary` and neither body nor `Content-Length` (a `304` never has a
///   body, RFC 9110 §15.4.5).
///
/// `204` and `304` responses get no `Content-Length` and no body. A response that is not
/// valid HTTP (a status outside 200..=599, or a header value with a control character, which
/// would let a handler split the response) is replaced by a `500`.
pub fn write_response(
    out: &mut Vec<u8>,
    response: &Response,
    streamed: &[u8],
    head_only: bool,
    keep_alive: bool,
    date: &str,
    if_none_match: Option<&str>,
) {
    let values = [
        Some(&response.content_type),
        response.content_encoding.as_ref(),
        response.etag.as_ref(),
        response.location.as_ref(),
    ];
    if !(200..=599).contains(&response.status) || !values.into_iter().flatten().all(|v| is_field_value(v)) {
        return write_invalid(out, head_only, keep_alive, date);
    }
    let not_modified = response.status == 200
        && matches!((&response.etag, if_none_match), (Some(etag), Some(condition)) if etag_matches(condition, etag));
    let status = if not_modified { 304 } else { response.status };
    let has_body = !matches!(status, 204 | 304);
    let body_len = streamed.len().saturating_add(response.body.len());

    out.reserve(if has_body && !head_only { body_len.saturating_add(256) } else { 256 });
    status_line(out, status);
    common_headers(out, date);
    if !not_modified && !response.content_type.is_empty() {
        header(out, "Content-Type", &response.content_type);
    }
    if has_body {
        out.extend_from_slice(b"Content-Length: ");
        push_decimal(out, body_len);
        out.extend_from_slice(b"\r\n");
    }
    if !not_modified && let Some(encoding) = &response.content_encoding {
        header(out, "Content-Encoding", encoding);
    }
    if let Some(etag) = &response.etag {
        header(out, "ETag", etag);
    }
    if response.vary_encoding {
        header(out, "Vary", "Accept-Encoding");
    }
    if !not_modified && let Some(location) = &response.location {
        header(out, "Location", location);
    }
    header(out, "Connection", if keep_alive { "keep-alive" } else { "close" });
    out.extend_from_slice(b"\r\n");
    if has_body && !head_only {
        out.extend_from_slice(streamed);
        out.extend_from_slice(&response.body);
    }
}

/// Appends the response to a refused request: a short `text/plain` body saying why,
/// `Allow` for a `405`, and `Connection: close` (the server closes after it). A status outside
/// 400..=599 is written as `500`.
pub fn write_error(out: &mut Vec<u8>, error: &HttpError, date: &str) {
    let status = if (400..=599).contains(&error.status) { error.status } else { 500 };
    let body_len = 3 + 1 + reason_phrase(status).len() + 2 + error.reason.len() + 1;
    out.reserve(256 + body_len);
    status_line(out, status);
    common_headers(out, date);
    header(out, "Content-Type", "text/plain; charset=utf-8");
    out.extend_from_slice(b"Content-Length: ");
    push_decimal(out, body_len);
    out.extend_from_slice(b"\r\n");
    if let Some(allow) = error.allow() {
        header(out, "Allow", allow);
    }
    header(out, "Connection", "close");
    out.extend_from_slice(b"\r\n");
    push_decimal(out, usize::from(status));
    out.push(b' ');
    out.extend_from_slice(reason_phrase(status).as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(error.reason.as_bytes());
    out.push(b'\n');
}

/// Appends the interim response a client sending `Expect: 100-continue` waits for.
pub fn write_continue(out: &mut Vec<u8>) {
    out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
}

/// The `500` that replaces a response that is not valid HTTP.
fn write_invalid(out: &mut Vec<u8>, head_only: bool, keep_alive: bool, date: &str) {
    const BODY: &[u8] = b"500 Internal Server Error: invalid response\n";
    status_line(out, 500);
    common_headers(out, date);
    header(out, "Content-Type", "text/plain; charset=utf-8");
    out.extend_from_slice(b"Content-Length: ");
    push_decimal(out, BODY.len());
    out.extend_from_slice(b"\r\n");
    header(out, "Connection", if keep_alive { "keep-alive" } else { "close" });
    out.extend_from_slice(b"\r\n");
    if !head_only {
        out.extend_from_slice(BODY);
    }
}

fn status_line(out: &mut Vec<u8>, status: u16) {
    out.extend_from_slice(b"HTTP/1.1 ");
    push_decimal(out, usize::from(status));
    out.push(b' ');
    out.extend_from_slice(reason_phrase(status).as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn common_headers(out: &mut Vec<u8>, date: &str) {
    if is_field_value(date) {
        header(out, "Date", date);
    }
    header(out, "Server", SERVER);
}

fn header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// No CR, LF, NUL or other control character but HTAB (RFC 9110 §5.5).
fn is_field_value(value: &str) -> bool {
    value.bytes().all(is_field_value_byte)
}

fn push_decimal(out: &mut Vec<u8>, mut n: usize) {
    // 20 digits hold `u64::MAX`.
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    for slot in digits.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
        start -= 1;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(start..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

    fn page() -> Response {
        Response {
            status: 200,
            content_type: "text/html; charset=utf-8".into(),
            content_encoding: None,
            etag: Some("\"v1\"".into()),
            location: None,
            vary_encoding: false,
            body: b"<p>world</p>".to_vec(),
        }
    }

    fn written(response: &Response, head_only: bool, keep_alive: bool, if_none_match: Option<&str>) -> String {
        let mut out = Vec::new();
        write_response(&mut out, response, b"hello ", head_only, keep_alive, DATE, if_none_match);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn ok_response_with_streamed_and_returned_body() {
        assert_eq!(
            written(&page(), false, true, None),
            "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: hatch-web\r\n\
             Content-Type: text/html; charset=utf-8\r\nContent-Length: 18\r\nETag: \"v1\"\r\n\
             Connection: keep-alive\r\n\r\nhello <p>world</p>"
        );
    }

    #[test]
    fn every_optional_header_and_close() {
        let response = Response {
            status: 301,
            content_encoding: Some("gzip".into()),
            location: Some("/wiki/Main".into()),
            vary_encoding: true,
            etag: None,
            ..page()
        };
        assert_eq!(
            written(&response, false, false, Some("*")),
            "HTTP/1.1 301 Moved Permanently\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: hatch-web\r\n\
             Content-Type: text/html; charset=utf-8\r\nContent-Length: 18\r\nContent-Encoding: gzip\r\n\
             Vary: Accept-Encoding\r\nLocation: /wiki/Main\r\nConnection: close\r\n\r\nhello <p>world</p>"
        );
    }

    #[test]
    fn head_keeps_content_length_and_drops_the_body() {
        let head = written(&page(), true, true, None);
        assert!(head.contains("\r\nContent-Length: 18\r\n"), "{head}");
        assert!(head.ends_with("\r\n\r\n"), "{head}");
        assert_eq!(head.len() + 18, written(&page(), false, true, None).len());
    }

    #[test]
    fn not_modified_when_the_etag_matches() {
        let response = Response { vary_encoding: true, ..page() };
        for condition in ["\"v1\"", "W/\"v1\"", "\"v0\", \"v1\"", "*"] {
            for head_only in [false, true] {
                assert_eq!(
                    written(&response, head_only, true, Some(condition)),
                    "HTTP/1.1 304 Not Modified\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: hatch-web\r\n\
                     ETag: \"v1\"\r\nVary: Accept-Encoding\r\nConnection: keep-alive\r\n\r\n",
                    "{condition}"
                );
            }
        }
        for condition in [None, Some("\"v2\""), Some("\"v0\", W/\"v3\""), Some("v1")] {
            assert!(written(&response, false, true, condition).starts_with("HTTP/1.1 200 OK\r\n"), "{condition:?}");
        }
        // Only a 200 turns into a 304, and only with an ETag.
        let created = Response { status: 201, ..page() };
        assert!(written(&created, false, true, Some("*")).starts_with("HTTP/1.1 201 Created\r\n"));
        let untagged = Response { etag: None, ..page() };
        assert!(written(&untagged, false, true, Some("*")).starts_with("HTTP/1.1 200 OK\r\n"));
    }

    #[test]
    fn no_content_has_no_length_and_no_body() {
        let response = Response { status: 204, ..page() };
        let text = written(&response, false, true, None);
        assert!(text.starts_with("HTTP/1.1 204 No Content\r\n"));
        assert!(!text.contains("Content-Length"));
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn invalid_responses_become_500() {
        let split = Response { location: Some("/x\r\nSet-Cookie: a=b".into()), ..page() };
        let nul = Response { etag: Some("\"a\0\"".into()), ..page() };
        for response in [split, nul, Response { status: 100, ..page() }, Response { status: 600, ..page() }] {
            let text = written(&response, false, true, None);
            assert!(text.starts_with("HTTP/1.1 500 Internal Server Error\r\n"), "{text}");
            assert!(!text.contains("Set-Cookie") && !text.contains("hello"), "{text}");
            assert!(text.ends_with("\r\n\r\n500 Internal Server Error: invalid response\n"), "{text}");
        }
    }

    #[test]
    fn errors_close_and_405_says_allow() {
        let mut out = Vec::new();
        write_error(&mut out, &HttpError::method_not_allowed(), DATE);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 405 Method Not Allowed\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: hatch-web\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Length: 43\r\nAllow: GET, HEAD, POST\r\n\
             Connection: close\r\n\r\n405 Method Not Allowed: method not allowed\n"
        );
        let mut out = Vec::new();
        write_error(&mut out, &HttpError::uri_too_long(), "bad\r\ndate");
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 414 URI Too Long\r\nServer: hatch-web\r\n"), "{text}");
        assert!(!text.contains("Allow"));
        let body = text.split("\r\n\r\n").nth(1).unwrap();
        assert!(text.contains(&format!("Content-Length: {}\r\n", body.len())), "{text}");
    }

    #[test]
    fn continue_and_decimal() {
        let mut out = Vec::new();
        write_continue(&mut out);
        assert_eq!(out, b"HTTP/1.1 100 Continue\r\n\r\n");
        for n in [0, 7, 10, 1234567890, usize::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
    }
}
