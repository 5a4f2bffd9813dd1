//! The [`HttpHandler`] variants, the paper's four ways of serving a request: `DiskHandler`
//! (every static file read from disk), `CachingHandler` (static responses kept in a [`Cache`]),
//! `CompressingHandler` (compressible content encoded by a [`Compressor`] when the client
//! accepts its encoding) and `CachingCompressingHandler` (both, caching the encoded form).
//! All of them hand dynamic pages to the [`Script`], which writes them straight to the
//! connection.
//!
//! Routes: `GET /` (index), `GET /wiki/<title>[?cost=N]` (article), `POST /wiki/<title>` (save:
//! the body, or its `text` field when form-encoded; answers `303 See Other`), `GET /static/…`
//! (files under the data folder's `static/`). `HEAD` as `GET`.

use std::path::{Component as PathPart, Path, PathBuf};

use hatch_components::{Component, Slot};

use crate::api::cache::{Cache, Cached};
use crate::api::compress::Compressor;
use crate::api::http::{Connection, HttpHandler, Method, Request, Response};
use crate::api::script::Script;
use crate::http::accepts;

/// Titles listed on the index page.
const INDEX_TITLES: u32 = 100;

/// One handler type; the four variants differ in which of cache and compressor they have.
pub struct Handler {
    files: PathBuf,
    default_cost: u32,
    cache: Option<Slot<dyn Cache>>,
    compressor: Option<Slot<dyn Compressor>>,
    script: Slot<dyn Script>,
}

impl Handler {
    /// A handler serving static files from `files` and pages from `script` (at `default_cost`
    /// work units when the request names none), with an optional cache and compressor.
    pub fn new(
        files: PathBuf,
        default_cost: u32,
        cache: Option<Slot<dyn Cache>>,
        compressor: Option<Slot<dyn Compressor>>,
        script: Slot<dyn Script>,
    ) -> Self {
        Handler { files, default_cost, cache, compressor, script }
    }

    fn article(&self, title: &str, request: &Request, connection: &dyn Connection) -> Response {
        if request.method == Method::Post {
            return self.save(title, request);
        }
        let cost = query_param(&request.query, "cost").and_then(|c| c.parse().ok()).unwrap_or(self.default_cost);
        match self.script.load().article(title, cost, connection) {
            Ok(true) => html(200),
            Ok(false) => text(404, "no such article\n"),
            Err(e) => unavailable(&e),
        }
    }

    fn save(&self, title: &str, request: &Request) -> Response {
        let form = request.content_type.as_deref().is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
        let article = match std::str::from_utf8(&request.body) {
            Ok(body) if form => match query_param(body, "text") {
                Some(text) => text,
                None => return text(400, "a form needs a `text` field\n"),
            },
            Ok(body) => body.to_owned(),
            Err(_) => return text(400, "an article is UTF-8 text\n"),
        };
        match self.script.load().save(title, &article) {
            Ok(_) => Response {
                status: 303,
                content_type: "text/plain; charset=utf-8".into(),
                location: Some(format!("/wiki/{title}")),
                body: b"saved\n".to_vec(),
                ..Response::default()
            },
            Err(e) if e.starts_with("invalid") => text(400, &format!("{e}\n")),
            Err(e) => unavailable(&e),
        }
    }

    fn file(&self, path: &str, request: &Request) -> Response {
        let content_type = content_type(path);
        let encoder = match &self.compressor {
            Some(c) if compressible(content_type) => {
                let encoding = c.load().encoding();
                Some((c, encoding.clone(), encoding != "identity" && accepts(&request.accept_encoding, &encoding)))
            }
            _ => None,
        };
        let encoding = encoder.as_ref().filter(|e| e.2).map(|e| e.1.clone());
        let key = match &encoding {
            Some(e) => format!("{path}|{e}"),
            None => path.to_owned(),
        };
        if let Some(cache) = &self.cache
            && let Some(hit) = cache.load().get(&key)
        {
            return respond(hit, encoder.is_some());
        }
        let Some(body) = self.read(path) else { return text(404, "not found\n") };
        let tag = crate::dataset::digest(&body);
        let (body, etag) = match (&encoder, &encoding) {
            (Some((compressor, _, true)), Some(e)) => {
                (compressor.load().compress(&body), format!("\"{tag:016x}-{e}\""))
            }
            _ => (body, format!("\"{tag:016x}\"")),
        };
        let entry = Cached { content_type: content_type.to_owned(), content_encoding: encoding, etag, body };
        if let Some(cache) = &self.cache {
            cache.load().put(key, entry.clone());
        }
        respond(entry, encoder.is_some())
    }

