//! HTTP/1.1 client framing without I/O: encoding a request, parsing a response head, and
//! decoding the body (`Content-Length`, `chunked`, or until the peer closes).
//!
//! Everything here works on byte slices handed in by the driver ([`super::Client`]), so it is
//! tested with byte literals split at every position. Every input is treated as hostile: sizes
//! are bounded by [`Limits`], numbers are checked for overflow, and nothing panics.

use super::{Error, Limits};

/// The most headers a response may carry.
const MAX_HEADERS: usize = 100;
/// The longest chunk-size line (with extensions) accepted in a chunked body.
const MAX_CHUNK_LINE: usize = 4 * 1024;
/// The most trailer bytes accepted after the last chunk.
const MAX_TRAILERS: usize = 16 * 1024;

/// Appends a body-less request to `out`.
///
/// # Errors
///
/// [`Error::InvalidRequest`] if the method, path, host or a header could break the framing
/// (control characters, spaces in the target, an empty name).
pub(crate) fn encode_request(
    out: &mut Vec<u8>,
    method: &str,
    path: &str,
    host: &str,
    headers: &[(&str, &str)],
) -> Result<(), Error> {
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Error::InvalidRequest("method must be upper-case letters"));
    }
    if !path.starts_with('/') || !path.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::InvalidRequest("path must start with '/' and hold visible ASCII only"));
    }
    if !is_field_value(host) || host.is_empty() {
        return Err(Error::InvalidRequest("host must be a non-empty header value"));
    }
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(Error::InvalidRequest("header name must be a token"));
        }
        if !is_field_value(value) {
            return Err(Error::InvalidRequest("header value must not hold control characters"));
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok(())
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_field_value(value: &str) -> bool {
    value.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// How the body of a response is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body (HEAD, 1xx, 204, 304).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Everything until the server closes the connection.
    UntilClose,
}

/// A parsed response head.
#[derive(Debug)]
pub(crate) struct Head {
    /// The status code.
    pub status: u16,
    /// The reason phrase (empty when absent).
    pub reason: String,
    /// The headers in order, names lower-cased.
    pub headers: Vec<(String, Vec<u8>)>,
    /// How the body is delimited.
    pub framing: Framing,
    /// Whether the connection may carry another request after this response.
    pub keep_alive: bool,
}

/// Parses a response head at the start of `buf`. Returns the head and its length in bytes, or
/// `None` when `buf` does not hold a complete head yet.
///
/// # Errors
///
/// [`Error::Malformed`] for invalid HTTP, [`Error::TooLarge`] when the head exceeds
/// `limits.max_head` (checked on incomplete heads too, so a server cannot make the client
/// buffer without bound).
pub(crate) fn parse_head(buf: &[u8], head_request: bool, limits: &Limits) -> Result<Option<(Head, usize)>, Error> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut slots);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > limits.max_head => {
            return Err(Error::TooLarge("response head"));
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(Error::TooLarge("response header count")),
        Err(e) => return Err(Error::Malformed(format!("response head: {e}"))),
    };
    if len > limits.max_head {
        return Err(Error::TooLarge("response head"));
    }
    let (Some(status), Some(minor)) = (response.code, response.version) else {
        return Err(Error::Malformed("response head without status or version".into()));
    };
    let headers: Vec<(String, Vec<u8>)> =
        response.headers.iter().map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec())).collect();
    let reason = response.reason.unwrap_or("").to_owned();
    let framing = framing(status, head_request, &headers)?;
    let close = has_token(&headers, "connection", "close");
    let keep_alive =
        framing != Framing::UntilClose && !close && (minor >= 1 || has_token(&headers, "connection", "keep-alive"));
    Ok(Some((Head { status, reason, headers, framing, keep_alive }, len)))
}

fn framing(status: u16, head_request: bool, headers: &[(String, Vec<u8>)]) -> Result<Framing, Error> {
    if head_request || (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(Framing::Empty);
    }
    // Transfer-Encoding wins over Content-Length; a body whose last coding is not `chunked` can
    // only end when the connection does.
    let codings: Vec<String> = headers
        .iter()
        .filter(|(name, _)| name == "transfer-encoding")
        .flat_map(|(_, value)| value.split(|&b| b == b','))
        .map(|coding| String::from_utf8_lossy(coding).trim().to_ascii_lowercase())
        .filter(|coding| !coding.is_empty())
        .collect();
    if let Some(last) = codings.last() {
        return Ok(if last == "chunked" { Framing::Chunked } else { Framing::UntilClose });
    }
    let mut length = None;
    for (_, value) in headers.iter().filter(|(name, _)| name == "content-length") {
        // A list of equal values ("5, 5") is allowed; anything else is a framing attack.
        for item in value.split(|&b| b == b',') {
            let n = parse_decimal(trim(item)).ok_or_else(|| Error::Malformed("invalid Content-Length".into()))?;
            if length.is_some_and(|l| l != n) {
                return Err(Error::Malformed("conflicting Content-Length values".into()));
            }
            length = Some(n);
        }
    }
    Ok(length.map_or(Framing::UntilClose, Framing::Length))
}

