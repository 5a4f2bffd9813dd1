//! The generated data set: a few thousand articles, images and text files with sizes shaped like
//! Wikipedia's, from a fixed seed, so every host (and the load generator, which checks what it
//! gets) derives the same bytes without anything being checked in.
//!
//! Layout under the data folder:
//!
//! ```text
//! static/img/NNNNN.jpg     images, log-normal sizes (median 12 KiB, up to 1 MiB), incompressible
//! static/text/NNNNN.txt    text files, log-normal sizes (median 4 KiB, up to 256 KiB), compressible
//! static/thumb/NNNN.jpg    thumbnails of exactly 10 KiB (the benchmark's "10 KiB images")
//! static/stub/NNNN.txt     text stubs of exactly 5 KiB (the benchmark's "5 KiB text")
//! articles.db              the articles, in SQLite (see `parts::database`)
//! dataset.txt              what was generated (seed and shape); present once generation is done
//! ```

use std::fs;
use std::io;
use std::path::Path;

/// The seed of the shipped data set.
pub const SEED: u64 = 0x4841_5443_485f_5745;

/// How much of each kind to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Images under `static/img/`.
    pub images: u32,
    /// Text files under `static/text/`.
    pub texts: u32,
    /// 10 KiB thumbnails under `static/thumb/`.
    pub thumbs: u32,
    /// 5 KiB stubs under `static/stub/`.
    pub stubs: u32,
    /// Articles in the database.
    pub articles: u32,
}

impl Default for Shape {
    fn default() -> Self {
        Shape { images: 2000, texts: 1000, thumbs: 100, stubs: 100, articles: 2000 }
    }
}

impl Shape {
    /// A small shape for tests (generates in well under a second).
    pub fn small() -> Self {
        Shape { images: 60, texts: 40, thumbs: 10, stubs: 10, articles: 50 }
    }

    /// How many static files of `kind` there are.
    pub fn count(&self, kind: Kind) -> u32 {
        match kind {
            Kind::Image => self.images,
            Kind::Text => self.texts,
            Kind::Thumb => self.thumbs,
            Kind::Stub => self.stubs,
        }
    }

    fn describe(&self, seed: u64) -> String {
        format!(
            "seed={seed:#x} images={} texts={} thumbs={} stubs={} articles={}\n",
            self.images, self.texts, self.thumbs, self.stubs, self.articles
        )
    }
}

/// The kinds of static file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A photo-like image (random bytes in a JPEG frame).
    Image,
    /// A text file (words).
    Text,
    /// A 10 KiB image.
    Thumb,
    /// A 5 KiB text file.
    Stub,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 4] = [Kind::Image, Kind::Text, Kind::Thumb, Kind::Stub];

    fn tag(self) -> u64 {
        match self {
            Kind::Image => 1,
            Kind::Text => 2,
            Kind::Thumb => 3,
            Kind::Stub => 4,
        }
    }
}

/// The URL path (and path under the data folder, without the leading `/`) of static file `i`.
pub fn static_path(kind: Kind, i: u32) -> String {
    match kind {
        Kind::Image => format!("/static/img/{i:05}.jpg"),
        Kind::Text => format!("/static/text/{i:05}.txt"),
        Kind::Thumb => format!("/static/thumb/{i:04}.jpg"),
        Kind::Stub => format!("/static/stub/{i:04}.txt"),
    }
}

/// The bytes of static file `i`.
pub fn static_body(kind: Kind, i: u32, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed ^ kind.tag().rotate_left(40) ^ u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    match kind {
        Kind::Image => {
            let len = lognormal(&mut rng, 12.0 * 1024.0, 0.9).clamp(512, 1 << 20);
            image(&mut rng, len)
        }
        Kind::Thumb => image(&mut rng, 10 * 1024),
        Kind::Text => {
            let len = lognormal(&mut rng, 4.0 * 1024.0, 0.8).clamp(128, 256 << 10);
            words(&mut rng, len).into_bytes()
        }
        Kind::Stub => words(&mut rng, 5 * 1024).into_bytes(),
    }
}

/// The title of article `i` (a `/wiki/<title>` path segment: letters, digits and `_`).
pub fn article_title(i: u32) -> String {
    let mut rng = Rng::new(0x0054_4954_4c45 ^ u64::from(i).wrapping_mul(0xD1B5_4A32_D192_ED03));
    let mut title = String::new();
    for n in 0..2 {
        if n > 0 {
            title.push('_');
        }
        let word = WORDS[rng.below(WORDS.len() as u64) as usize];
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            title.push(first.to_ascii_uppercase());
            title.extend(chars);
        }
    }
    title.push_str(&format!("_{i}"));
    title
}

