//! Why a request is refused.

use std::fmt;

/// The methods this site serves, for the `Allow` header of a `405`.
pub const ALLOW: &str = "GET, HEAD, POST";

/// A request the front end refuses: the status to answer with and what was wrong.
///
/// Every error ends the connection: after sending the error response (see
/// [`write_error`](super::write_error)) the server closes it, because after a malformed
/// request there is no trustworthy way to find where the next one starts.
///
/// Build one with the constructors below, one for each reason; compare them with `==`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpError {
    /// The status code of the error response.
    pub status: u16,
    /// What was wrong, in a few words (logged, and sent in the error response's body).
    pub reason: &'static str,
}

impl HttpError {
    const fn new(status: u16, reason: &'static str) -> HttpError {
        HttpError { status, reason }
    }

    /// `400`: the request line is not `method SP request-target SP HTTP-version CRLF` (a bad
    /// method token, a control character or space in the target, a bare CR).
    pub const fn bad_request_line() -> HttpError {
        HttpError::new(400, "malformed request line")
    }

    /// `400`: a header field is malformed: a bad name, a space before the colon, a control
    /// character (NUL included) in a value, obsolete line folding (a line starting with
    /// whitespace), a bare CR, or a value the request keeps that is not UTF-8.
    pub const fn bad_header() -> HttpError {
        HttpError::new(400, "malformed header field")
    }

    /// `400`: an HTTP/1.1 request without `Host` (RFC 9112 §3.2).
    pub const fn missing_host() -> HttpError {
        HttpError::new(400, "missing Host header")
    }

    /// `400`: more than one `Host` field, in any version (RFC 9112 §3.2).
    pub const fn multiple_host() -> HttpError {
        HttpError::new(400, "more than one Host header")
    }

    /// `414`: the request target is longer than [`Limits::max_uri`](super::Limits::max_uri).
    pub const fn uri_too_long() -> HttpError {
        HttpError::new(414, "request target too long")
    }

    /// `431`: the head is longer than [`Limits::max_head`](super::Limits::max_head).
    pub const fn head_too_large() -> HttpError {
        HttpError::new(431, "request head too large")
    }

    /// `431`: more header fields than [`Limits::max_headers`](super::Limits::max_headers).
    pub const fn too_many_headers() -> HttpError {
        HttpError::new(431, "too many header fields")
    }

    /// `413`: the body is longer than [`Limits::max_body`](super::Limits::max_body), known
    /// from `Content-Length` before the body is read, or from a chunk size.
    pub const fn body_too_large() -> HttpError {
        HttpError::new(413, "request body too large")
    }

    /// `400`: `Content-Length` is not a decimal number, is a list, or appears more than once.
    pub const fn bad_content_length() -> HttpError {
        HttpError::new(400, "invalid Content-Length")
    }

    /// `400`: both `Content-Length` and `Transfer-Encoding`. The two framings disagreeing is
    /// how requests are smuggled past a proxy (RFC 9112 §6.3), so neither is trusted.
    pub const fn length_and_transfer_encoding() -> HttpError {
        HttpError::new(400, "Content-Length with Transfer-Encoding")
    }

    /// `501`: a `Transfer-Encoding` that ends in `chunked` but has other codings before it
    /// (`gzip, chunked`, or `chunked` twice): codings the server does not implement (RFC 9112
    /// §6.1).
    pub const fn unsupported_transfer_encoding() -> HttpError {
        HttpError::new(501, "unsupported Transfer-Encoding")
    }

    /// `400`: a `Transfer-Encoding` whose final coding is not `chunked` (`gzip`, `identity`,
    /// empty): the end of the body cannot be found, and RFC 9112 §6.3 requires `400`.
    pub const fn unframed_transfer_encoding() -> HttpError {
        HttpError::new(400, "Transfer-Encoding not ending in chunked")
    }

    /// `400`: `Transfer-Encoding` in an HTTP/1.0 request, whose framing RFC 9112 §6.1 says
    /// to treat as faulty.
    pub const fn transfer_encoding_in_http10() -> HttpError {
        HttpError::new(400, "Transfer-Encoding in an HTTP/1.0 request")
    }

    /// `400`: a chunk size that is not hexadecimal, is empty, or does not fit in 64 bits.
    pub const fn bad_chunk_size() -> HttpError {
        HttpError::new(400, "invalid chunk size")
    }

    /// `400`: a chunk line or chunk data not ended by CRLF (a bare LF included: strict
    /// framing leaves no room for a proxy and this server to disagree).
    pub const fn bad_chunk_framing() -> HttpError {
        HttpError::new(400, "chunk not ended by CRLF")
    }

    /// `400`: a chunk line (size and extensions) longer than 4 KiB, or a chunked body whose
    /// framing outweighs its data by more than [`Limits::max_head`](super::Limits::max_head).
    pub const fn chunk_overhead() -> HttpError {
        HttpError::new(400, "chunk extensions too long")
    }

    /// `400`: a malformed trailer field, or a trailer section longer than
    /// [`Limits::max_head`](super::Limits::max_head).
    pub const fn bad_trailer() -> HttpError {
        HttpError::new(400, "malformed or oversized trailer section")
    }

    /// `400`: a request target that is not an absolute path (`/…`) or an `http`/`https`
    /// absolute URI, or that has a fragment, a bad percent escape, or a raw non-ASCII byte.
    pub const fn bad_target() -> HttpError {
        HttpError::new(400, "malformed request target")
    }

    /// `400`: a path that could escape or confuse the file tree: a `..` segment in any
    /// encoding, an encoded `/` (`%2F`) or `%` (double encoding, `%252e`), a backslash raw or
    /// encoded, NUL or another control character, or bytes that are not UTF-8 once decoded
    /// (overlong forms such as `%C0%AE` included).
    pub const fn unsafe_path() -> HttpError {
        HttpError::new(400, "unsafe request path")
    }

    /// `405`: a method this site knows but does not serve (`PUT`, `DELETE`, `PATCH`,
    /// `OPTIONS`, `TRACE`, `CONNECT`); the response carries `Allow: GET, HEAD, POST`.
    pub const fn method_not_allowed() -> HttpError {
        HttpError::new(405, "method not allowed")
    }

    /// `501`: a method token no HTTP specification this server knows defines (methods are
    /// case-sensitive, so `get` is one).
    pub const fn method_not_implemented() -> HttpError {
        HttpError::new(501, "method not implemented")
    }

    /// `505`: a well-formed version other than HTTP/1.0 and HTTP/1.1 (`HTTP/2.0`, `HTTP/1.2`).
    pub const fn version_not_supported() -> HttpError {
        HttpError::new(505, "HTTP version not supported")
    }

    /// `408`: the server gave up waiting for the rest of a request (sent by the server, never
    /// returned by [`decode`](super::decode())).
    pub const fn timeout() -> HttpError {
        HttpError::new(408, "request timed out")
    }

    /// `503`: the server is over its connection limit (sent by the server, never returned by
    /// [`decode`](super::decode())).
    pub const fn unavailable() -> HttpError {
        HttpError::new(503, "server busy")
    }

    /// The `Allow` header value this error's response carries, for a `405`.
    pub fn allow(&self) -> Option<&'static str> {
        (self.status == 405).then_some(ALLOW)
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.reason)
    }
}

impl std::error::Error for HttpError {}
