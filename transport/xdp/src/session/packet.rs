//! The wire format of one session packet: a fixed 28-byte header, then (for data packets) one
//! segment of the session's byte stream.
//!
//! ```text
//!  0       2       3       4               8               12              16
//!  +-------+-------+-------+---------------+---------------+---------------+
//!  | magic |version| kind  | session id    | seq           | ack           |
//!  +-------+-------+-------+---------------+---------------+---------------+
//!  16                              24      26      28
//!  +-------------------------------+-------+-------+----------------------------+
//!  | sack bitmap                   | len   | window| payload (len bytes) ...    |
//!  +-------------------------------+-------+-------+----------------------------+
//! ```
//! All integers are little-endian (like [`hatch_transport::proto::frame`]).
//!
//! - `magic` is `"HX"` (0x5848 read little-endian), `version` is [`VERSION`].
//! - `kind` is a [`PacketKind`].
//! - `session id` is chosen by the client and names the session at the server (together with
//!   the client's address).
//! - `seq` is the packet sequence number of a data packet's segment (0 for the first segment of a
//!   session, +1 per segment, wrapping); ignored in other kinds.
//! - `ack` is cumulative: the sender has received every segment before `ack`.
//! - bit `i` of `sack` says segment `ack + 1 + i` was received too (selective ack).
//! - `len` is the payload length and must equal the bytes after the header; only data packets
//!   carry a payload, and never an empty one.
//! - `window` is how many packets the sender can buffer out of order: its peer keeps fewer than
//!   that many segments unacknowledged.

use crate::error::PacketError;

/// Length of the packet header in bytes.
pub const HEADER_LEN: usize = 28;
/// The two magic bytes `"HX"`.
pub const MAGIC: [u8; 2] = *b"HX";
/// Version of the session protocol.
pub const VERSION: u8 = 1;

/// What a packet carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketKind {
    /// A segment of the byte stream, plus the sender's acknowledgement state.
    Data = 1,
    /// Acknowledgement state only.
    Ack = 2,
    /// The sender closes the session (best effort; not retransmitted).
    Close = 3,
    /// The receiver knows no such session (a server restarted or expired it): the client fails
    /// its calls.
    Reset = 4,
}

impl PacketKind {
    fn from_u8(byte: u8) -> Result<Self, PacketError> {
        Ok(match byte {
            1 => Self::Data,
            2 => Self::Ack,
            3 => Self::Close,
            4 => Self::Reset,
            other => return Err(PacketError::UnknownKind(other)),
        })
    }
}

/// A decoded packet header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketHeader {
    /// What the packet carries.
    pub kind: PacketKind,
    /// The session it belongs to.
    pub session: u32,
    /// Sequence number of a data segment.
    pub seq: u32,
    /// Cumulative acknowledgement: every segment before this one arrived.
    pub ack: u32,
    /// Segments `ack + 1 + i` that arrived, for each set bit `i`.
    pub sack: u64,
    /// Payload length.
    pub len: u16,
    /// How many segments the sender buffers out of order.
    pub window: u16,
}

impl PacketHeader {
    /// Appends the encoded header to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.push(self.kind as u8);
        out.extend_from_slice(&self.session.to_le_bytes());
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.ack.to_le_bytes());
        out.extend_from_slice(&self.sack.to_le_bytes());
        out.extend_from_slice(&self.len.to_le_bytes());
        out.extend_from_slice(&self.window.to_le_bytes());
    }

    /// Validates a whole datagram and splits it into header and payload.
    pub fn decode(datagram: &[u8]) -> Result<(Self, &[u8]), PacketError> {
        let Some((head, payload)) = datagram.split_first_chunk::<HEADER_LEN>() else {
            return Err(PacketError::Short(datagram.len()));
        };
        if head[..2] != MAGIC {
            return Err(PacketError::BadMagic);
        }
        if head[2] != VERSION {
            return Err(PacketError::Version(head[2]));
        }
        let u32_at = |at: usize| u32::from_le_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
        let u16_at = |at: usize| u16::from_le_bytes([head[at], head[at + 1]]);
        let mut sack = [0; 8];
        sack.copy_from_slice(&head[16..24]);
        let header = Self {
            kind: PacketKind::from_u8(head[3])?,
            session: u32_at(4),
            seq: u32_at(8),
            ack: u32_at(12),
            sack: u64::from_le_bytes(sack),
            len: u16_at(24),
            window: u16_at(26),
        };
        if usize::from(header.len) != payload.len() {
            return Err(PacketError::LengthMismatch { declared: header.len, actual: payload.len() });
        }
        match (header.kind, payload.is_empty()) {
            (PacketKind::Data, true) => Err(PacketError::EmptyData),
            (PacketKind::Data, false) | (_, true) => Ok((header, payload)),
            (kind, false) => Err(PacketError::UnexpectedPayload(kind)),
        }
    }

    /// The session id of a datagram, without validating the rest (for routing).
    pub fn peek_session(datagram: &[u8]) -> Option<u32> {
        datagram.get(4..8).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_layout_matches_the_diagram() {
        let header = PacketHeader {
            kind: PacketKind::Data,
            session: 0x0403_0201,
            seq: 0x0807_0605,
            ack: 0x0c0b_0a09,
            sack: 0x1413_1211_100f_0e0d,
            len: 2,
            window: 0x1817,
        };
        let mut bytes = Vec::new();
        header.encode(&mut bytes);
        bytes.extend_from_slice(b"hi");
        assert_eq!(
            bytes,
            [
                b'H', b'X', 1, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 2, 0, 0x17,
                0x18, b'h', b'i'
            ]
        );
        assert_eq!(PacketHeader::decode(&bytes), Ok((header, &b"hi"[..])));
        assert_eq!(PacketHeader::peek_session(&bytes), Some(0x0403_0201));
    }

    #[test]
    fn malformed_packets_are_rejected() {
        let mut ack = Vec::new();
        PacketHeader { kind: PacketKind::Ack, session: 1, seq: 0, ack: 0, sack: 0, len: 0, window: 8 }.encode(&mut ack);
        assert!(PacketHeader::decode(&ack).is_ok());
        assert_eq!(PacketHeader::decode(&ack[..27]), Err(PacketError::Short(27)));
        let mut bad = ack.clone();
        bad[0] = b'Z';
        assert_eq!(PacketHeader::decode(&bad), Err(PacketError::BadMagic));
        let mut bad = ack.clone();
        bad[2] = 9;
        assert_eq!(PacketHeader::decode(&bad), Err(PacketError::Version(9)));
        let mut bad = ack.clone();
        bad[3] = 77;
        assert_eq!(PacketHeader::decode(&bad), Err(PacketError::UnknownKind(77)));
        let mut bad = ack.clone();
        bad.push(0);
        assert_eq!(PacketHeader::decode(&bad), Err(PacketError::LengthMismatch { declared: 0, actual: 1 }));
        let mut bad = ack.clone();
        bad[24] = 1;
        bad.push(0);
        assert_eq!(PacketHeader::decode(&bad), Err(PacketError::UnexpectedPayload(PacketKind::Ack)));
        let mut bad = ack;
        bad[3] = PacketKind::Data as u8;
        assert_eq!(PacketHeader::decode(&bad), Err(PacketError::EmptyData));
    }
}
