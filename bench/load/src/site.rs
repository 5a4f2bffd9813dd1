//! What the site serves and how each response is checked: the table of static files (path,
//! length and digest, computed once from the data set's seed), the article titles, and the
//! popularity of each.

use std::borrow::Cow;
use std::fmt;
use std::thread;

use hatch_webstack::dataset::{self, Kind, Shape};

use crate::client::Response;
use crate::errors::ErrorKind;
use crate::preset::Preset;
use crate::rng::{Rng, Zipf};

/// Files below this count are digested on the calling thread.
const PARALLEL_FROM: u32 = 256;

/// One static file as the server must serve it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticFile {
    /// The URL path.
    pub path: String,
    /// The body length in bytes.
    pub len: usize,
    /// The body's [`dataset::digest`].
    pub digest: u64,
}

/// One request to make and what its response must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target<'a> {
    /// A static file: 200 and exactly its bytes.
    Static(&'a StaticFile),
    /// An article page with `cost` units of script work: 200, an HTML page holding the title.
    Article {
        /// The article's title (its `/wiki/` path segment).
        title: &'a str,
        /// The script's work units (`?cost=`).
        cost: u32,
    },
    /// The index page: 200.
    Index,
}

impl Target<'_> {
    /// The request path.
    pub fn path(&self) -> Cow<'_, str> {
        match self {
            Target::Static(file) => Cow::Borrowed(&file.path),
            Target::Article { title, cost } => Cow::Owned(format!("/wiki/{title}?cost={cost}")),
            Target::Index => Cow::Borrowed("/"),
        }
    }

    /// Checks `response` against what this target must return.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Status`] or [`ErrorKind::ServerError`] for any status but 200,
    /// [`ErrorKind::WrongContent`] for a body that is not the expected one (or cannot be
    /// decoded).
    pub fn check(&self, response: &Response) -> Result<(), ErrorKind> {
        if response.status != 200 {
            return Err(ErrorKind::of_status(response.status));
        }
        let body = response.decoded_body().map_err(|_| ErrorKind::WrongContent)?;
        let right = match self {
            Target::Static(file) => body.len() == file.len && dataset::digest(&body) == file.digest,
            Target::Article { title, .. } => {
                contains(&body, title.as_bytes()) && body.trim_ascii_end().ends_with(b"</html>")
            }
            Target::Index => true,
        };
        if right { Ok(()) } else { Err(ErrorKind::WrongContent) }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// A data set's shape has no item of a kind a preset asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmptyKind {
    /// The preset.
    pub preset: Preset,
    /// What it needs: a static kind's name or `articles`.
    pub what: &'static str,
}

impl fmt::Display for EmptyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "preset {} needs {}, but the data set's shape has none", self.preset, self.what)
    }
}

impl std::error::Error for EmptyKind {}

/// The site of one data set (shape and seed), ready to pick and check requests.
#[derive(Debug)]
pub struct Site {
    files: [Vec<StaticFile>; 4],
    popularity: [Zipf; 4],
    titles: Vec<String>,
    article_popularity: Zipf,
}

impl Site {
    /// The site of `shape` and `seed`, with the static tables the `presets` need (computed here,
    /// in parallel: the default shape digests about 40 MB).
    ///
    /// # Errors
    ///
    /// [`EmptyKind`] when a preset needs a kind of which `shape` has no item.
    pub fn new(shape: &Shape, seed: u64, presets: &[Preset]) -> Result<Site, EmptyKind> {
        let needs = |kind: Kind| presets.iter().any(|p| share(p, kind) > 0.0);
        for &preset in presets {
            for kind in Kind::ALL {
                if share(&preset, kind) > 0.0 && shape.count(kind) == 0 {
                    return Err(EmptyKind { preset, what: kind_name(kind) });
                }
            }
            if preset.mix().dynamic > 0.0 && shape.articles == 0 {
                return Err(EmptyKind { preset, what: "articles" });
            }
        }
        let files = Kind::ALL.map(|kind| if needs(kind) { table(kind, shape.count(kind), seed) } else { Vec::new() });
        let popularity = Kind::ALL.map(|kind| Zipf::new(files[slot(kind)].len(), exponent(kind)));
        let titles: Vec<String> = (0..shape.articles).map(dataset::article_title).collect();
        let article_popularity = Zipf::new(titles.len(), 1.0);
        Ok(Site { files, popularity, titles, article_popularity })
    }

