//! How much of a request the front end buffers before it refuses it.

/// Size limits on one request. Every limit bounds memory the server holds for a client that
/// has not yet been authenticated in any way, so each is small by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The request head (request line, header fields, the empty line): 16 KiB by default.
    /// Past it the request is refused with `431`. Also bounds a chunked body's trailer section.
    pub max_head: usize,
    /// The request target as sent: 4 KiB by default. Past it the request is refused with
    /// `414`, as soon as the request line is known to be longer than `max_uri` plus the room a
    /// method and a version take (16 bytes), without waiting for the head to end.
    pub max_uri: usize,
    /// The number of header fields: 64 by default. Past it the request is refused with `431`.
    pub max_headers: usize,
    /// The body after de-chunking: 1 MiB by default. Past it the request is refused with
    /// `413`, from `Content-Length` before any of the body is read, or for a chunked body as
    /// soon as a chunk size takes the running total over.
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_head: 16 << 10, max_uri: 4 << 10, max_headers: 64, max_body: 1 << 20 }
    }
}
