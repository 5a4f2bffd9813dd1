//! The [`Compressor`] variants: `Identity`, `Gzip` (flate2) and `Brotli`. Levels are chosen for
//! serving on the fly (fast rather than smallest).

use std::io::Write;

use hatch_components::Component;

use crate::api::compress::Compressor;

/// Leaves the body as it is.
#[derive(Clone, Copy, Debug, Default)]
pub struct Identity;

impl Component for Identity {}

impl Compressor for Identity {
    fn encoding(&self) -> String {
        "identity".into()
    }

    fn compress(&self, data: &[u8]) -> Vec<u8> {
        data.to_vec()
    }
}

/// gzip at level 6 (zlib's default).
#[derive(Clone, Copy, Debug, Default)]
pub struct Gzip;

impl Component for Gzip {}

impl Compressor for Gzip {
    fn encoding(&self) -> String {
        "gzip".into()
    }

    fn compress(&self, data: &[u8]) -> Vec<u8> {
        let mut encoder =
            flate2::write::GzEncoder::new(Vec::with_capacity(data.len() / 2), flate2::Compression::new(6));
        // Writing to a Vec cannot fail.
        encoder.write_all(data).expect("in memory");
        encoder.finish().expect("in memory")
    }
}

/// Brotli at quality 4 (about gzip's speed, smaller output).
#[derive(Clone, Copy, Debug, Default)]
pub struct Brotli;

impl Component for Brotli {}

impl Compressor for Brotli {
    fn encoding(&self) -> String {
        "br".into()
    }

    fn compress(&self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() / 2);
        {
            let mut writer = brotli::CompressorWriter::new(&mut out, 4096, 4, 22);
            writer.write_all(data).expect("in memory");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    const TEXT: &[u8] = b"the river and the harbor of the city, the river and the harbor of the city, again and again";

    #[test]
    fn gzip_round_trips() {
        let packed = Gzip.compress(TEXT);
        assert!(packed.len() < TEXT.len());
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&packed[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, TEXT);
    }

    #[test]
    fn brotli_round_trips() {
        let packed = Brotli.compress(TEXT);
        assert!(packed.len() < TEXT.len());
        let mut out = Vec::new();
        brotli::Decompressor::new(&packed[..], 4096).read_to_end(&mut out).unwrap();
        assert_eq!(out, TEXT);
    }

    #[test]
    fn identity_is_identity() {
        assert_eq!(Identity.compress(TEXT), TEXT);
        assert_eq!(Identity.encoding(), "identity");
    }
}
