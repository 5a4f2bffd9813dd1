//! Content compression. Only the trait lives here: hatch-proxygen reads this file.

/// Compresses response bodies in one `Content-Encoding`.
pub trait Compressor: hatch::components::Component {
    /// The encoding's token in `Accept-Encoding` and `Content-Encoding` (`identity`, `gzip`,
    /// `br`).
    fn encoding(&self) -> String;

    /// `data`, encoded.
    fn compress(&self, data: &[u8]) -> Vec<u8>;
}

hatch::include_proxies!("compress");