    /// The static files of `kind` (empty unless a preset given to [`Site::new`] needs them).
    pub fn files(&self, kind: Kind) -> &[StaticFile] {
        &self.files[slot(kind)]
    }

    /// Draws the next request of `preset` (articles cost `cost` times the preset's multiplier).
    pub fn pick(&self, preset: Preset, cost: u32, rng: &mut Rng) -> Target<'_> {
        let mix = preset.mix();
        let classes = [
            (mix.image, Some(Kind::Image)),
            (mix.text, Some(Kind::Text)),
            (mix.thumb, Some(Kind::Thumb)),
            (mix.stub, Some(Kind::Stub)),
            (mix.dynamic, None),
        ];
        let mut u = rng.unit();
        // Rounding can leave `u` just above the last share: fall back to the last class present.
        let class = classes.iter().find(|(share, _)| {
            u -= share;
            *share > 0.0 && u < 0.0
        });
        let class = class.or_else(|| classes.iter().rev().find(|(share, _)| *share > 0.0));
        match class.and_then(|&(_, kind)| kind) {
            Some(kind) => {
                let i = self.popularity[slot(kind)].sample(rng);
                self.files[slot(kind)].get(i).map_or(Target::Index, Target::Static)
            }
            None => match self.titles.get(self.article_popularity.sample(rng)) {
                Some(title) => Target::Article { title, cost: cost.saturating_mul(preset.cost_multiplier()) },
                None => Target::Index,
            },
        }
    }
}

fn share(preset: &Preset, kind: Kind) -> f64 {
    let mix = preset.mix();
    match kind {
        Kind::Image => mix.image,
        Kind::Text => mix.text,
        Kind::Thumb => mix.thumb,
        Kind::Stub => mix.stub,
    }
}

fn slot(kind: Kind) -> usize {
    match kind {
        Kind::Image => 0,
        Kind::Text => 1,
        Kind::Thumb => 2,
        Kind::Stub => 3,
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Image => "images",
        Kind::Text => "texts",
        Kind::Thumb => "thumbs",
        Kind::Stub => "stubs",
    }
}

/// Popular items are asked for more often (Zipf, exponent 1), except for the fixed-size files
/// of the nginx comparison, which are drawn uniformly.
fn exponent(kind: Kind) -> f64 {
    match kind {
        Kind::Thumb | Kind::Stub => 0.0,
        Kind::Image | Kind::Text => 1.0,
    }
}

