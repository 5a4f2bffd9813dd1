//! The chunked transfer coding (RFC 9112 §7.1), decoded strictly: every line ends in CRLF
//! (never a bare LF), sizes are bare hexadecimal, and the framing a client may make the server
//! buffer is bounded as tightly as the data.
//!
//! ```text
//! chunked-body = *chunk last-chunk trailer-section CRLF
//! chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//! last-chunk   = 1*("0") [ chunk-ext ] CRLF
//! chunk-ext    = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//! ```
//!
//! Extensions and trailer fields are checked for syntax and dropped: nothing here has a use
//! for them.

use super::target::hex_value;
use super::{HttpError, Limits};

/// The longest chunk line (size and extensions, without its CRLF); as Go's `net/http`.
pub const MAX_CHUNK_LINE: usize = 4096;

/// Where a chunked body stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chunked {
    /// More bytes are needed.
    Partial {
        /// The data bytes seen so far (not counting a chunk not yet complete).
        data: usize,
    },
    /// The body is complete.
    Complete {
        /// Its length in the buffer, framing and trailers included.
        consumed: usize,
        /// The length of the decoded data.
        len: usize,
    },
}

/// Decodes the chunked body at the start of `buf`, appending its data to `body` if given (pass
/// `None` to check and measure only). Stateless: on [`Chunked::Partial`], call again with the
/// grown buffer (and a fresh `body`).
///
/// # Errors
///
/// [`HttpError::body_too_large`] as soon as a chunk size takes the data over
/// [`Limits::max_body`]; [`HttpError::bad_chunk_size`], [`HttpError::bad_chunk_framing`],
/// [`HttpError::chunk_overhead`] or [`HttpError::bad_trailer`] for malformed framing.
pub fn dechunk(buf: &[u8], limits: &Limits, mut body: Option<&mut Vec<u8>>) -> Result<Chunked, HttpError> {
    let mut at = 0;
    let mut data = 0usize;
    let mut framing = 0usize;
    loop {
        let (size, line_end) = match chunk_line(buf, at, data, limits)? {
            Some(line) => line,
            None => return Ok(Chunked::Partial { data }),
        };
        framing += line_end - at;
        at = line_end;
        if size == 0 {
            return Ok(match trailer_section(buf, at, limits)? {
                Some(end) => Chunked::Complete { consumed: end, len: data },
                None => Chunked::Partial { data },
            });
        }
        // Tiny chunks with long extensions make the server buffer framing for little data;
        // allow one head's worth of framing beyond one byte per data byte.
        if framing > limits.max_head.saturating_add(data) {
            return Err(HttpError::chunk_overhead());
        }
        // `size` is at most `max_body`, and `at` within `buf`: no overflow.
        let data_end = at.saturating_add(size);
        let Some(chunk) = buf.get(at..data_end) else { return Ok(Chunked::Partial { data }) };
        match (buf.get(data_end), buf.get(data_end + 1)) {
            (Some(b'\r'), Some(b'\n')) => {}
            (None, _) | (Some(b'\r'), None) => return Ok(Chunked::Partial { data }),
            _ => return Err(HttpError::bad_chunk_framing()),
        }
        if let Some(body) = body.as_deref_mut() {
            body.extend_from_slice(chunk);
        }
        data += size;
        framing += 2;
        at = data_end + 2;
    }
}

/// Parses the chunk line at `at`: its size and where the line (CRLF included) ends, or `None`
/// if it is not complete yet. `data` is the data before it, for the body limit.
fn chunk_line(buf: &[u8], at: usize, data: usize, limits: &Limits) -> Result<Option<(usize, usize)>, HttpError> {
    let mut i = at;
    let mut size: u64 = 0;
    loop {
        let Some(&byte) = buf.get(i) else { return Ok(None) };
        let Some(digit) = hex_value(byte) else { break };
        // Leading zeros do not overflow, so the line length bounds the digits too.
        if i - at >= MAX_CHUNK_LINE {
            return Err(HttpError::chunk_overhead());
        }
        size = size.checked_mul(16).and_then(|s| s.checked_add(u64::from(digit))).ok_or(HttpError::bad_chunk_size())?;
        i += 1;
    }
    if i == at {
        return Err(HttpError::bad_chunk_size());
    }
    // Decided when the size is known, before any of its data is buffered.
    let size = usize::try_from(size).map_err(|_| HttpError::body_too_large())?;
    if data.saturating_add(size) > limits.max_body {
        return Err(HttpError::body_too_large());
    }

    #[derive(PartialEq)]
    enum State {
        AfterSize,
        Space,
        Extension,
    }
    let mut state = State::AfterSize;
    loop {
        let Some(&byte) = buf.get(i) else { return Ok(None) };
        match byte {
            b'\r' => {
                if state == State::Space {
                    // `5 \r\n`: whitespace is allowed only before a `;`.
                    return Err(HttpError::bad_chunk_size());
                }
                return match buf.get(i + 1) {
                    None => Ok(None),
                    Some(b'\n') => Ok(Some((size, i + 2))),
                    Some(_) => Err(HttpError::bad_chunk_framing()),
                };
            }
            b'\n' => return Err(HttpError::bad_chunk_framing()),
            _ if i - at >= MAX_CHUNK_LINE => return Err(HttpError::chunk_overhead()),
            b';' if state != State::Extension => state = State::Extension,
            b' ' | b'\t' if state != State::Extension => state = State::Space,
            _ if state == State::Extension && is_field_value_byte(byte) => {}
            _ => return Err(HttpError::bad_chunk_size()),
        }
        i += 1;
    }
}

