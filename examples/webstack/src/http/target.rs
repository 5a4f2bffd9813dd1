//! The request target: split into path and query, the path percent-decoded once, checked and
//! normalised, so that a handler mapping it onto files or keys never sees a way out.
//!
//! Decisions, in the order they are applied:
//!
//! * Accepted forms: origin-form (`/path?query`) and absolute-form (`http://host/path`,
//!   `https://…`, scheme case-insensitive), of which only the path and query are kept. The
//!   asterisk and authority forms belong to `OPTIONS` and `CONNECT`, refused before the target
//!   is looked at; for other methods they are `400`.
//! * A fragment (`#`) or a raw byte outside ASCII anywhere in the target is `400`: clients
//!   must not send the first and must percent-encode the second.
//! * The query is kept raw (not decoded): its meaning is the handler's.
//! * The path is percent-decoded in one pass. A bad escape (`%4`, `%zz`) is
//!   [`HttpError::bad_target`]; these are [`HttpError::unsafe_path`]: a raw or encoded
//!   backslash; an encoded `/` (`%2F`), since `/` is the only separator a handler sees and an
//!   encoded one would smuggle a segment boundary past this check; an encoded `%` (`%25`),
//!   which is all double encoding (`%252e`) can leave behind; NUL and every other control
//!   character, raw or encoded; decoded bytes that are not UTF-8 (this refuses overlong
//!   encodings such as `%C0%AE` too); a `..` segment after decoding (`..`, `%2e%2e`, `.%2E`).
//! * Normalisation: empty segments (`//`) and `.` segments are dropped, as a browser would
//!   resolve them; a trailing `/` is kept, since `/a/` and `/a` may name different things.
//!   The result always starts with `/`.

use super::HttpError;

/// A checked request target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The decoded, normalised path, starting with `/`.
    pub path: String,
    /// The raw query (after the first `?`), empty when there is none.
    pub query: String,
}

/// Checks a request target as it appears on the request line and returns its path and query
/// (see the [module docs](self) for the rules).
///
/// # Errors
///
/// [`HttpError::bad_target`] for a malformed target, [`HttpError::unsafe_path`] for a path
/// that could traverse or confuse the file tree.
pub fn parse_target(raw: &str) -> Result<Target, HttpError> {
    if !raw.is_ascii() || raw.contains('#') {
        return Err(HttpError::bad_target());
    }
    let path_and_query = if raw.starts_with('/') { raw } else { strip_absolute(raw)? };
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, query),
        None => (path_and_query, ""),
    };
    // `http://host` and `http://host?q` have an empty path, which means `/` (RFC 9112 §3.2.2).
    let path = if path.is_empty() { "/" } else { path };
    Ok(Target { path: normalise_path(path)?, query: query.to_owned() })
}

/// The path-and-query of an absolute-form target (`http://authority/path?query`).
fn strip_absolute(raw: &str) -> Result<&str, HttpError> {
    let rest = strip_prefix_ignore_case(raw, "http://")
        .or_else(|| strip_prefix_ignore_case(raw, "https://"))
        .ok_or(HttpError::bad_target())?;
    let (authority, path_and_query) = match rest.find(['/', '?']) {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err(HttpError::bad_target());
    }
    Ok(path_and_query)
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    // `head` is ASCII here (the whole target is), so `prefix.len()` was a char boundary.
    head.eq_ignore_ascii_case(prefix).then(|| text.get(prefix.len()..)).flatten()
}

