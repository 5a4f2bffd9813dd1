//! Splits a byte stream into frames, in place.

use bytes::{Buf, Bytes};

use super::frame::{FrameHeader, HEADER_LEN};
use super::recv_buf::RecvBuf;
use crate::error::FrameError;

/// One received frame. `payload` shares the receive buffer's memory and starts 16-aligned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The validated header.
    pub header: FrameHeader,
    /// The payload, without padding.
    pub payload: Bytes,
}

/// Incremental frame decoder over a [`RecvBuf`].
///
/// Feed bytes into [`FrameDecoder::buffer_mut`], then call [`FrameDecoder::decode`] until it
/// returns `Ok(None)`. After an error the stream is unusable: the connection must be closed.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: RecvBuf,
    max_frame: u32,
    /// Header of a frame whose payload has not fully arrived, so it is validated only once.
    pending: Option<FrameHeader>,
}

impl FrameDecoder {
    /// A decoder that rejects payloads larger than `max_frame` bytes.
    pub fn new(max_frame: u32, chunk: usize) -> Self {
        Self { buf: RecvBuf::with_chunk_size(chunk), max_frame, pending: None }
    }

    /// Where backends put received bytes.
    pub fn buffer_mut(&mut self) -> &mut RecvBuf {
        &mut self.buf
    }

    /// Bytes received but not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// How many more bytes the frame at the front needs (at least one header when unknown), so a
    /// backend can size its next read.
    pub fn wanted(&self) -> usize {
        match self.pending {
            Some(header) => header.wire_len().saturating_sub(self.buf.len()).max(1),
            None => HEADER_LEN.saturating_sub(self.buf.len()).max(1),
        }
    }

    /// Returns the next complete frame, `Ok(None)` if more bytes are needed.
    pub fn decode(&mut self) -> Result<Option<Frame>, FrameError> {
        let header = match self.pending {
            Some(header) => header,
            None => {
                let Some(head) = self.buf.as_slice().first_chunk::<HEADER_LEN>() else {
                    return Ok(None);
                };
                let header = FrameHeader::decode(head, self.max_frame)?;
                self.pending = Some(header);
                header
            }
        };
        let wire_len = header.wire_len();
        if self.buf.len() < wire_len {
            // The header passed the size limit: give the whole frame its final home now, so the
            // rest of it is received in place rather than copied on every read.
            self.buf.reserve_frame(wire_len);
            return Ok(None);
        }
        self.pending = None;
        // Trim the header and padding off the split-off part before freezing it: no reference
        // count traffic beyond the split itself.
        let mut frame = self.buf.split_to(wire_len);
        frame.advance(HEADER_LEN);
        frame.truncate(header.len as usize);
        Ok(Some(Frame { header, payload: frame.freeze() }))
    }