/// Parses the trailer section at `at` (field lines, then an empty line) and returns where it
/// ends, or `None` if it is not complete yet.
fn trailer_section(buf: &[u8], mut at: usize, limits: &Limits) -> Result<Option<usize>, HttpError> {
    let start = at;
    let mut fields = 0;
    loop {
        let rest = buf.get(at..).unwrap_or_default();
        let Some(newline) = rest.iter().position(|&b| b == b'\n') else {
            if (at - start).saturating_add(rest.len()) > limits.max_head {
                return Err(HttpError::bad_trailer());
            }
            return Ok(None);
        };
        let end = at + newline + 1;
        if end - start > limits.max_head {
            return Err(HttpError::bad_trailer());
        }
        let line = rest.get(..newline).unwrap_or_default();
        let Some(line) = line.strip_suffix(b"\r") else { return Err(HttpError::bad_chunk_framing()) };
        if line.is_empty() {
            return Ok(Some(end));
        }
        fields += 1;
        if fields > limits.max_headers || !is_field_line(line) {
            return Err(HttpError::bad_trailer());
        }
        at = end;
    }
}

/// `field-name ":" OWS field-value OWS`, without obsolete line folding (a line starting with
/// whitespace has no name, so it fails here).
fn is_field_line(line: &[u8]) -> bool {
    let Some(colon) = line.iter().position(|&b| b == b':') else { return false };
    let (name, value) = line.split_at(colon);
    !name.is_empty() && name.iter().all(|&b| is_token_byte(b)) && value.iter().skip(1).all(|&b| is_field_value_byte(b))
}