/// Decodes, checks and normalises an absolute path (starting with `/`).
///
/// # Errors
///
/// As [`parse_target`].
pub fn normalise_path(raw: &str) -> Result<String, HttpError> {
    let bytes = raw.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(HttpError::bad_target());
    }
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        let byte = if byte == b'%' {
            let high = bytes.get(at + 1).and_then(|&b| hex_value(b));
            let low = bytes.get(at + 2).and_then(|&b| hex_value(b));
            let (Some(high), Some(low)) = (high, low) else { return Err(HttpError::bad_target()) };
            at += 3;
            let byte = high << 4 | low;
            if matches!(byte, b'/' | b'%') {
                return Err(HttpError::unsafe_path());
            }
            byte
        } else if byte.is_ascii() {
            at += 1;
            byte
        } else {
            return Err(HttpError::bad_target());
        };
        if byte == b'\\' || byte.is_ascii_control() {
            return Err(HttpError::unsafe_path());
        }
        decoded.push(byte);
    }
    let decoded = String::from_utf8(decoded).map_err(|_| HttpError::unsafe_path())?;

    let mut path = String::with_capacity(decoded.len());
    let mut ends_in_slash = false;
    // The first piece is the empty string before the leading `/`.
    for segment in decoded.split('/').skip(1) {
        match segment {
            "" | "." => ends_in_slash = true,
            ".." => return Err(HttpError::unsafe_path()),
            _ => {
                path.push('/');
                path.push_str(segment);
                ends_in_slash = false;
            }
        }
    }
    if path.is_empty() || ends_in_slash {
        path.push('/');
    }
    Ok(path)
}

/// The value of an ASCII hexadecimal digit.
pub(crate) fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(raw: &str) -> Result<String, HttpError> {
        parse_target(raw).map(|target| target.path)
    }

    #[test]
    fn origin_form_splits_path_and_raw_query() {
        let target = parse_target("/wiki/Caf%C3%A9?q=a%20b&x=%2F").unwrap();
        assert_eq!(target.path, "/wiki/Café");
        assert_eq!(target.query, "q=a%20b&x=%2F");
        assert_eq!(parse_target("/?").unwrap(), Target { path: "/".into(), query: String::new() });
        assert_eq!(parse_target("/a?b?c").unwrap().query, "b?c");
    }

    #[test]
    fn absolute_form_keeps_path_and_query() {
        assert_eq!(
            parse_target("http://example.com/a/b?c").unwrap(),
            Target { path: "/a/b".into(), query: "c".into() }
        );
        assert_eq!(path("HTTPS://example.com:8080/x"), Ok("/x".into()));
        assert_eq!(path("http://example.com"), Ok("/".into()));
        assert_eq!(parse_target("http://example.com?q").unwrap(), Target { path: "/".into(), query: "q".into() });
        assert_eq!(path("http:///a"), Err(HttpError::bad_target()));
        assert_eq!(path("ftp://example.com/a"), Err(HttpError::bad_target()));
    }

    #[test]
    fn other_forms_and_fragments_are_bad() {
        for raw in ["*", "example.com:443", "a/b", "", "/a#frag", "/caf\u{e9}", "/%", "/%4", "/%zz", "/%4g"] {
            assert_eq!(path(raw), Err(HttpError::bad_target()), "{raw:?}");
        }
    }

    #[test]
    fn normalisation() {
        for (raw, want) in [
            ("/", "/"),
            ("//", "/"),
            ("/a//b", "/a/b"),
            ("/a/", "/a/"),
            ("/a//", "/a/"),
            ("/./a/.", "/a/"),
            ("/a/./b", "/a/b"),
            ("/.a/..b/...", "/.a/..b/..."),
            ("/%7Euser/a%20b", "/~user/a b"),
            ("/%41%62", "/Ab"),
        ] {
            assert_eq!(path(raw), Ok(want.to_owned()), "{raw:?}");
        }
    }

    #[test]
    fn traversal_in_every_encoding_is_refused() {
        for raw in [
            "/..",
            "/../etc/passwd",
            "/a/../b",
            "/a/..",
            "/%2e%2e/x",
            "/%2E%2E",
            "/.%2e/x",
            "/%2e./x",
            "/a%2f..%2fb",
            "/a%2Fb",
            "/%252e%252e/x",
            "/a%25b",
            "/a\\b",
            "/a%5cb",
            "/..%5c",
            "/a%00b",
            "/a%0ab",
            "/a%7f",
            "/%c0%ae%c0%ae/x",
            "/%e0%80%ae",
            "/%ff",
            "/%c3",
            "http://h/../x",
        ] {
            assert_eq!(path(raw), Err(HttpError::unsafe_path()), "{raw:?}");
        }
    }
}