fn has_token(headers: &[(String, Vec<u8>)], name: &str, token: &str) -> bool {
    headers
        .iter()
        .filter(|(n, _)| n == name)
        .flat_map(|(_, value)| value.split(|&b| b == b','))
        .any(|t| trim(t).eq_ignore_ascii_case(token.as_bytes()))
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |p| p + 1);
    &bytes[start..end]
}

fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| b.is_ascii_digit().then(|| n * 10 + u64::from(b - b'0')))
}

/// Decodes one response body from the bytes that follow its head.
#[derive(Debug)]
pub(crate) struct BodyDecoder {
    state: State,
    max_body: usize,
}

#[derive(Debug)]
enum State {
    /// This many body bytes are still to come (Content-Length, or the current chunk).
    Data { left: u64, chunked: bool },
    /// Reading a chunk-size line (what arrived of it so far).
    Size { line: Vec<u8> },
    /// After a chunk's data: expecting CRLF (`cr` once the CR was seen).
    DataEnd { cr: bool },
    /// After the last chunk: trailer lines until an empty one.
    Trailers { line: usize, total: usize },
    /// Reading until end of stream.
    UntilClose,
    /// The body is complete.
    Done,
}

impl BodyDecoder {
    /// A decoder for a body framed as `framing`, refusing bodies over `max_body` bytes.
    pub(crate) fn new(framing: Framing, max_body: usize) -> Result<Self, Error> {
        let state = match framing {
            Framing::Empty | Framing::Length(0) => State::Done,
            Framing::Length(n) if n > max_body as u64 => return Err(Error::TooLarge("response body")),
            Framing::Length(n) => State::Data { left: n, chunked: false },
            Framing::Chunked => State::Size { line: Vec::new() },
            Framing::UntilClose => State::UntilClose,
        };
        Ok(BodyDecoder { state, max_body })
    }

    /// Whether the whole body has been decoded.
    pub(crate) fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Decodes from `input`, appending body bytes to `body`. Returns how many bytes of `input`
    /// were consumed; fewer than `input.len()` only once the body is done (the rest belongs to
    /// whatever follows).
    pub(crate) fn feed(&mut self, mut input: &[u8], body: &mut Vec<u8>) -> Result<usize, Error> {
        let total = input.len();
        while !input.is_empty() {
            match &mut self.state {
                State::Done => break,
                State::UntilClose => {
                    self.push(body, input)?;
                    input = &[];
                }
                State::Data { left, chunked } => {
                    let take = usize::try_from(*left).unwrap_or(usize::MAX).min(input.len());
                    let (data, rest) = input.split_at(take);
                    *left -= take as u64;
                    let next = match (*left, *chunked) {
                        (0, true) => Some(State::DataEnd { cr: false }),
                        (0, false) => Some(State::Done),
                        _ => None,
                    };
                    input = rest;
                    self.push(body, data)?;
                    if let Some(next) = next {
                        self.state = next;
                    }
                }
                State::Size { line } => {
                    let newline = input.iter().position(|&b| b == b'\n');
                    let part = &input[..newline.unwrap_or(input.len())];
                    if line.len() + part.len() > MAX_CHUNK_LINE {
                        return Err(Error::Malformed("chunk-size line too long".into()));
                    }
                    line.extend_from_slice(part);
                    let Some(newline) = newline else {
                        input = &[];
                        continue;
                    };
                    input = &input[newline + 1..];
                    let size = parse_chunk_size(line)?;
                    self.state = if size == 0 {
                        State::Trailers { line: 0, total: 0 }
                    } else if size > self.max_body as u64 {
                        return Err(Error::TooLarge("response body"));
                    } else {
                        State::Data { left: size, chunked: true }
                    };
                }
                State::DataEnd { cr } => {
                    match (input[0], *cr) {
                        (b'\r', false) => *cr = true,
                        (b'\n', _) => self.state = State::Size { line: Vec::new() },
                        _ => return Err(Error::Malformed("chunk data not followed by CRLF".into())),
                    }
                    input = &input[1..];
                }
                State::Trailers { line, total } => {
                    let byte = input[0];
                    input = &input[1..];
                    *total += 1;
                    if *total > MAX_TRAILERS {
                        return Err(Error::TooLarge("chunked trailers"));
                    }
                    match byte {
                        b'\n' if *line == 0 => self.state = State::Done,
                        b'\n' => *line = 0,
                        b'\r' => {}
                        _ => *line += 1,
                    }
                }
            }
        }
        Ok(total - input.len())
    }

