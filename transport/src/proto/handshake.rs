//! The connection handshake.
//!
//! The client's first frame is a [`FrameKind::Hello`](super::FrameKind::Hello) whose 24-byte
//! payload is:
//!
//! ```text
//!  0          8          10         12          16                24
//!  | "HATCHRPC" | version  | reserved | max frame | fingerprint     |
//! ```
//!
//! The server answers with a `HelloAck` of the same layout carrying its own values. Each side checks
//! the other's: the server closes on a mismatch after sending its ack, so that the client can name
//! both fingerprints in its error. The client does not wait for the ack before sending calls (no
//! extra round trip); calls sent before a failed handshake fail with the handshake error.
//!
//! A fingerprint of 0 means "any": a server that serves raw frames without a generated interface,
//! or a client that does not care.

use crate::error::{FrameError, HandshakeError};

/// Protocol magic at the start of a hello.
pub const MAGIC: [u8; 8] = *b"HATCHRPC";
/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u16 = 1;
/// Length of a hello payload.
pub const HELLO_LEN: usize = 24;

/// The contents of a hello or hello-ack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello {
    /// Protocol version of the sender.
    pub version: u16,
    /// Largest payload the sender accepts.
    pub max_frame: u32,
    /// Interface fingerprint of the sender, 0 for "any".
    pub fingerprint: u64,
}

impl Hello {
    /// Serialises the hello payload.
    pub fn encode(&self) -> [u8; HELLO_LEN] {
        let mut out = [0u8; HELLO_LEN];
        out[0..8].copy_from_slice(&MAGIC);
        out[8..10].copy_from_slice(&self.version.to_le_bytes());
        out[12..16].copy_from_slice(&self.max_frame.to_le_bytes());
        out[16..24].copy_from_slice(&self.fingerprint.to_le_bytes());
        out
    }

    /// Parses a hello payload (magic is checked; version compatibility is the caller's call).
    pub fn decode(payload: &[u8]) -> Result<Self, HelloDecodeError> {
        let bytes: &[u8; HELLO_LEN] =
            payload.try_into().map_err(|_| HelloDecodeError::Frame(FrameError::MalformedPayload("hello")))?;
        if bytes[0..8] != MAGIC {
            return Err(HelloDecodeError::Handshake(HandshakeError::BadMagic));
        }
        Ok(Self {
            version: u16::from_le_bytes([bytes[8], bytes[9]]),
            max_frame: u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes")),
            fingerprint: u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes")),
        })
    }

    /// Checks that `self` (ours) and `theirs` can talk. `we_are_client` orders the fingerprints in
    /// the error.
    pub fn check(&self, theirs: &Hello, we_are_client: bool) -> Result<(), HandshakeError> {
        if self.version != theirs.version {
            return Err(HandshakeError::Version { ours: self.version, theirs: theirs.version });
        }
        let compatible = self.fingerprint == 0 || theirs.fingerprint == 0 || self.fingerprint == theirs.fingerprint;
        if !compatible {
            let (client, server) = if we_are_client {
                (self.fingerprint, theirs.fingerprint)
            } else {
                (theirs.fingerprint, self.fingerprint)
            };
            return Err(HandshakeError::Fingerprint { client, server });
        }
        Ok(())
    }
}

/// A hello that could not be parsed.
#[derive(Debug, PartialEq, Eq)]
pub enum HelloDecodeError {
    /// Wrong length.
    Frame(FrameError),
    /// Wrong magic.
    Handshake(HandshakeError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_byte_literal() {
        let hello = Hello { version: 1, max_frame: 0x100, fingerprint: 0xAB };
        let bytes = hello.encode();
        assert_eq!(
            bytes,
            [b'H', b'A', b'T', b'C', b'H', b'R', b'P', b'C', 1, 0, 0, 0, 0, 1, 0, 0, 0xAB, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(Hello::decode(&bytes).unwrap(), hello);
    }

    #[test]
    fn bad_hellos_are_typed() {
        assert_eq!(Hello::decode(&[0; 3]), Err(HelloDecodeError::Frame(FrameError::MalformedPayload("hello"))));
        assert_eq!(Hello::decode(&[0; HELLO_LEN]), Err(HelloDecodeError::Handshake(HandshakeError::BadMagic)));
    }

    #[test]
    fn fingerprints_are_checked_unless_zero() {
        let a = Hello { version: 1, max_frame: 1, fingerprint: 1 };
        let b = Hello { fingerprint: 2, ..a };
        let any = Hello { fingerprint: 0, ..a };
        assert_eq!(a.check(&b, true), Err(HandshakeError::Fingerprint { client: 1, server: 2 }));
        assert_eq!(b.check(&a, false), Err(HandshakeError::Fingerprint { client: 1, server: 2 }));
        assert!(a.check(&any, true).is_ok());
        let v2 = Hello { version: 2, ..a };
        assert_eq!(a.check(&v2, true), Err(HandshakeError::Version { ours: 1, theirs: 2 }));
    }
}
