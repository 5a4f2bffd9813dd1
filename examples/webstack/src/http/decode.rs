//! Request decoding: from the bytes a connection has buffered to a checked [`Request`], or the
//! reason it is refused.
//!
//! [`decode`] is stateless: the server calls it on everything buffered after each read, and on
//! what is left after a complete request (pipelining). Each call parses the current request
//! from its start, which costs the head (at most [`Limits::max_head`], parsed with SIMD by
//! httparse) plus one step per chunk of a chunked body, never a pass over body data until the
//! body is complete; so the server should call it once per read, not once per byte.
//!
//! Decisions besides the limits (see [`HttpError`] for every refusal):
//!
//! * Versions: HTTP/1.0 and HTTP/1.1; another well-formed `HTTP/d.d` is `505`.
//! * Methods: `GET`, `HEAD`, `POST`; the other methods of RFC 9110 and `PATCH` are `405`,
//!   any other token `501`.
//! * A line in the head may end in a bare LF (RFC 9112 §2.2 allows it; httparse does); a bare
//!   CR is an error. Empty lines before the request line are skipped.
//! * Framing (RFC 9112 §6): `Content-Length` must be one field of decimal digits (a list or a
//!   repeated field is `400`, even with equal values); with `Transfer-Encoding` as well it is
//!   `400`. `Transfer-Encoding` must be exactly `chunked`: `400` when `chunked` is not the
//!   final coding (the body's end cannot be found: RFC 9112 §6.3 requires `400`), `501` when
//!   it is but other codings come before it (`gzip, chunked`: RFC 9112 §6.1's "not
//!   implemented"), and `400` in an HTTP/1.0 request. Neither header: no body.
//! * A body sent with `GET` or `HEAD` is read (so the next request is found) and dropped, so
//!   [`Request::body`] is empty for them; the body limit applies all the same.
//! * `Accept-Encoding` and `If-None-Match` fields that repeat are joined with `, ` (they are
//!   lists); a repeated `Content-Type` is `400`. The three must be UTF-8 (`400` otherwise).
//! * `Host` is counted (one, required in HTTP/1.1), not interpreted: the site answers for any
//!   name, and an absolute-form target's authority is dropped with it.
//! * Keep-alive: HTTP/1.1 keeps the connection unless `Connection: close`; HTTP/1.0 closes it
//!   unless `Connection: keep-alive`; `close` wins over `keep-alive`.
//! * `Expect: 100-continue` (HTTP/1.1 only, as RFC 9110 §10.1.1 says) makes
//!   [`Progress::Partial::expect_continue`] true while the head is complete and none of the
//!   body has arrived; other expectations are ignored.

use httparse::{EMPTY_HEADER, Header, Status};

use super::chunked::{Chunked, dechunk};
use super::target::parse_target;
use super::{HttpError, Limits};
use crate::api::http::{Method, Request};

/// Where the request at the start of a buffer stands.
#[derive(Clone, Debug, PartialEq)]
pub enum Progress {
    /// A whole request.
    Complete {
        /// The request, checked.
        request: Request,
        /// Whether the connection stays open after the response.
        keep_alive: bool,
        /// The bytes of the buffer this request took; the rest is the next request.
        consumed: usize,
    },
    /// More bytes are needed.
    Partial {
        /// The client sent `Expect: 100-continue` and waits for `100 Continue` (see
        /// [`write_continue`](super::write_continue)) before sending the body: the head is
        /// complete, acceptable, and none of the body has arrived. The server sends it once.
        expect_continue: bool,
    },
}

/// Room on a request line besides the target: a method, two spaces and a version (`POST`
/// and `HTTP/1.1` take 14).
pub const LINE_SLACK: usize = 16;

/// Header slots kept on the stack; a larger [`Limits::max_headers`] takes a heap allocation.
const STACK_HEADERS: usize = 64;

/// Methods defined by RFC 9110, and `PATCH` (RFC 5789), that this site does not serve: `405`
/// rather than `501`.
const KNOWN_METHODS: [&str; 6] = ["PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"];

