//! The request headers that choose the representation: `Accept-Encoding` (RFC 9110 §12.5.3)
//! and `If-None-Match` (RFC 9110 §13.1.2).

/// Whether a client sending `accept_encoding` (the header's value, empty when absent) takes a
/// body in `coding` (`gzip`, `br`, `identity`, …).
///
/// Tokens are case-insensitive, `q=0` refuses, `*` stands for every coding not named, and
/// `x-gzip` counts as `gzip`. `identity` (no coding) is acceptable unless refused by
/// `identity;q=0`, or by `*;q=0` with no `identity` entry. An absent or empty header accepts
/// only `identity`: a server may then send any coding, but the conservative answer costs
/// only bandwidth.
///
/// ```
/// use hatch_webstack::http::accepts;
/// assert!(accepts("gzip, br;q=0.5", "br"));
/// assert!(!accepts("gzip;q=0, *", "gzip"));
/// assert!(accepts("", "identity"));
/// ```
pub fn accepts(accept_encoding: &str, coding: &str) -> bool {
    quality(accept_encoding, coding) > 0
}

/// The quality (`q`, in thousandths: 0 to 1000) `accept_encoding` gives `coding`, by the rules
/// of [`accepts`]; 0 means refused. A client's preference between two codings is the higher
/// quality.
pub fn quality(accept_encoding: &str, coding: &str) -> u16 {
    let mut wildcard = None;
    for element in accept_encoding.split(',') {
        let mut parts = element.split(';');
        let token = parts.next().unwrap_or("").trim();
        if token.is_empty() {
            continue;
        }
        // An element whose q is malformed says nothing reliable: skip it.
        let Some(q) = parse_q(parts) else { continue };
        let named = token.eq_ignore_ascii_case(coding)
            || (coding.eq_ignore_ascii_case("gzip") && token.eq_ignore_ascii_case("x-gzip"));
        if named {
            // The first entry naming the coding wins.
            return q;
        }
        if token == "*" && wildcard.is_none() {
            wildcard = Some(q);
        }
    }
    match wildcard {
        Some(q) => q,
        None if coding.eq_ignore_ascii_case("identity") => 1000,
        None => 0,
    }
}

/// The `q` parameter among `params` (default 1000), or `None` if it is malformed.
fn parse_q<'a>(params: impl Iterator<Item = &'a str>) -> Option<u16> {
    for param in params {
        let Some((name, value)) = param.split_once('=') else {
            // A parameter without a value is not a q-value; codings have no other parameters
            // we know, so it is ignored.
            continue;
        };
        if name.trim().eq_ignore_ascii_case("q") {
            return parse_qvalue(value.trim());
        }
    }
    Some(1000)
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in thousandths.
fn parse_qvalue(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths: u16 = 0;
    for (place, digit) in [100, 10, 1].into_iter().zip(fraction.bytes()) {
        thousandths += place * u16::from(digit - b'0');
    }
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Whether an `If-None-Match` value matches `etag` by the weak comparison RFC 9110 §8.8.3.2
/// prescribes for it: `W/` prefixes are ignored and the quoted opaque tags compared. The value
/// is `*` (matches any current representation, so any `etag`) or a comma-separated list of
/// entity tags; a malformed list matches nothing from the first malformed element on (a
/// comma may sit inside a quoted tag, so the list is parsed, not split).
///
/// ```
/// use hatch_webstack::http::etag_matches;
/// assert!(etag_matches("W/\"a\", \"b\"", "\"a\""));
/// assert!(etag_matches("*", "\"x\""));
/// assert!(!etag_matches("\"ab\"", "\"a\""));
/// ```
pub fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    let value = if_none_match.trim_matches([' ', '\t']);
    if value == "*" {
        return true;
    }
    let wanted = strip_weak(etag);
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return false;
        }
        let tag = strip_weak(rest);
        let Some(after_quote) = tag.strip_prefix('"') else { return false };
        let Some(end) = after_quote.find('"') else { return false };
        // The opaque tag with both quotes; `end` indexes an ASCII quote, so these are
        // char boundaries.
        let (opaque, after) = tag.split_at(end + 2);
        if opaque == wanted {
            return true;
        }
        if !(after.is_empty() || after.starts_with([' ', '\t', ','])) {
            return false;
        }
        rest = after;
    }
}

fn strip_weak(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q_values() {
        assert!(accepts("gzip", "gzip"));
        assert!(accepts("GZip", "gzip"));
        assert!(accepts("deflate, gzip;q=0.001", "gzip"));
        assert!(!accepts("gzip;q=0", "gzip"));
        assert!(!accepts("gzip; q=0.000", "gzip"));
        assert!(!accepts("gzip;Q=0", "gzip"));
        assert!(!accepts("br", "gzip"));
        assert!(accepts("x-gzip", "gzip"));
        assert!(accepts("*", "br"));
        assert!(!accepts("*;q=0", "br"));
        assert!(accepts("br;q=1, *;q=0", "br"));
        assert!(!accepts("br;q=0, *", "br"));
        assert!(accepts("gzip;q=0, *", "br"));
        assert_eq!(quality("gzip;q=0.8, br;q=0.25", "br"), 250);
        assert_eq!(quality("gzip;q=0.8, br;q=0.25", "gzip"), 800);
        assert_eq!(quality("gzip;q=1.0", "gzip"), 1000);
        assert_eq!(quality("gzip;q=0.5", "br"), 0);
        // Malformed q-values: the element is ignored.
        for header in ["gzip;q=2", "gzip;q=1.5", "gzip;q=0.1234", "gzip;q=", "gzip;q=abc", "gzip;q=-1", "gzip;q=.5"] {
            assert!(!accepts(header, "gzip"), "{header:?}");
        }
    }

    #[test]
    fn identity_is_acceptable_unless_refused() {
        assert!(accepts("", "identity"));
        assert!(accepts("gzip", "identity"));
        assert!(accepts("gzip, identity;q=0.5", "identity"));
        assert!(!accepts("gzip, identity;q=0", "identity"));
        assert!(!accepts("*;q=0", "identity"));
        assert!(accepts("*;q=0, identity", "identity"));
        assert!(!accepts("", "gzip"));
        assert!(!accepts(" , ,", "gzip"));
    }

    #[test]
    fn etags_compare_weakly() {
        assert!(etag_matches("\"abc\"", "\"abc\""));
        assert!(etag_matches("W/\"abc\"", "\"abc\""));
        assert!(etag_matches("\"abc\"", "W/\"abc\""));
        assert!(etag_matches("\"x\", \"abc\"", "\"abc\""));
        assert!(etag_matches("\"x\",W/\"abc\" ,\"y\"", "\"abc\""));
        assert!(etag_matches("\"a,b\"", "\"a,b\""));
        assert!(etag_matches(" * ", "\"abc\""));
        assert!(!etag_matches("\"abd\"", "\"abc\""));
        assert!(!etag_matches("abc", "\"abc\""));
        assert!(!etag_matches("\"abc", "\"abc\""));
        assert!(!etag_matches("\"ab\"c\"", "\"abc\""));
        assert!(!etag_matches("\"x\" junk, \"abc\"", "\"abc\""));
        assert!(!etag_matches("", "\"abc\""));
        assert!(!etag_matches("*, \"a\"", "\"abc\""));
    }
}
