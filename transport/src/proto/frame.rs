//! The wire format of one frame: a fixed 16-byte header, the payload, and zero padding up to the
//! next multiple of 16.
//!
//! ```text
//!  0               4       5       6               8               12              16
//!  +---------------+-------+-------+---------------+---------------+---------------+
//!  | payload len   | kind  | flags | reserved (0)  | call id       | aux           |
//!  +---------------+-------+-------+---------------+---------------+---------------+
//!  | payload (len bytes) ... | zero padding to a multiple of 16                    |
//!  +-------------------------------------------------------------------------------+
//! ```
//! All integers are little-endian. `aux` is the method id of a request, the error code of an
//! error frame, and zero otherwise.
//!
//! Why the padding: every frame starts at a multiple of 16 from the start of the stream, so when
//! the receive buffer starts 16-aligned, every payload is 16-aligned in memory and rkyv archives
//! can be read in place. It costs at most 15 bytes per frame.

use crate::error::FrameError;

/// Length of the fixed frame header in bytes.
pub const HEADER_LEN: usize = 16;
/// Alignment of every frame (and therefore every payload) in the byte stream.
pub const FRAME_ALIGN: usize = 16;
/// Default largest payload accepted from a peer (4 MiB); see [`crate::Config::max_frame`].
pub const DEFAULT_MAX_FRAME: u32 = 4 << 20;

/// Identifier of a call, unique among the calls outstanding on one connection.
pub type CallId = u32;
/// Identifier of a method of a service (proxygen derives it from the method name).
pub type MethodId = u32;

/// What a frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FrameKind {
    /// First frame from the client: protocol magic, version, fingerprint.
    Hello = 1,
    /// The server's answer to [`FrameKind::Hello`], with its own version and fingerprint.
    HelloAck = 2,
    /// A call that expects a reply; `aux` is the method id.
    Request = 3,
    /// A call that expects no reply; `aux` is the method id. The server answers only on failure.
    OneWay = 4,
    /// The successful reply to the request with the same call id.
    Response = 5,
    /// A failed call; `aux` is an [`crate::ErrorCode`], the payload a UTF-8 message.
    Error = 6,
    /// The sender is closing the connection; the payload is a UTF-8 reason.
    GoAway = 7,
}

impl FrameKind {
    /// Decodes the kind byte of a header.
    pub fn from_u8(byte: u8) -> Result<Self, FrameError> {
        Ok(match byte {
            1 => Self::Hello,
            2 => Self::HelloAck,
            3 => Self::Request,
            4 => Self::OneWay,
            5 => Self::Response,
            6 => Self::Error,
            7 => Self::GoAway,
            other => return Err(FrameError::UnknownKind(other)),
        })
    }
}

/// Flag on an [`FrameKind::Error`] frame: the failed call was a one-way call.
pub const FLAG_ONE_WAY: u8 = 0x01;
const KNOWN_FLAGS: u8 = FLAG_ONE_WAY;

/// A decoded frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// What the frame carries.
    pub kind: FrameKind,
    /// Flag bits (`FLAG_*`).
    pub flags: u8,
    /// Payload length in bytes, without padding.
    pub len: u32,
    /// The call this frame belongs to (0 for connection-level frames).
    pub call_id: CallId,
    /// Method id, error code or zero, depending on `kind`.
    pub aux: u32,
}

impl FrameHeader {
    /// Parses and validates a header. `max_frame` bounds the payload length.
    pub fn decode(bytes: &[u8; HEADER_LEN], max_frame: u32) -> Result<Self, FrameError> {
        let len = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let kind = FrameKind::from_u8(bytes[4])?;
        let flags = bytes[5];
        if flags & !KNOWN_FLAGS != 0 {
            return Err(FrameError::UnknownFlags(flags));
        }
        if bytes[6] != 0 || bytes[7] != 0 {
            return Err(FrameError::ReservedNotZero);
        }
        if len > max_frame {
            return Err(FrameError::TooLarge { len, max: max_frame });
        }
        Ok(Self {
            kind,
            flags,
            len,
            call_id: u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]),
            aux: u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]),
        })
    }

    /// Serialises the header.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..4].copy_from_slice(&self.len.to_le_bytes());
        out[4] = self.kind as u8;
        out[5] = self.flags;
        out[8..12].copy_from_slice(&self.call_id.to_le_bytes());
        out[12..16].copy_from_slice(&self.aux.to_le_bytes());
        out
    }

    /// Bytes this frame occupies on the wire: header, payload and padding.
    pub fn wire_len(&self) -> usize {
        HEADER_LEN + padded(self.len as usize)
    }
}

/// `len` rounded up to a multiple of [`FRAME_ALIGN`].
#[inline]
pub const fn padded(len: usize) -> usize {
    (len + FRAME_ALIGN - 1) & !(FRAME_ALIGN - 1)
}