    /// Call when the peer closed the stream: an error if a frame was cut short.
    pub fn finish(&self) -> Result<(), FrameError> {
        if self.buf.is_empty() { Ok(()) } else { Err(FrameError::Truncated(self.buf.len())) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::frame::{DEFAULT_MAX_FRAME, FRAME_ALIGN, FrameKind, encode_frame};
    use crate::proto::recv_buf::DEFAULT_CHUNK;
    use proptest::prelude::*;

    fn stream(frames: &[(FrameKind, u32, Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (kind, id, payload) in frames {
            encode_frame(&mut out, *kind, 0, *id, 0, payload);
        }
        out
    }

    #[test]
    fn decodes_a_byte_literal() {
        let bytes: &[u8] = &[
            3, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, // Response, len 3, call 1
            b'a', b'b', b'c', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        let mut dec = FrameDecoder::new(DEFAULT_MAX_FRAME, 1024);
        dec.buffer_mut().extend_from_slice(&bytes[..20]);
        assert_eq!(dec.decode().unwrap(), None);
        assert_eq!(dec.wanted(), 12);
        dec.buffer_mut().extend_from_slice(&bytes[20..]);
        let frame = dec.decode().unwrap().unwrap();
        assert_eq!(frame.header.kind, FrameKind::Response);
        assert_eq!(frame.header.call_id, 1);
        assert_eq!(&frame.payload[..], b"abc");
        assert_eq!(dec.decode().unwrap(), None);
        dec.finish().unwrap();
    }

    #[test]
    fn payload_is_handed_up_without_a_copy() {
        let mut dec = FrameDecoder::new(DEFAULT_MAX_FRAME, 4096);
        let bytes = stream(&[(FrameKind::Response, 1, vec![7; 100]), (FrameKind::Response, 2, vec![8; 40])]);
        dec.buffer_mut().extend_from_slice(&bytes);
        let buffer_start = dec.buffer_mut().as_slice().as_ptr() as usize;
        let first = dec.decode().unwrap().unwrap();
        let second = dec.decode().unwrap().unwrap();
        // The payloads point into the receive buffer itself, at their offsets in the stream.
        assert_eq!(first.payload.as_ptr() as usize, buffer_start + HEADER_LEN);
        assert_eq!(second.payload.as_ptr() as usize, buffer_start + 128 + HEADER_LEN);
        assert_eq!(first.payload.as_ptr() as usize % FRAME_ALIGN, 0);
        assert_eq!(second.payload.as_ptr() as usize % FRAME_ALIGN, 0);
    }

    /// Delivers `bytes` the way a kernel receive does: into the spare capacity, `piece` at a time,
    /// decoding after each. Returns the frames and where each read landed.
    fn receive_in_place(dec: &mut FrameDecoder, bytes: &[u8], piece: usize) -> (Vec<Frame>, Vec<usize>) {
        let (mut frames, mut landed) = (Vec::new(), Vec::new());
        for part in bytes.chunks(piece) {
            let wanted = dec.wanted().max(4096);
            let spare = dec.buffer_mut().spare_capacity_mut(wanted);
            landed.push(spare.as_ptr() as usize);
            for (slot, &byte) in spare.iter_mut().zip(part) {
                slot.write(byte);
            }
            // SAFETY: `part.len()` bytes were written just above (the spare capacity is at least
            // 4096 bytes and `piece` is no larger).
            unsafe { dec.buffer_mut().commit(part.len()) };
            while let Some(frame) = dec.decode().unwrap() {
                frames.push(frame);
            }
        }
        (frames, landed)
    }

    #[test]
    fn a_multi_mib_frame_is_received_in_place() {
        const LEN: usize = 8 << 20;
        const PIECE: usize = 4096;
        let payload: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
        let bytes = stream(&[(FrameKind::Response, 1, payload.clone()), (FrameKind::Response, 2, vec![9; 40])]);
        let mut dec = FrameDecoder::new(DEFAULT_MAX_FRAME * 4, DEFAULT_CHUNK);
        let (frames, landed) = receive_in_place(&mut dec, &bytes, PIECE);
        assert_eq!(frames.len(), 2);
        assert!(frames[0].payload == payload);
        // Once the header was seen, every read landed right behind the previous one, in the
        // allocation the payload is handed up in.
        let start = frames[0].payload.as_ptr() as usize - HEADER_LEN;
        for (i, &at) in landed.iter().enumerate().skip(1) {
            assert_eq!(at, start + i * PIECE, "read {i} did not land in place");
        }
        assert_eq!(frames[0].payload.as_ptr() as usize % FRAME_ALIGN, 0);
        assert_eq!(frames[1].payload.as_ptr() as usize % FRAME_ALIGN, 0);
        // Only the first read, which carried the header, was moved.
        assert_eq!(dec.buffer_mut().copied_bytes(), PIECE as u64);
    }

    #[test]
    fn a_large_frame_reuses_the_allocation_of_one_already_dropped() {
        const LEN: usize = 2 << 20;
        let bytes = stream(&[(FrameKind::Response, 1, vec![1; LEN])]);
        let mut dec = FrameDecoder::new(DEFAULT_MAX_FRAME, DEFAULT_CHUNK);
        let (first, _) = receive_in_place(&mut dec, &bytes, 64 * 1024);
        let first_at = first[0].payload.as_ptr() as usize;
        drop(first);
        let (second, _) = receive_in_place(&mut dec, &bytes, 64 * 1024);
        assert_eq!(second[0].payload.as_ptr() as usize, first_at, "a fresh allocation was made");
        assert!(second[0].payload.iter().all(|&b| b == 1));
        // While a frame is still held, the next one gets its own allocation.
        let (third, _) = receive_in_place(&mut dec, &bytes, 64 * 1024);
        assert_ne!(third[0].payload.as_ptr() as usize, second[0].payload.as_ptr() as usize);
        assert_eq!(third[0].payload.as_ptr() as usize % FRAME_ALIGN, 0);
    }

    #[test]
    fn a_frame_copied_in_from_provided_buffers_is_copied_once() {
        const LEN: usize = 4 << 20;
        const PIECE: usize = 16 * 1024;
        let payload = vec![0x5A; LEN];
        let bytes = stream(&[(FrameKind::Request, 1, payload.clone()), (FrameKind::Request, 2, payload.clone())]);
        let mut dec = FrameDecoder::new(DEFAULT_MAX_FRAME, DEFAULT_CHUNK);
        let mut frames = Vec::new();
        for part in bytes.chunks(PIECE) {
            dec.buffer_mut().extend_from_slice(part);
            while let Some(frame) = dec.decode().unwrap() {
                frames.push(frame);
            }
        }
        assert_eq!(frames.len(), 2);
        assert!(frames.iter().all(|frame| frame.payload == payload));
        // Every byte is copied in once; the first piece of each frame moves once more when its
        // header is seen. (Growing by what is missing copied ~LEN^2 / PIECE / 2 = 512 MiB here.)
        let bound = bytes.len() + 2 * PIECE;
        assert!(dec.buffer_mut().copied_bytes() <= bound as u64, "copied {} bytes", dec.buffer_mut().copied_bytes());
    }

    #[test]
    fn oversized_frame_is_rejected_from_its_header_alone() {
        let mut dec = FrameDecoder::new(64, 1024);
        let mut header = [0u8; 16];
        header[0..4].copy_from_slice(&65u32.to_le_bytes());
        header[4] = FrameKind::Request as u8;
        dec.buffer_mut().extend_from_slice(&header);
        assert_eq!(dec.decode(), Err(FrameError::TooLarge { len: 65, max: 64 }));
        // Refused before any room was made for it.
        assert!(dec.buffer_mut().capacity() <= 2 * 1024);
        let mut huge = FrameDecoder::new(DEFAULT_MAX_FRAME, 1024);
        header[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        huge.buffer_mut().extend_from_slice(&header);
        assert_eq!(huge.decode(), Err(FrameError::TooLarge { len: u32::MAX, max: DEFAULT_MAX_FRAME }));
        assert!(huge.buffer_mut().capacity() <= 2 * 1024);
    }

    #[test]
    fn truncated_stream_is_reported_on_finish() {
        let mut dec = FrameDecoder::new(DEFAULT_MAX_FRAME, 1024);
        let bytes = stream(&[(FrameKind::Request, 1, vec![1; 20])]);
        dec.buffer_mut().extend_from_slice(&bytes[..bytes.len() - 1]);
        assert_eq!(dec.decode().unwrap(), None);
        assert_eq!(dec.finish(), Err(FrameError::Truncated(bytes.len() - 1)));
    }

    fn arb_frames() -> impl Strategy<Value = Vec<(FrameKind, u32, Vec<u8>)>> {
        let kind = prop_oneof![Just(FrameKind::Request), Just(FrameKind::OneWay), Just(FrameKind::Response)];
        prop::collection::vec((kind, any::<u32>(), prop::collection::vec(any::<u8>(), 0..300)), 0..20)
    }

    proptest! {
        /// Any split and coalescing of the byte stream yields the same frames, every payload
        /// aligned.
        #[test]
        fn arbitrary_splits_give_the_same_frames(
            frames in arb_frames(),
            cuts in prop::collection::vec(1usize..200, 0..50),
            chunk in 64usize..1024,
        ) {
            let bytes = stream(&frames);
            let mut dec = FrameDecoder::new(DEFAULT_MAX_FRAME, chunk);
            let mut got = Vec::new();
            let mut pos = 0;
            let mut cuts = cuts.into_iter().cycle();
            while pos < bytes.len() {
                let step = cuts.next().unwrap_or(bytes.len()).min(bytes.len() - pos);
                dec.buffer_mut().extend_from_slice(&bytes[pos..pos + step]);
                pos += step;
                while let Some(frame) = dec.decode().unwrap() {
                    prop_assert_eq!(frame.payload.as_ptr() as usize % FRAME_ALIGN, 0);
                    got.push((frame.header.kind, frame.header.call_id, frame.payload.to_vec()));
                }
            }
            prop_assert_eq!(got, frames);
            prop_assert!(dec.finish().is_ok());
        }

        /// Arbitrary bytes never panic the decoder: they decode or give a typed error.
        #[test]
        fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
            let mut dec = FrameDecoder::new(1024, 256);
            dec.buffer_mut().extend_from_slice(&bytes);
            while let Ok(Some(_)) = dec.decode() {}
        }
    }
}