/// Decodes the request at the start of `buf` (see the [module docs](self) for the rules).
///
/// # Errors
///
/// Any [`HttpError`] but `timeout` and `unavailable`; after one the server sends
/// [`write_error`](super::write_error) and closes the connection.
pub fn decode(buf: &[u8], limits: &Limits) -> Result<Progress, HttpError> {
    check_request_line(buf, limits)?;

    // Beyond one header per 3 bytes of head (`a:\n`) the head limit refuses first, with the
    // same 431, so no more slots are ever needed.
    let slots = limits.max_headers.min(limits.max_head / 3 + 1);
    let mut stack = [EMPTY_HEADER; STACK_HEADERS];
    let mut heap = Vec::new();
    let headers: &mut [Header<'_>] = match stack.get_mut(..slots) {
        Some(headers) => headers,
        None => {
            heap.resize(slots, EMPTY_HEADER);
            &mut heap
        }
    };
    let mut parsed = httparse::Request::new(headers);
    let head_len = match parsed.parse(buf) {
        Ok(Status::Complete(len)) => len,
        Ok(Status::Partial) if buf.len() > limits.max_head => return Err(HttpError::head_too_large()),
        Ok(Status::Partial) => return Ok(Progress::Partial { expect_continue: false }),
        Err(httparse::Error::Version) => return bad_version(buf, limits),
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::too_many_headers()),
        Err(httparse::Error::HeaderName | httparse::Error::HeaderValue) => return Err(HttpError::bad_header()),
        Err(httparse::Error::NewLine) if request_line_is_sound(buf) => return Err(HttpError::bad_header()),
        Err(_) => return Err(HttpError::bad_request_line()),
    };
    if head_len > limits.max_head {
        return Err(HttpError::head_too_large());
    }
    let http11 = parsed.version == Some(1);
    let raw_target = parsed.path.unwrap_or_default();
    if raw_target.len() > limits.max_uri {
        return Err(HttpError::uri_too_long());
    }
    let method = match parsed.method.unwrap_or_default() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        other if KNOWN_METHODS.contains(&other) => return Err(HttpError::method_not_allowed()),
        _ => return Err(HttpError::method_not_implemented()),
    };
    let fields = Fields::read(parsed.headers)?;
    if fields.hosts > 1 {
        return Err(HttpError::multiple_host());
    }
    if http11 && fields.hosts == 0 {
        return Err(HttpError::missing_host());
    }
    let framing = fields.framing(http11, limits)?;
    let target = parse_target(raw_target)?;

    let rest = buf.get(head_len..).unwrap_or_default();
    let expect_continue = http11 && fields.expect_continue && rest.is_empty();
    let keep = method == Method::Post;
    let (body, body_len) = match framing {
        Framing::None => (Vec::new(), 0),
        Framing::Length(length) => {
            let Some(bytes) = rest.get(..length) else { return Ok(Progress::Partial { expect_continue }) };
            (if keep { bytes.to_vec() } else { Vec::new() }, length)
        }
        Framing::Chunked => match dechunk(rest, limits, None)? {
            Chunked::Partial { .. } => return Ok(Progress::Partial { expect_continue }),
            Chunked::Complete { consumed, len } => {
                let mut body = Vec::new();
                if keep {
                    body.reserve_exact(len);
                    dechunk(rest.get(..consumed).unwrap_or_default(), limits, Some(&mut body))?;
                }
                (body, consumed)
            }
        },
    };
    let keep_alive = !fields.close && (http11 || fields.keep_alive);
    let request = Request {
        method,
        path: target.path,
        query: target.query,
        accept_encoding: fields.accept_encoding,
        if_none_match: fields.if_none_match,
        content_type: fields.content_type,
        body,
    };
    Ok(Progress::Complete { request, keep_alive, consumed: head_len + body_len })
}

/// The request line, after any empty lines, as far as it has arrived (without its line
/// ending), and whether it has ended (properly: a bare CR in it counts as not ended).
fn request_line(buf: &[u8]) -> (&[u8], bool) {
    let mut rest = buf;
    // As httparse: CRLF or LF lines before the request line are skipped.
    loop {
        if let Some(after) = rest.strip_prefix(b"\r\n") {
            rest = after;
        } else if let Some(after) = rest.strip_prefix(b"\n") {
            rest = after;
        } else {
            break;
        }
    }
    match rest.iter().position(|&b| b == b'\n') {
        Some(end) => {
            let line = rest.get(..end).unwrap_or_default();
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            (line, !line.contains(&b'\r'))
        }
        None => (rest.strip_suffix(b"\r").unwrap_or(rest), false),
    }
}

/// Whether the request line has ended and is `method SP target SP HTTP/1.x`, so that an error
/// httparse reports is in the header section.
fn request_line_is_sound(buf: &[u8]) -> bool {
    let (line, ended) = request_line(buf);
    let mut parts = line.split(|&b| b == b' ');
    ended
        && matches!(
            (parts.next(), parts.next(), parts.next(), parts.next()),
            (Some(_), Some(_), Some(b"HTTP/1.0" | b"HTTP/1.1"), None)
        )
}

/// Refuses a request line (or as much of it as has arrived) that is, or is bound to become,
/// longer than `max_uri` allows, without waiting for the rest of the head.
fn check_request_line(buf: &[u8], limits: &Limits) -> Result<(), HttpError> {
    // A line that is too long is known to be within `max_line + 2` bytes (a CRLF), so the
    // search for its end looks no further.
    let max_line = limits.max_uri.saturating_add(LINE_SLACK);
    let window = buf.get(..max_line.saturating_add(2).saturating_add(leading_empty_lines(buf))).unwrap_or(buf);
    let (line, _) = request_line(window);
    let target = line.split(|&b| b == b' ').nth(1).unwrap_or_default();
    if line.len() > max_line || target.len() > limits.max_uri {
        return Err(HttpError::uri_too_long());
    }
    Ok(())
}