/// The text of article `i` in the site's wikitext: `== headings ==`, paragraphs, `'''bold'''`
/// and `[[links]]` to other articles. Sizes are log-normal (median 3 KiB).
pub fn article_text(i: u32, shape: &Shape, seed: u64) -> String {
    let mut rng = Rng::new(seed ^ 0xA127_1C1E ^ u64::from(i).wrapping_mul(0x94D0_49BB_1331_11EB));
    let target = lognormal(&mut rng, 3.0 * 1024.0, 0.7).clamp(400, 64 << 10);
    let mut text = format!("'''{}''' is an article of the generated wiki.\n\n", article_title(i));
    let mut section = 1;
    while text.len() < target {
        if rng.below(4) == 0 {
            text.push_str(&format!("== Section {section} ==\n"));
            section += 1;
        }
        let words = 30 + rng.below(60) as usize;
        for w in 0..words {
            if w > 0 {
                text.push(' ');
            }
            match rng.below(40) {
                0 if shape.articles > 0 => {
                    text.push_str(&format!("[[{}]]", article_title(rng.below(u64::from(shape.articles)) as u32)))
                }
                1 => text.push_str(&format!("'''{}'''", WORDS[rng.below(WORDS.len() as u64) as usize])),
                _ => text.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]),
            }
        }
        text.push_str(".\n\n");
    }
    text
}

/// FNV-1a 64 of `bytes`: how the load generator checks a body without keeping it.
pub fn digest(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// Writes the data set under `dir` unless `dir/dataset.txt` says this very shape and seed are
/// there already. Returns whether it generated anything.
///
/// # Errors
///
/// File system and SQLite errors.
pub fn ensure(dir: &Path, shape: &Shape, seed: u64) -> io::Result<bool> {
    let marker = dir.join("dataset.txt");
    if fs::read_to_string(&marker).is_ok_and(|m| m == shape.describe(seed)) {
        return Ok(false);
    }
    for kind in Kind::ALL {
        let sub = dir.join(static_path(kind, 0).trim_start_matches('/')).parent().expect("has a folder").to_owned();
        fs::create_dir_all(&sub)?;
        for i in 0..shape.count(kind) {
            let path = dir.join(static_path(kind, i).trim_start_matches('/'));
            fs::write(path, static_body(kind, i, seed))?;
        }
    }
    crate::parts::database::create(
        &dir.join("articles.db"),
        (0..shape.articles).map(|i| (article_title(i), article_text(i, shape, seed))),
    )
    .map_err(io::Error::other)?;
    fs::write(marker, shape.describe(seed))?;
    Ok(true)
}

fn image(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(len);
    bytes.extend_from_slice(&[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0]);
    while bytes.len() + 2 < len {
        bytes.extend_from_slice(&rng.next().to_le_bytes());
    }
    bytes.truncate(len.saturating_sub(2));
    bytes.extend_from_slice(&[0xFF, 0xD9]);
    bytes
}

fn words(rng: &mut Rng, len: usize) -> String {
    let mut text = String::with_capacity(len + 16);
    while text.len() < len {
        let word = WORDS[rng.below(WORDS.len() as u64) as usize];
        text.push_str(word);
        text.push(if rng.below(12) == 0 { '\n' } else { ' ' });
    }
    text.truncate(len);
    text
}

/// exp(N(ln median, sigma)), by Box-Muller.
fn lognormal(rng: &mut Rng, median: f64, sigma: f64) -> usize {
    let (u1, u2) = (rng.unit().max(1e-12), rng.unit());
    let normal = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    (median * (sigma * normal).exp()) as usize
}

/// splitmix64: small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const WORDS: &[&str] = &[
    "river", "harbor", "quantum", "granite", "lantern", "meadow", "orbit", "copper", "violet", "summit", "archive",
    "beacon", "canyon", "delta", "ember", "fjord", "glacier", "horizon", "island", "jasmine", "kernel", "lagoon",
    "mosaic", "nebula", "oasis", "prairie", "quartz", "rapids", "savanna", "tundra", "umbra", "valley", "willow",
    "xenon", "yonder", "zephyr", "atlas", "basalt", "cedar", "dune", "estuary", "forge", "grove", "hollow", "inlet",
    "juniper", "knoll", "ledger", "marble", "north", "obsidian", "pebble", "quiver", "ridge", "shale", "thistle",
    "upland", "vortex", "wharf", "yarrow", "the", "of", "and", "in", "to", "was", "is", "for", "on", "as", "with",
    "by", "from", "at", "which", "an", "its", "city", "century", "history", "known", "first", "during", "between",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_deterministic_and_shaped() {
        assert_eq!(static_body(Kind::Image, 7, SEED), static_body(Kind::Image, 7, SEED));
        assert_ne!(static_body(Kind::Image, 7, SEED), static_body(Kind::Image, 8, SEED));
        assert_eq!(static_body(Kind::Thumb, 3, SEED).len(), 10 * 1024);
        assert_eq!(static_body(Kind::Stub, 3, SEED).len(), 5 * 1024);
        let sizes: Vec<usize> = (0..400).map(|i| static_body(Kind::Image, i, SEED).len()).collect();
        let mut sorted = sizes.clone();
        sorted.sort_unstable();
        let median = sorted[sorted.len() / 2];
        assert!((8 * 1024..18 * 1024).contains(&median), "median image {median} bytes");
        assert!(sorted[sorted.len() - 1] > 3 * median, "a long tail");
        assert!(static_body(Kind::Text, 1, SEED).is_ascii());
    }

    #[test]
    fn titles_are_path_safe_and_unique() {
        let titles: std::collections::HashSet<String> = (0..2000).map(article_title).collect();
        assert_eq!(titles.len(), 2000);
        assert!(titles.iter().all(|t| t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')));
    }
}