    /// The file at URL `path` under the static folder, if it is a plain file there.
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        let relative = Path::new(path.strip_prefix('/')?);
        // The front end refuses `..` in every encoding; this is the second line of defence.
        if !relative.components().all(|c| matches!(c, PathPart::Normal(_))) {
            return None;
        }
        let full = self.files.join(relative);
        if !std::fs::metadata(&full).ok()?.is_file() {
            return None;
        }
        std::fs::read(full).ok()
    }
}

impl Component for Handler {}

impl HttpHandler for Handler {
    fn handle(&self, request: &Request, connection: &dyn Connection) -> Response {
        let path = request.path.as_str();
        if let Some(title) = path.strip_prefix("/wiki/") {
            if title.is_empty() || title.contains('/') {
                return text(404, "no such article\n");
            }
            return self.article(title, request, connection);
        }
        if request.method == Method::Post {
            return Response { status: 405, ..text(405, "only articles can be posted\n") };
        }
        if path == "/" {
            return match self.script.load().index(INDEX_TITLES, connection) {
                Ok(_) => html(200),
                Err(e) => unavailable(&e),
            };
        }
        if path.starts_with("/static/") {
            return self.file(path, request);
        }
        text(404, "not found\n")
    }
}

fn respond(entry: Cached, vary: bool) -> Response {
    Response {
        status: 200,
        content_type: entry.content_type,
        content_encoding: entry.content_encoding,
        etag: Some(entry.etag),
        vary_encoding: vary,
        body: entry.body,
        ..Response::default()
    }
}

fn html(status: u16) -> Response {
    Response { status, content_type: "text/html; charset=utf-8".into(), ..Response::default() }
}

fn text(status: u16, body: &str) -> Response {
    Response {
        status,
        content_type: "text/plain; charset=utf-8".into(),
        body: body.as_bytes().to_vec(),
        ..Response::default()
    }
}

fn unavailable(error: &str) -> Response {
    tracing::warn!(%error, "articles unavailable");
    text(503, "the articles are unavailable, try again\n")
}

/// The `Content-Type` of a static file, from its extension.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("gif") => "image/gif",
        Some("svg") => "image/svg+xml",
        Some("txt") => "text/plain; charset=utf-8",
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css",
        Some("js") => "text/javascript",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

fn compressible(content_type: &str) -> bool {
    content_type.starts_with("text/") || content_type.starts_with("application/json") || content_type.contains("svg")
}

/// The decoded value of `name` in a `application/x-www-form-urlencoded` string (`+` is a space).
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| form_decode(value))?
    })
}

fn form_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_decode() {
        assert_eq!(query_param("cost=5&x=1", "cost").as_deref(), Some("5"));
        assert_eq!(query_param("text=a+b%21%0A&y", "text").as_deref(), Some("a b!\n"));
        assert_eq!(query_param("text=%zz", "text"), None);
        assert_eq!(query_param("text=%4", "text"), None);
        assert_eq!(query_param("", "text"), None);
    }

    #[test]
    fn types_and_compressibility() {
        assert_eq!(content_type("/static/img/00001.jpg"), "image/jpeg");
        assert!(compressible(content_type("/static/text/00001.txt")));
        assert!(!compressible(content_type("/static/img/00001.jpg")));
    }
}