/// The length of the empty lines at the start of `buf`.
fn leading_empty_lines(buf: &[u8]) -> usize {
    buf.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(buf.len())
}

/// httparse refused the version: `505` for a well-formed one it does not speak, `400` for a
/// malformed one, and nothing yet for one that may still become well-formed.
fn bad_version(buf: &[u8], limits: &Limits) -> Result<Progress, HttpError> {
    let (line, ended) = request_line(buf);
    let mut parts = line.split(|&b| b == b' ');
    let version = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(_), Some(version), None) => version,
        _ => return Err(HttpError::bad_request_line()),
    };
    // `HTTP-version = HTTP-name "/" DIGIT "." DIGIT` (RFC 9112 §2.3).
    let pattern = b"HTTP/0.0";
    let fits = version.len() <= pattern.len()
        && version.iter().zip(pattern).all(|(&b, &p)| if p == b'0' { b.is_ascii_digit() } else { b == p });
    match (fits, ended) {
        (true, true) if version.len() == pattern.len() => Err(HttpError::version_not_supported()),
        (true, false) if buf.len() > limits.max_head => Err(HttpError::head_too_large()),
        (true, false) => Ok(Progress::Partial { expect_continue: false }),
        _ => Err(HttpError::bad_request_line()),
    }
}

/// How the body is delimited.
enum Framing {
    None,
    Length(usize),
    Chunked,
}

/// What the request's header fields say, as far as decoding cares.
#[derive(Default)]
struct Fields {
    hosts: usize,
    content_length: Option<usize>,
    transfer_encodings: Vec<String>,
    close: bool,
    keep_alive: bool,
    expect_continue: bool,
    accept_encoding: String,
    if_none_match: Option<String>,
    content_type: Option<String>,
}

impl Fields {
    fn read(headers: &[Header<'_>]) -> Result<Fields, HttpError> {
        let mut fields = Fields::default();
        for header in headers {
            let name = header.name;
            let value = header.value;
            if name.eq_ignore_ascii_case("host") {
                fields.hosts += 1;
            } else if name.eq_ignore_ascii_case("content-length") {
                if fields.content_length.is_some() || value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
                    return Err(HttpError::bad_content_length());
                }
                // Saturates: a length past `usize` is simply over the body limit.
                let length =
                    value.iter().fold(0usize, |n, &d| n.saturating_mul(10).saturating_add(usize::from(d - b'0')));
                fields.content_length = Some(length);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                let value = String::from_utf8_lossy(value);
                fields.transfer_encodings.extend(value.split(',').map(|c| c.trim_matches([' ', '\t']).to_owned()));
            } else if name.eq_ignore_ascii_case("connection") {
                for option in value.split(|&b| b == b',') {
                    let option = option.trim_ascii();
                    fields.close |= option.eq_ignore_ascii_case(b"close");
                    fields.keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
                }
            } else if name.eq_ignore_ascii_case("expect") {
                fields.expect_continue |=
                    value.split(|&b| b == b',').any(|e| e.trim_ascii().eq_ignore_ascii_case(b"100-continue"));
            } else if name.eq_ignore_ascii_case("accept-encoding") {
                join(&mut fields.accept_encoding, utf8(value)?);
            } else if name.eq_ignore_ascii_case("if-none-match") {
                join(fields.if_none_match.get_or_insert_with(String::new), utf8(value)?);
            } else if name.eq_ignore_ascii_case("content-type") {
                if fields.content_type.is_some() {
                    return Err(HttpError::bad_header());
                }
                fields.content_type = Some(utf8(value)?.to_owned());
            }
        }
        Ok(fields)
    }

    fn framing(&self, http11: bool, limits: &Limits) -> Result<Framing, HttpError> {
        if self.transfer_encodings.is_empty() {
            return match self.content_length {
                None | Some(0) => Ok(Framing::None),
                Some(length) if length > limits.max_body => Err(HttpError::body_too_large()),
                Some(length) => Ok(Framing::Length(length)),
            };
        }
        if self.content_length.is_some() {
            return Err(HttpError::length_and_transfer_encoding());
        }
        if !http11 {
            return Err(HttpError::transfer_encoding_in_http10());
        }
        let mut codings = self.transfer_encodings.iter().filter(|c| !c.is_empty());
        match codings.next_back() {
            Some(last) if last.eq_ignore_ascii_case("chunked") => {}
            _ => return Err(HttpError::unframed_transfer_encoding()),
        }
        if codings.next().is_some() {
            return Err(HttpError::unsupported_transfer_encoding());
        }
        Ok(Framing::Chunked)
    }
}

fn utf8(value: &[u8]) -> Result<&str, HttpError> {
    std::str::from_utf8(value).map_err(|_| HttpError::bad_header())
}

/// Appends a list field's value to the ones before it (RFC 9110 §5.3).
fn join(list: &mut String, value: &str) {
    if !list.is_empty() {
        list.push_str(", ");
    }
    list.push_str(value);
}
