//! A minimal, strict HTTP/1.1 client over a blocking [`TcpStream`], with keep-alive: the load
//! generator's connections, and a plain client for tests elsewhere in the workspace.
//!
//! One [`Client`] is one connection at a time to one address. It sends body-less requests
//! (`GET`, `HEAD`, ...), reads exactly the framed response (`Content-Length`, `chunked`, or
//! until close), and keeps the connection for the next request unless the server ends it. Every
//! request has a deadline ([`Options::timeout`]) covering connect, send and the whole response;
//! on any error the connection is dropped and the next request opens a new one.
//!
//! A request sent on a reused connection that the server had already closed (nothing at all
//! came back) is retried once on a fresh connection, as browsers do for idempotent requests;
//! [`Client::connects`] counts every connection opened, so servers that drop keep-alive
//! connections remain visible.
//!
//! The framing itself (no I/O) is in `codec`, tested with byte literals.
//!
//! # Examples
//!
//! ```no_run
//! use hatch_load::client::Client;
//!
//! let mut client = Client::connect("127.0.0.1:8080".parse()?)?;
//! let response = client.get("/static/text/00001.txt", &[("Accept-Encoding", "gzip")])?;
//! assert_eq!(response.status, 200);
//! let text = response.decoded_body()?;
//! # let _ = text;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod codec;

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use codec::{BodyDecoder, Framing};

/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 64 * 1024;
/// Body capacity reserved up front at most, whatever `Content-Length` claims.
const MAX_RESERVE: usize = 1 << 20;

/// Bounds on what a server may send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest response head (status line and headers), in bytes. Default 64 KiB.
    pub max_head: usize,
    /// The largest response body (after chunked decoding, before content decoding), in bytes.
    /// Default 64 MiB.
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_head: 64 * 1024, max_body: 64 << 20 }
    }
}

/// How a [`Client`] talks to its server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// The `Host` header. Default: the address, as `ip:port`.
    pub host: Option<String>,
    /// The deadline of one request: connecting (when needed), sending, and the whole
    /// response. Default 10 s.
    pub timeout: Duration,
    /// Bounds on responses.
    pub limits: Limits,
}

impl Default for Options {
    fn default() -> Self {
        Options { host: None, timeout: Duration::from_secs(10), limits: Limits::default() }
    }
}