/// `tchar` (RFC 9110 §5.6.2).
pub(crate) fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// A byte allowed in a field value: HTAB, SP, VCHAR, obs-text (RFC 9110 §5.5).
pub(crate) fn is_field_value_byte(byte: u8) -> bool {
    byte == b'\t' || byte == b' ' || (0x21..=0x7e).contains(&byte) || byte >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(buf: &[u8]) -> Result<(Vec<u8>, usize), HttpError> {
        let mut body = Vec::new();
        match dechunk(buf, &Limits::default(), Some(&mut body))? {
            Chunked::Complete { consumed, len } => {
                assert_eq!(len, body.len());
                Ok((body, consumed))
            }
            Chunked::Partial { .. } => panic!("partial: {:?}", String::from_utf8_lossy(buf)),
        }
    }

    fn status(buf: &[u8]) -> u16 {
        match dechunk(buf, &Limits::default(), None) {
            Err(error) => error.status,
            Ok(progress) => panic!("{progress:?} for {:?}", String::from_utf8_lossy(buf)),
        }
    }

    #[test]
    fn decodes_chunks_extensions_and_trailers() {
        assert_eq!(decode(b"0\r\n\r\n"), Ok((Vec::new(), 5)));
        assert_eq!(decode(b"4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\nNEXT"), Ok((b"Wikipedia".to_vec(), 24)));
        assert_eq!(decode(b"A\r\n0123456789\r\n000\r\n\r\n"), Ok((b"0123456789".to_vec(), 22)));
        assert_eq!(decode(b"3;name=value;x\r\nabc\r\n0 ; last=\"y\"\r\n\r\n").map(|d| d.0), Ok(b"abc".to_vec()));
        assert_eq!(decode(b"3\r\nabc\r\n0\r\nExpires: never\r\nX-Sum:  12 \r\n\r\n").map(|d| d.0), Ok(b"abc".to_vec()));
        assert_eq!(decode(b"f\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nx\r\n0\r\n\r\n").map(|d| d.0.len()), Ok(15));
    }

    #[test]
    fn partial_at_every_prefix() {
        let full = b"3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n";
        for end in 0..full.len() {
            assert!(matches!(dechunk(&full[..end], &Limits::default(), None), Ok(Chunked::Partial { .. })), "{end}");
        }
        assert_eq!(dechunk(full, &Limits::default(), None), Ok(Chunked::Complete { consumed: full.len(), len: 3 }));
    }

    #[test]
    fn malformed_framing_is_400() {
        for buf in [
            &b"\r\n"[..],
            b";x\r\n",
            b"x\r\n",
            b"0x5\r\nhello\r\n0\r\n\r\n",
            b"+5\r\nhello\r\n",
            b"5 \r\nhello\r\n",
            b"5\nhello\r\n",
            b"5\r\nhello\n0\r\n\r\n",
            b"5\r\nhelloXX",
            b"5\r\nhello\rX",
            b"5\r\nhello\r\n0\r\n\n",
            b"5\r\nhello\r\n0\r\nX: y\n\r\n",
            b"5\rhello",
            b"5;a\x00b\r\n",
            b"0\r\n folded\r\n\r\n",
            b"0\r\nno colon\r\n\r\n",
            b"0\r\n: empty name\r\n\r\n",
            b"0\r\nX: a\x01b\r\n\r\n",
            b"10000000000000000\r\n",
            b"fffffffffffffffff",
        ] {
            assert_eq!(status(buf), 400, "{:?}", String::from_utf8_lossy(buf));
        }
    }

    #[test]
    fn oversized_lines_and_trailers_are_400() {
        let mut long_extension = b"1;".to_vec();
        long_extension.resize(MAX_CHUNK_LINE + 1, b'x');
        assert_eq!(dechunk(&long_extension, &Limits::default(), None), Err(HttpError::chunk_overhead()));
        let mut exactly = b"1;".to_vec();
        exactly.resize(MAX_CHUNK_LINE, b'x');
        exactly.extend_from_slice(b"\r\na\r\n0\r\n\r\n");
        assert!(matches!(dechunk(&exactly, &Limits::default(), None), Ok(Chunked::Complete { len: 1, .. })));
        let zeros = vec![b'0'; MAX_CHUNK_LINE + 1];
        assert_eq!(dechunk(&zeros, &Limits::default(), None), Err(HttpError::chunk_overhead()));

        // Many small chunks with long extensions: refused once framing outweighs the data by
        // more than max_head.
        let limits = Limits { max_head: 1000, ..Limits::default() };
        let mut many = Vec::new();
        for _ in 0..20 {
            many.extend_from_slice(b"1;");
            many.extend_from_slice(&[b'e'; 100]);
            many.extend_from_slice(b"\r\nx\r\n");
        }
        assert_eq!(dechunk(&many, &limits, None), Err(HttpError::chunk_overhead()));

        let mut trailers = b"0\r\n".to_vec();
        while trailers.len() < 20_000 {
            trailers.extend_from_slice(b"X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        assert_eq!(dechunk(&trailers, &Limits::default(), None), Err(HttpError::bad_trailer()));
        let mut endless = b"0\r\nX: ".to_vec();
        endless.resize(20_000, b'a');
        assert_eq!(dechunk(&endless, &Limits::default(), None), Err(HttpError::bad_trailer()));
        let mut counted = b"0\r\n".to_vec();
        for _ in 0..65 {
            counted.extend_from_slice(b"A: b\r\n");
        }
        assert_eq!(dechunk(&counted, &Limits::default(), None), Err(HttpError::bad_trailer()));
    }

    #[test]
    fn body_limit_is_decided_from_the_size_line() {
        let limits = Limits { max_body: 10, ..Limits::default() };
        assert_eq!(dechunk(b"b\r\n", &limits, None), Err(HttpError::body_too_large()));
        assert_eq!(dechunk(b"5\r\nhello\r\n6\r\n", &limits, None), Err(HttpError::body_too_large()));
        assert!(matches!(
            dechunk(b"5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", &limits, None),
            Ok(Chunked::Complete { len: 10, .. })
        ));
        assert_eq!(dechunk(b"ffffffffffffffff\r\n", &Limits::default(), None), Err(HttpError::body_too_large()));
    }
}
