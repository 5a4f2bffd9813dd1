//! The front end's HTTP/1.1 layer, without I/O: bytes in, requests out; responses in, bytes
//! out. The server ([`crate::server`]) owns the sockets and calls, per connection:
//!
//! 1. [`decode()`] on everything it has buffered, after each read: [`Progress::Partial`] means
//!    read more (first sending [`write_continue`] if `expect_continue` says the client waits
//!    for it); [`Progress::Complete`] hands over a checked [`Request`](crate::api::http::Request)
//!    and how many bytes it took, the rest being the next pipelined request; an
//!    [`HttpError`] means send [`write_error`] and close.
//! 2. [`write_response`] with the handler's response, the body it streamed, and a `Date` from
//!    a [`DateCache`].
//!
//! Every byte a client sends is untrusted: each request is bounded by [`Limits`], its framing
//! checked against request smuggling (see [`decode`](decode::decode)), and its path
//! against traversal (see [`target`]). Nothing here panics on any input.
//!
//! * [`limits`]: the size limits; [`error`]: the refusals.
//! * [`decode`](mod@decode): the request head and body; [`chunked`]: the chunked coding;
//!   [`target`]: the path and query.
//! * [`encode`]: responses; [`negotiate`]: `Accept-Encoding` and `If-None-Match`;
//!   [`date`]: the `Date` header.

pub mod chunked;
pub mod date;
pub mod decode;
pub mod encode;
pub mod error;
pub mod limits;
pub mod negotiate;
pub mod target;

#[cfg(test)]
mod tests;

pub use date::{DateCache, HttpDate};
pub use decode::{Progress, decode};
pub use encode::{write_continue, write_error, write_response};
pub use error::{ALLOW, HttpError};
pub use limits::Limits;
pub use negotiate::{accepts, etag_matches, quality};
pub use target::{Target, parse_target};

/// The reason phrase for `status` (RFC 9110 §15), or a generic one for its class.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => match status / 100 {
            1 => "Informational",
            2 => "Success",
            3 => "Redirection",
            4 => "Client Error",
            _ => "Server Error",
        },
    }
}