    /// Tells the decoder the stream ended.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] unless the body was delimited by the close itself (or already done).
    pub(crate) fn finish(&mut self) -> Result<(), Error> {
        match self.state {
            State::Done => Ok(()),
            State::UntilClose => {
                self.state = State::Done;
                Ok(())
            }
            _ => Err(Error::Closed("connection closed in the middle of the response body")),
        }
    }

    fn push(&self, body: &mut Vec<u8>, data: &[u8]) -> Result<(), Error> {
        if body.len() + data.len() > self.max_body {
            return Err(Error::TooLarge("response body"));
        }
        body.extend_from_slice(data);
        Ok(())
    }
}

fn parse_chunk_size(line: &[u8]) -> Result<u64, Error> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let digits = trim(line.split(|&b| b == b';').next().unwrap_or_default());
    if digits.is_empty() || digits.len() > 15 {
        return Err(Error::Malformed("invalid chunk size".into()));
    }
    digits.iter().try_fold(0u64, |n, &b| {
        let digit = (b as char).to_digit(16).ok_or_else(|| Error::Malformed("invalid chunk size".into()))?;
        Ok(n * 16 + u64::from(digit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits { max_head: 1024, max_body: 1 << 20 }
    }

    fn head(bytes: &[u8]) -> Result<Option<(Head, usize)>, Error> {
        parse_head(bytes, false, &limits())
    }

    /// Feeds `input` split at `at`, then reports EOF if the body is not done.
    fn decode_split(framing: Framing, input: &[u8], at: usize) -> Result<(Vec<u8>, usize), Error> {
        let mut decoder = BodyDecoder::new(framing, 64)?;
        let mut body = Vec::new();
        let mut used = decoder.feed(&input[..at], &mut body)?;
        if used == at {
            used += decoder.feed(&input[at..], &mut body)?;
        }
        if !decoder.is_done() {
            decoder.finish()?;
        }
        Ok((body, used))
    }

    #[test]
    fn encodes_a_request() {
        let mut out = Vec::new();
        encode_request(&mut out, "GET", "/wiki/A_1?cost=3", "h:1", &[("Accept-Encoding", "gzip")]).unwrap();
        assert_eq!(out, b"GET /wiki/A_1?cost=3 HTTP/1.1\r\nHost: h:1\r\nAccept-Encoding: gzip\r\n\r\n");
    }

    #[test]
    fn refuses_requests_that_would_break_framing() {
        let mut out = Vec::new();
        for (method, path, host, header) in [
            ("GET", "/a b", "h", ("X", "1")),
            ("GET", "/a\r\nX: 1", "h", ("X", "1")),
            ("GET", "a", "h", ("X", "1")),
            ("G T", "/", "h", ("X", "1")),
            ("GET", "/", "h\r\n", ("X", "1")),
            ("GET", "/", "h", ("X\r\nY", "1")),
            ("GET", "/", "h", ("X", "1\r\nY: 2")),
            ("GET", "/", "h", ("", "1")),
        ] {
            let result = encode_request(&mut out, method, path, host, &[header]);
            assert!(matches!(result, Err(Error::InvalidRequest(_))), "{method:?} {path:?} {host:?} {header:?}");
        }
    }

    #[test]
    fn parses_a_head_and_its_framing() {
        let bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello";
        let (parsed, len) = head(bytes).unwrap().unwrap();
        assert_eq!((parsed.status, parsed.reason.as_str(), len), (200, "OK", bytes.len() - 5));
        assert_eq!(parsed.framing, Framing::Length(5));
        assert!(parsed.keep_alive);
        assert_eq!(parsed.headers[1], ("x-a".to_owned(), b"b".to_vec()));
        for at in 0..len {
            assert!(head(&bytes[..at]).unwrap().is_none(), "partial at {at}");
        }
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let framing = |h: &[u8]| head(h).unwrap().unwrap().0.framing;
        assert_eq!(
            framing(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"),
            Framing::Chunked
        );
        assert_eq!(framing(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), Framing::Chunked);
        assert_eq!(framing(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"), Framing::UntilClose);
        assert_eq!(framing(b"HTTP/1.1 200 OK\r\n\r\n"), Framing::UntilClose);
        assert_eq!(framing(b"HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n"), Framing::Empty);
        assert_eq!(framing(b"HTTP/1.1 200 OK\r\nContent-Length: 4, 4\r\n\r\n"), Framing::Length(4));
        let (head, _) = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true, &limits()).unwrap().unwrap();
        assert_eq!(head.framing, Framing::Empty);
    }

    #[test]
    fn keep_alive_follows_version_and_connection() {
        let keep = |h: &[u8]| head(h).unwrap().unwrap().0.keep_alive;
        assert!(!keep(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"));
        assert!(!keep(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"));
        assert!(keep(b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n"));
        assert!(!keep(b"HTTP/1.1 200 OK\r\n\r\n"), "a body delimited by close ends the connection");
    }

    #[test]
    fn rejects_hostile_heads() {
        for bytes in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTQ/1.1 200 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
        ] {
            assert!(matches!(head(bytes), Err(Error::Malformed(_))), "{:?}", String::from_utf8_lossy(bytes));
        }
        let endless = [b"HTTP/1.1 200 OK\r\n".as_slice(), &[b'x'; 2000]].concat();
        assert!(matches!(head(&endless), Err(Error::TooLarge(_))));
        let many: Vec<u8> = [b"HTTP/1.1 200 OK\r\n".as_slice(), &b"A: b\r\n".repeat(MAX_HEADERS + 1), b"\r\n"].concat();
        let roomy = Limits { max_head: 1 << 20, max_body: 0 };
        assert!(matches!(parse_head(&many, false, &roomy), Err(Error::TooLarge(_))));
    }

    #[test]
    fn decodes_content_length_at_every_split() {
        let input = b"hello, world" as &[u8];
        for at in 0..=input.len() {
            let (body, used) = decode_split(Framing::Length(5), input, at).unwrap();
            assert_eq!((body.as_slice(), used), (&b"hello"[..], 5), "split at {at}");
        }
        assert!(matches!(decode_split(Framing::Length(50), b"short", 2), Err(Error::Closed(_))));
        assert!(matches!(BodyDecoder::new(Framing::Length(65), 64), Err(Error::TooLarge(_))));
    }

    #[test]
    fn decodes_chunked_at_every_split() {
        let input = b"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT" as &[u8];
        for at in 0..=input.len() {
            let (body, used) = decode_split(Framing::Chunked, input, at).unwrap();
            assert_eq!(body, b"hello, world", "split at {at}");
            assert_eq!(&input[used..], b"NEXT", "split at {at}");
        }
        let bare_lf = b"3\nabc\n0\n\n" as &[u8];
        assert_eq!(decode_split(Framing::Chunked, bare_lf, 4).unwrap().0, b"abc");
    }

    #[test]
    fn rejects_hostile_chunked_bodies() {
        for input in [&b"z\r\n"[..], b"\r\n", b"3\r\nabcX", b"fffffffffffffffffff\r\n", b"-1\r\n"] {
            assert!(matches!(decode_split(Framing::Chunked, input, 0), Err(Error::Malformed(_))), "{input:?}");
        }
        assert!(matches!(decode_split(Framing::Chunked, b"41\r\n", 0), Err(Error::TooLarge(_))));
        let too_much =
            [b"20\r\n".as_slice(), &[b'a'; 32], b"\r\n20\r\n", &[b'a'; 32], b"\r\n20\r\n", &[b'a'; 32]].concat();
        assert!(matches!(decode_split(Framing::Chunked, &too_much, 0), Err(Error::TooLarge(_))));
        let long_line = vec![b'1'; MAX_CHUNK_LINE + 1];
        assert!(matches!(decode_split(Framing::Chunked, &long_line, 0), Err(Error::Malformed(_))));
        assert!(matches!(decode_split(Framing::Chunked, b"3\r\nab", 0), Err(Error::Closed(_))));
    }

    #[test]
    fn random_and_mutated_input_never_panics() {
        let valid: &[u8] =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
        let mut rng = crate::rng::Rng::new(42, 0);
        for round in 0..5_000 {
            let mut input = valid.to_vec();
            if round % 2 == 0 {
                input = (0..rng.next_u64() % 200).map(|_| rng.next_u64() as u8).collect();
            } else {
                for _ in 0..1 + rng.next_u64() % 4 {
                    let at = (rng.next_u64() % input.len() as u64) as usize;
                    input[at] = rng.next_u64() as u8;
                }
            }
            if let Ok(Some((head, len))) = parse_head(&input, false, &limits())
                && let Ok(mut decoder) = BodyDecoder::new(head.framing, 64)
            {
                let mut body = Vec::new();
                let _ = decoder.feed(&input[len..], &mut body).map(|_| decoder.finish());
                assert!(body.len() <= 64);
            }
        }
    }

    #[test]
    fn until_close_ends_with_the_stream() {
        let (body, used) = decode_split(Framing::UntilClose, b"all of it", 3).unwrap();
        assert_eq!((body.as_slice(), used), (&b"all of it"[..], 9));
        let big = [b'x'; 65];
        assert!(matches!(decode_split(Framing::UntilClose, &big, 10), Err(Error::TooLarge(_))));
    }
}