/// Appends one complete frame (header, payload, padding) to `out`.
///
/// `out.len()` must be a multiple of [`FRAME_ALIGN`] so that the frame stays aligned in the stream.
pub fn encode_frame(out: &mut Vec<u8>, kind: FrameKind, flags: u8, call_id: CallId, aux: u32, payload: &[u8]) {
    debug_assert_eq!(out.len() % FRAME_ALIGN, 0);
    let len = u32::try_from(payload.len()).expect("payload length fits in u32");
    let header = FrameHeader { kind, flags, len, call_id, aux };
    out.reserve(header.wire_len());
    out.extend_from_slice(&header.encode());
    out.extend_from_slice(payload);
    pad(out);
}

/// Appends a frame whose payload is written in place by `write`, avoiding a staging copy.
/// Returns the payload length.
///
/// `write` must only append. If it removed bytes it did not write, the buffer's earlier contents
/// are lost: [`WriteMisuse::Truncated`] tells the caller to discard the whole buffer. A payload
/// too long for the header's `u32` is removed again ([`WriteMisuse::TooLong`]).
pub fn encode_frame_with(
    out: &mut Vec<u8>,
    kind: FrameKind,
    flags: u8,
    call_id: CallId,
    aux: u32,
    write: impl FnOnce(&mut Vec<u8>),
) -> Result<usize, WriteMisuse> {
    debug_assert_eq!(out.len() % FRAME_ALIGN, 0);
    let start = out.len();
    out.extend_from_slice(&[0u8; HEADER_LEN]);
    write(out);
    let Some(len) = out.len().checked_sub(start + HEADER_LEN) else {
        return Err(WriteMisuse::Truncated);
    };
    let Ok(len32) = u32::try_from(len) else {
        out.truncate(start);
        return Err(WriteMisuse::TooLong(len));
    };
    let header = FrameHeader { kind, flags, len: len32, call_id, aux };
    out[start..start + HEADER_LEN].copy_from_slice(&header.encode());
    pad(out);
    Ok(len)
}

/// A payload writer broke the append-only contract of [`encode_frame_with`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMisuse {
    /// It removed bytes it had not written; the buffer is corrupt.
    Truncated,
    /// It wrote more than a frame can carry; the frame was removed.
    TooLong(usize),
}

fn pad(out: &mut Vec<u8>) {
    let target = padded(out.len());
    out.resize(target, 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_through_its_byte_literal() {
        let header = FrameHeader { kind: FrameKind::Request, flags: 0, len: 5, call_id: 7, aux: 0x0102_0304 };
        let bytes = header.encode();
        assert_eq!(bytes, [5, 0, 0, 0, 3, 0, 0, 0, 7, 0, 0, 0, 4, 3, 2, 1]);
        assert_eq!(FrameHeader::decode(&bytes, DEFAULT_MAX_FRAME).unwrap(), header);
        assert_eq!(header.wire_len(), 32);
    }

    #[test]
    fn encode_frame_pads_to_sixteen() {
        let mut out = Vec::new();
        encode_frame(&mut out, FrameKind::Response, 0, 9, 0, b"hello");
        assert_eq!(out.len(), 32);
        assert_eq!(&out[16..21], b"hello");
        assert!(out[21..].iter().all(|&b| b == 0));
        encode_frame(&mut out, FrameKind::Response, 0, 10, 0, &[0xAA; 16]);
        assert_eq!(out.len(), 64);
    }

    #[test]
    fn encode_frame_with_patches_the_length() {
        let mut out = Vec::new();
        let len = encode_frame_with(&mut out, FrameKind::Request, 0, 1, 42, |b| b.extend_from_slice(b"abc"));
        assert_eq!(len, Ok(3));
        let header = FrameHeader::decode(out[..16].try_into().unwrap(), DEFAULT_MAX_FRAME).unwrap();
        assert_eq!(header, FrameHeader { kind: FrameKind::Request, flags: 0, len: 3, call_id: 1, aux: 42 });
    }

    #[test]
    fn a_writer_that_truncates_is_reported_not_a_panic() {
        let mut out = Vec::new();
        encode_frame(&mut out, FrameKind::Response, 0, 1, 0, b"earlier reply");
        let misuse = encode_frame_with(&mut out, FrameKind::Response, 0, 2, 0, |b| b.clear());
        assert_eq!(misuse, Err(WriteMisuse::Truncated));
    }

    #[test]
    fn hostile_headers_are_typed_errors() {
        let mut bytes = [0u8; 16];
        bytes[4] = 99;
        assert_eq!(FrameHeader::decode(&bytes, 100), Err(FrameError::UnknownKind(99)));
        bytes[4] = 3;
        bytes[5] = 0x80;
        assert_eq!(FrameHeader::decode(&bytes, 100), Err(FrameError::UnknownFlags(0x80)));
        bytes[5] = 0;
        bytes[7] = 1;
        assert_eq!(FrameHeader::decode(&bytes, 100), Err(FrameError::ReservedNotZero));
        bytes[7] = 0;
        bytes[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(FrameHeader::decode(&bytes, 100), Err(FrameError::TooLarge { len: u32::MAX, max: 100 }));
    }
}
