//! Composition identifiers in the DES paper's form: `{A,B,C|0:Iq:1,1:Ir:2}`.
//!
//! The components come first, in pre-order from the root component; then the
//! wirings as `from:Interface:to`, sorted by `to`. A composition of one component
//! prints as `{A|}`. Parsing accepts spaces around tokens and wirings in any order,
//! so `format → parse` is the identity and `parse → format` canonicalises.
//!
//! Names are made of ASCII letters, digits, `_`, `-` and `.`; the characters
//! `{ } , | :` are reserved (placements such as `B_X{host}` will use them).
//!
//! # Examples
//!
//! ```
//! use hatch_components::Composition;
//! let id = "{App,Static,Lru,Disk|0:Handler:1,1:Cache:2,1:Store:3}";
//! let comp: Composition = id.parse()?;
//! assert_eq!(comp.to_string(), id);
//! assert_eq!(comp.components().len(), 4);
//! # Ok::<(), hatch_components::CompositionError>(())
//! ```

use std::fmt;
use std::str::FromStr;

use crate::composition::{ComponentChoice, Composition, Placement, Wiring};
use crate::error::CompositionError;

impl fmt::Display for Composition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (k, c) in self.components.iter().enumerate() {
            if k > 0 {
                f.write_str(",")?;
            }
            f.write_str(&c.variant)?;
            match c.placement {
                Placement::Local => {}
            }
        }
        f.write_str("|")?;
        for (k, w) in self.wirings.iter().enumerate() {
            if k > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}:{}:{}", w.from, w.interface, w.to)?;
        }
        f.write_str("}")
    }
}

/// Whether `s` is a valid variant or interface name.
pub(crate) fn is_valid_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

impl FromStr for Composition {
    type Err = CompositionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = |at: usize, reason| CompositionError::Syntax { at, reason };
        let open = s.find('{').filter(|&i| s[..i].trim().is_empty()).ok_or(syntax(0, "expected `{`"))?;
        let close =
            s.rfind('}').filter(|&i| s[i + 1..].trim().is_empty()).ok_or(syntax(s.len(), "expected `}` at the end"))?;
        let body_at = open + 1;
        let body = s.get(body_at..close).ok_or(syntax(body_at, "expected `}`"))?;
        let bar = body.find('|').ok_or(syntax(body_at + body.len(), "expected `|`"))?;

        // Splits on ',' yielding (offset of the trimmed piece, trimmed piece).
        let pieces = |text: &'_ str, base: usize| -> Vec<(usize, String)> {
            let mut out = Vec::new();
            let mut at = base;
            for piece in text.split(',') {
                let lead = piece.len() - piece.trim_start().len();
                out.push((at + lead, piece.trim().to_owned()));
                at += piece.len() + 1;
            }
            out
        };

        let mut components = Vec::new();
        for (at, name) in pieces(&body[..bar], body_at) {
            if !is_valid_name(&name) {
                return Err(syntax(at, "expected a component name"));
            }
            components.push(ComponentChoice { variant: name.into(), placement: Placement::Local });
        }

        let mut wirings = Vec::new();
        let wiring_text = &body[bar + 1..];
        if !wiring_text.trim().is_empty() {
            for (at, piece) in pieces(wiring_text, body_at + bar + 1) {
                let parts: Vec<&str> = piece.split(':').map(str::trim).collect();
                let [from, interface, to] = parts[..] else {
                    return Err(syntax(at, "expected `from:Interface:to`"));
                };
                let index = |t: &str| -> Result<usize, CompositionError> {
                    t.parse::<usize>()
                        .ok()
                        .filter(|&i| i < components.len())
                        .ok_or(syntax(at, "expected a component index"))
                };
                if !is_valid_name(interface) {
                    return Err(syntax(at, "expected an interface name"));
                }
                wirings.push(Wiring { from: index(from)?, interface: interface.into(), to: index(to)? });
            }
        }
        Composition::new(components, wirings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_paper_style_with_spaces() {
        let comp: Composition = " { A, B ,C | 0:iq:1, 0 : ir : 2 } ".parse().unwrap();
        assert_eq!(comp.to_string(), "{A,B,C|0:iq:1,0:ir:2}");
    }

    #[test]
    fn single_component() {
        let comp: Composition = "{A|}".parse().unwrap();
        assert_eq!(comp.components().len(), 1);
        assert_eq!(comp.to_string(), "{A|}");
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "A|",
            "{A",
            "{|}",
            "{A,|}",
            "{A,B|0:I}",
            "{A,B|0:I:5}",
            "{A,B|x:I:1}",
            "{A,B|0:I{h}:1}",
            "{A,B|}",
            "{A B|}",
        ] {
            assert!(bad.parse::<Composition>().is_err(), "{bad:?} should not parse");
        }
    }
}