/// Why a request failed.
#[derive(Debug)]
pub enum Error {
    /// The TCP connection could not be opened (refused, unreachable, or not within the timeout).
    Connect(io::Error),
    /// The response was not complete before the request's deadline.
    Timeout,
    /// The server closed or reset the connection before the response was complete.
    Closed(&'static str),
    /// The response is not valid HTTP/1.1 (or uses an encoding the client cannot decode).
    Malformed(String),
    /// The response exceeds a [`Limits`] bound; the value says which.
    TooLarge(&'static str),
    /// The request could not be written without breaking HTTP framing; the value says why.
    InvalidRequest(&'static str),
    /// Any other I/O error.
    Io(io::Error),
}

impl Error {
    fn from_io(error: io::Error) -> Error {
        match error.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Error::Timeout,
            io::ErrorKind::ConnectionReset => Error::Closed("connection reset by the server"),
            io::ErrorKind::ConnectionAborted => Error::Closed("connection aborted"),
            io::ErrorKind::BrokenPipe => Error::Closed("connection closed while sending"),
            io::ErrorKind::UnexpectedEof => Error::Closed("unexpected end of stream"),
            _ => Error::Io(error),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Connect(e) => write!(f, "could not connect: {e}"),
            Error::Timeout => f.write_str("timed out"),
            Error::Closed(what) => f.write_str(what),
            Error::Malformed(what) => write!(f, "malformed response: {what}"),
            Error::TooLarge(what) => write!(f, "{what} exceeds the client's limit"),
            Error::InvalidRequest(what) => write!(f, "invalid request: {what}"),
            Error::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Connect(e) | Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<Error> for io::Error {
    fn from(error: Error) -> io::Error {
        let kind = match &error {
            Error::Connect(e) | Error::Io(e) => e.kind(),
            Error::Timeout => io::ErrorKind::TimedOut,
            Error::Closed(_) => io::ErrorKind::ConnectionAborted,
            Error::Malformed(_) | Error::TooLarge(_) => io::ErrorKind::InvalidData,
            Error::InvalidRequest(_) => io::ErrorKind::InvalidInput,
        };
        io::Error::new(kind, error)
    }
}

/// A complete response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The reason phrase (empty when absent).
    pub reason: String,
    /// The headers in the order received, names lower-cased, values as sent.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body, de-chunked but still content-encoded (see [`Response::decoded_body`]).
    pub body: Vec<u8>,
}

impl Response {
    /// The first header called `name` (any case), if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| std::str::from_utf8(value).ok())
            .map(str::trim)
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body with its `Content-Encoding` (none, `identity` or `gzip`) undone, bounded by
    /// [`Limits::default`]'s body size.
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`] for another encoding or a corrupt gzip stream, [`Error::TooLarge`]
    /// when the decoded body exceeds the bound.
    pub fn decoded_body(&self) -> Result<Cow<'_, [u8]>, Error> {
        match self.header("content-encoding").map(str::to_ascii_lowercase).as_deref() {
            None | Some("" | "identity") => Ok(Cow::Borrowed(&self.body)),
            Some("gzip" | "x-gzip") => {
                let max = Limits::default().max_body;
                let mut decoded = Vec::with_capacity(self.body.len().saturating_mul(4).min(MAX_RESERVE));
                flate2::read::GzDecoder::new(self.body.as_slice())
                    .take(max as u64 + 1)
                    .read_to_end(&mut decoded)
                    .map_err(|e| Error::Malformed(format!("gzip body: {e}")))?;
                if decoded.len() > max {
                    return Err(Error::TooLarge("decoded response body"));
                }
                Ok(Cow::Owned(decoded))
            }
            Some(other) => Err(Error::Malformed(format!("unsupported Content-Encoding {other:?}"))),
        }
    }
}

/// An HTTP/1.1 client for one server address, holding at most one keep-alive connection.
#[derive(Debug)]
pub struct Client {
    addr: SocketAddr,
    host: String,
    options: Options,
    conn: Option<Conn>,
    connects: u64,
    request: Vec<u8>,
}

/// One open connection and the bytes read from it but not used yet.
struct Conn {
    stream: TcpStream,
    pending: Vec<u8>,
    chunk: Box<[u8]>,
    served: u64,
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("stream", &self.stream)
            .field("pending", &self.pending.len())
            .field("served", &self.served)
            .finish_non_exhaustive()
    }
}

/// A failed exchange, and whether anything at all came back (if not, the request may be
/// retried on a fresh connection).
struct Failure {
    error: Error,
    received: bool,
}

impl Client {
    /// A client for `addr` that connects on its first request.
    pub fn new(addr: SocketAddr, options: Options) -> Client {
        let host = options.host.clone().unwrap_or_else(|| addr.to_string());
        Client { addr, host, options, conn: None, connects: 0, request: Vec::with_capacity(256) }
    }

    /// Connects to `addr` with the default [`Options`].
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] when the connection cannot be opened.
    pub fn connect(addr: SocketAddr) -> Result<Client, Error> {
        Client::connect_with(addr, Options::default())
    }

    /// Connects to `addr` with `options`.
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] when the connection cannot be opened within `options.timeout`.
    pub fn connect_with(addr: SocketAddr, options: Options) -> Result<Client, Error> {
        let mut client = Client::new(addr, options);
        client.open()?;
        Ok(client)
    }

    /// Opens a connection unless one is open already.
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] when the connection cannot be opened within the timeout.
    pub fn open(&mut self) -> Result<(), Error> {
        self.open_by(Instant::now() + self.options.timeout)
    }

    /// Closes the connection, if one is open; the next request opens a new one.
    pub fn close(&mut self) {
        self.conn = None;
    }

    /// Whether a connection is open (as far as the client knows: the server may have closed it).
    pub fn is_open(&self) -> bool {
        self.conn.is_some()
    }

    /// How many TCP connections this client has opened (successfully).
    pub fn connects(&self) -> u64 {
        self.connects
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends `GET path` with `headers` (besides `Host`, which the client adds) and reads the
    /// response.
    ///
    /// # Errors
    ///
    /// Any [`Error`]; the connection is closed after every error.
    pub fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> Result<Response, Error> {
        self.request("GET", path, headers)
    }

    /// Sends a body-less request and reads the response (`HEAD` responses have no body).
    ///
    /// # Errors
    ///
    /// Any [`Error`]; the connection is closed after every error.
    pub fn request(&mut self, method: &str, path: &str, headers: &[(&str, &str)]) -> Result<Response, Error> {
        self.request.clear();
        codec::encode_request(&mut self.request, method, path, &self.host, headers)?;
        let deadline = Instant::now() + self.options.timeout;
        let head_request = method == "HEAD";
        let mut retried = false;
        loop {
            let conn = match &mut self.conn {
                Some(conn) => conn,
                slot @ None => {
                    let conn = dial(self.addr, deadline)?;
                    self.connects += 1;
                    slot.insert(conn)
                }
            };
            let reused = conn.served > 0;
            match exchange(conn, &self.request, deadline, head_request, &self.options.limits) {
                Ok((response, keep_alive)) => {
                    conn.served += 1;
                    if !keep_alive {
                        self.conn = None;
                    }
                    return Ok(response);
                }
                Err(failure) => {
                    self.conn = None;
                    let stale = reused && !failure.received && matches!(failure.error, Error::Closed(_));
                    if stale && !retried {
                        retried = true;
                        continue;
                    }
                    return Err(failure.error);
                }
            }
        }
    }

    fn open_by(&mut self, deadline: Instant) -> Result<(), Error> {
        if self.conn.is_none() {
            self.conn = Some(dial(self.addr, deadline)?);
            self.connects += 1;
        }
        Ok(())
    }
}

fn dial(addr: SocketAddr, deadline: Instant) -> Result<Conn, Error> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(Error::Connect(io::Error::new(io::ErrorKind::TimedOut, "no time left to connect")));
    }
    let stream = TcpStream::connect_timeout(&addr, left).map_err(Error::Connect)?;
    stream.set_nodelay(true).map_err(Error::Connect)?;
    Ok(Conn { stream, pending: Vec::new(), chunk: vec![0; READ_CHUNK].into_boxed_slice(), served: 0 })
}

/// Sends `request` on `conn` and reads one response. Returns it and whether the connection may
/// be reused.
fn exchange(
    conn: &mut Conn,
    request: &[u8],
    deadline: Instant,
    head_request: bool,
    limits: &Limits,
) -> Result<(Response, bool), Failure> {
    let mut received = false;
    let fail = |error: Error, received: bool| Failure { error, received };
    send(&mut conn.stream, request, deadline).map_err(|e| fail(e, false))?;

    let head = loop {
        match codec::parse_head(&conn.pending, head_request, limits).map_err(|e| fail(e, true))? {
            Some((head, len)) => {
                conn.pending.drain(..len);
                match head.status {
                    101 => return Err(fail(Error::Malformed("unexpected protocol switch".into()), true)),
                    100..=199 => continue,
                    _ => break head,
                }
            }
            None => {
                let n = read(&mut conn.stream, &mut conn.chunk, deadline).map_err(|e| fail(e, received))?;
                if n == 0 {
                    return Err(fail(Error::Closed("connection closed before the response was complete"), received));
                }
                received = true;
                conn.pending.extend_from_slice(&conn.chunk[..n]);
            }
        }
    };

    let mut decoder = BodyDecoder::new(head.framing, limits.max_body).map_err(|e| fail(e, true))?;
    let reserve = match head.framing {
        Framing::Length(n) => usize::try_from(n).unwrap_or(usize::MAX).min(MAX_RESERVE),
        _ => 0,
    };
    let mut body = Vec::with_capacity(reserve);
    let used = decoder.feed(&conn.pending, &mut body).map_err(|e| fail(e, true))?;
    conn.pending.drain(..used);
    while !decoder.is_done() {
        let n = read(&mut conn.stream, &mut conn.chunk, deadline).map_err(|e| fail(e, true))?;
        if n == 0 {
            decoder.finish().map_err(|e| fail(e, true))?;
            break;
        }
        let used = decoder.feed(&conn.chunk[..n], &mut body).map_err(|e| fail(e, true))?;
        conn.pending.extend_from_slice(&conn.chunk[used..n]);
    }
    // Bytes beyond the framed response were not asked for (no pipelining): the connection's
    // framing cannot be trusted for another request.
    let keep_alive = head.keep_alive && conn.pending.is_empty();
    Ok((Response { status: head.status, reason: head.reason, headers: head.headers, body }, keep_alive))
}

fn send(stream: &mut TcpStream, bytes: &[u8], deadline: Instant) -> Result<(), Error> {
    stream.set_write_timeout(Some(time_left(deadline)?)).map_err(Error::Io)?;
    stream.write_all(bytes).map_err(Error::from_io)
}

fn read(stream: &mut TcpStream, into: &mut [u8], deadline: Instant) -> Result<usize, Error> {
    loop {
        stream.set_read_timeout(Some(time_left(deadline)?)).map_err(Error::Io)?;
        match stream.read(into) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::from_io(e)),
        }
    }
}

fn time_left(deadline: Instant) -> Result<Duration, Error> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() { Err(Error::Timeout) } else { Ok(left) }
}