fn table(kind: Kind, count: u32, seed: u64) -> Vec<StaticFile> {
    let file = |i: u32| {
        let body = dataset::static_body(kind, i, seed);
        StaticFile { path: dataset::static_path(kind, i), len: body.len(), digest: dataset::digest(&body) }
    };
    let threads = thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    if count < PARALLEL_FROM || threads < 2 {
        return (0..count).map(file).collect();
    }
    let per = count.div_ceil(threads);
    thread::scope(|scope| {
        let parts: Vec<_> = (0..threads)
            .map(|t| {
                let range = (t * per).min(count)..((t + 1) * per).min(count);
                scope.spawn(move || range.map(file).collect::<Vec<_>>())
            })
            .collect();
        // A digest thread only panics if the data set's generator does; so does this one then.
        parts.into_iter().flat_map(|part| part.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Response {
        Response {
            status,
            reason: String::new(),
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.as_bytes().to_vec())).collect(),
            body: body.to_vec(),
        }
    }

    #[test]
    fn tables_match_the_data_set() {
        let site = Site::new(&Shape::small(), 9, &[Preset::Static, Preset::Stubs]).unwrap();
        assert_eq!(site.files(Kind::Image).len(), 60);
        assert_eq!(site.files(Kind::Thumb).len(), 0, "no preset asked for thumbs");
        let file = &site.files(Kind::Text)[3];
        let body = dataset::static_body(Kind::Text, 3, 9);
        assert_eq!((file.path.as_str(), file.len), ("/static/text/00003.txt", body.len()));
        assert_eq!(Target::Static(file).check(&response(200, &[], &body)), Ok(()));
        let mut wrong = body.clone();
        wrong[0] ^= 1;
        assert_eq!(Target::Static(file).check(&response(200, &[], &wrong)), Err(ErrorKind::WrongContent));
        assert_eq!(Target::Static(file).check(&response(200, &[], &body[1..])), Err(ErrorKind::WrongContent));
        assert_eq!(Target::Static(file).check(&response(503, &[], &body)), Err(ErrorKind::ServerError));
        assert_eq!(Target::Static(file).check(&response(206, &[], &body)), Err(ErrorKind::Status));
        assert_eq!(
            Target::Static(file).check(&response(200, &[("content-encoding", "br")], &body)),
            Err(ErrorKind::WrongContent)
        );
    }

    #[test]
    fn parallel_tables_equal_serial_ones() {
        let serial: Vec<StaticFile> = (0..300)
            .map(|i| {
                let body = dataset::static_body(Kind::Stub, i, 5);
                StaticFile {
                    path: dataset::static_path(Kind::Stub, i),
                    len: body.len(),
                    digest: dataset::digest(&body),
                }
            })
            .collect();
        assert_eq!(table(Kind::Stub, 300, 5), serial);
    }

    #[test]
    fn gzip_bodies_are_decoded_before_checking() {
        use std::io::Write;
        let site = Site::new(&Shape::small(), 1, &[Preset::Thumbs]).unwrap();
        let file = &site.files(Kind::Thumb)[0];
        let body = dataset::static_body(Kind::Thumb, 0, 1);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&body).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(Target::Static(file).check(&response(200, &[("content-encoding", "gzip")], &gz)), Ok(()));
        assert_eq!(
            Target::Static(file).check(&response(200, &[("content-encoding", "gzip")], &gz[..gz.len() / 2])),
            Err(ErrorKind::WrongContent)
        );
    }

    #[test]
    fn articles_need_their_title_and_a_closed_page() {
        let article = Target::Article { title: "River_Delta_3", cost: 20 };
        assert_eq!(article.path(), "/wiki/River_Delta_3?cost=20");
        let ok = b"<!doctype html><html><h1>River_Delta_3</h1><p>x</p></html>\n";
        assert_eq!(article.check(&response(200, &[], ok)), Ok(()));
        assert_eq!(
            article.check(&response(200, &[], b"<html><h1>River_Delta_4</h1></html>")),
            Err(ErrorKind::WrongContent)
        );
        assert_eq!(article.check(&response(200, &[], b"<html><h1>River_Delta_3</h1>")), Err(ErrorKind::WrongContent));
        assert_eq!(Target::Index.check(&response(404, &[], b"")), Err(ErrorKind::Status));
    }

    #[test]
    fn picks_follow_the_mix() {
        let site = Site::new(&Shape::small(), 1, &[Preset::Wikipedia]).unwrap();
        let mut rng = Rng::new(1, 0);
        let (mut images, mut texts, mut articles) = (0, 0, 0);
        for _ in 0..10_200 {
            match site.pick(Preset::WikipediaHeavy, 20, &mut rng) {
                Target::Static(f) if f.path.starts_with("/static/img/") => images += 1,
                Target::Static(_) => texts += 1,
                Target::Article { cost, .. } => {
                    assert_eq!(cost, 160);
                    articles += 1;
                }
                Target::Index => panic!("no index in the mix"),
            }
        }
        assert!((5_000..5_800).contains(&images), "{images}");
        assert!((2_700..3_500).contains(&texts), "{texts}");
        assert!((1_400..2_000).contains(&articles), "{articles}");
    }

    #[test]
    fn empty_kinds_are_refused() {
        let shape = Shape { thumbs: 0, ..Shape::small() };
        let err = Site::new(&shape, 1, &[Preset::Static, Preset::Thumbs]).unwrap_err();
        assert_eq!(err, EmptyKind { preset: Preset::Thumbs, what: "thumbs" });
        let shape = Shape { articles: 0, ..Shape::small() };
        assert!(Site::new(&shape, 1, &[Preset::Dynamic5]).is_err());
    }
}
