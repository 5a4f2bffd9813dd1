//! The site end to end on a local composition: correct pages (content checked, not only
//! status codes), conditional requests, encodings, edits, and every variant of every interface
//! swapped in while the site serves.

mod common;

use common::{Client, decode, platform};
use hatch_webstack::dataset::{self, Kind, Shape};

const ALL_LOCAL_CACHING_GZIP: Option<&str> = None;

#[test]
fn static_files_are_served_byte_for_byte_with_etags_and_head() {
    let site = platform(ALL_LOCAL_CACHING_GZIP);
    let mut client = Client::connect(site.addr());
    for kind in Kind::ALL {
        for i in [0, 3] {
            let path = dataset::static_path(kind, i);
            let expected = dataset::static_body(kind, i, dataset::SEED);
            let reply = client.get(&path, "");
            assert_eq!(reply.status, 200, "{path}");
            assert_eq!(reply.body, expected, "{path}");
            assert_eq!(reply.header("content-length").unwrap(), expected.len().to_string());
            assert!(reply.header("date").is_some());
            let etag = reply.header("etag").expect("static content has an ETag").to_owned();
            let again = client.get(&path, &format!("If-None-Match: {etag}\r\n"));
            assert_eq!((again.status, again.body.len()), (304, 0), "{path}");
            let other = client.get(&path, "If-None-Match: \"something-else\"\r\n");
            assert_eq!(other.status, 200);
            let head = client.request("HEAD", &path, "", b"");
            assert_eq!(head.status, 200);
            assert!(head.body.is_empty());
            assert_eq!(head.header("content-length").unwrap(), expected.len().to_string());
        }
    }
    let jpeg = client.get(&dataset::static_path(Kind::Image, 1), "");
    assert_eq!(jpeg.header("content-type"), Some("image/jpeg"));
    assert_eq!(client.get("/static/img/99999.jpg", "").status, 404);
    assert_eq!(client.get("/nowhere", "").status, 404);
}

#[test]
fn compressed_text_decompresses_to_the_original_and_images_stay_identity() {
    let site = platform(ALL_LOCAL_CACHING_GZIP);
    let mut client = Client::connect(site.addr());
    let path = dataset::static_path(Kind::Text, 2);
    let original = dataset::static_body(Kind::Text, 2, dataset::SEED);
    let gz = client.get(&path, "Accept-Encoding: br;q=0, gzip\r\n");
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(gz.header("vary"), Some("Accept-Encoding"));
    assert!(gz.body.len() < original.len());
    assert_eq!(decode(Some("gzip"), &gz.body), original);
    let plain = client.get(&path, "Accept-Encoding: gzip;q=0\r\n");
    assert_eq!((plain.header("content-encoding"), plain.body.clone()), (None, original.clone()));
    assert_ne!(gz.header("etag"), plain.header("etag"), "each representation has its own ETag");
    let image = client.get(&dataset::static_path(Kind::Image, 2), "Accept-Encoding: gzip\r\n");
    assert_eq!(image.header("content-encoding"), None);
    assert_eq!(image.body, dataset::static_body(Kind::Image, 2, dataset::SEED));
}

#[test]
fn articles_render_and_an_edit_reads_back_edited() {
    let site = platform(ALL_LOCAL_CACHING_GZIP);
    let mut client = Client::connect(site.addr());
    let index = client.get("/", "");
    assert_eq!(index.status, 200);
    assert!(index.text().contains(&format!("{} articles", Shape::small().articles)), "{}", index.text());
    let title = dataset::article_title(4);
    let page = client.get(&format!("/wiki/{title}"), "");
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    let html = page.text();
    assert!(html.contains(&format!("<h1>{title}</h1>")) && html.trim_end().ends_with("</html>"), "{html}");
    assert!(html.contains("revision 1"));

    let saved = client.request(
        "POST",
        &format!("/wiki/{title}"),
        "Content-Type: application/x-www-form-urlencoded\r\n",
        b"text=Rewritten+by+%27%27%27the+test%27%27%27.",
    );
    assert_eq!(saved.status, 303);
    assert_eq!(saved.header("location"), Some(format!("/wiki/{title}").as_str()));
    let edited = client.get(&format!("/wiki/{title}"), "").text();
    assert!(edited.contains("<p>Rewritten by <b>the test</b>.</p>"), "{edited}");
    assert!(edited.contains("revision 2"));

    let created = client.request("POST", "/wiki/Brand_New", "Content-Type: text/plain\r\n", b"== Hello ==\nworld");
    assert_eq!(created.status, 303);
    let new = client.get("/wiki/Brand_New", "").text();
    assert!(new.contains("<h2>Hello</h2>") && new.contains("<p>world</p>"), "{new}");
    assert_eq!(client.get("/wiki/No_Such_Page", "").status, 404);
    assert_eq!(client.request("POST", "/static/img/00001.jpg", "", b"x").status, 405);
    let refused = client.request("POST", "/wiki/Bad", "Content-Type: application/x-www-form-urlencoded\r\n", b"txt=1");
    assert_eq!(refused.status, 400);
}

/// Every variant of every interface, each in a composition the site serves correctly, swapped
/// in live (one platform, transitions while a client keeps its connection).
#[test]
fn every_variant_serves_the_site() {
    let handlers = [
        ("DiskHandler", ""),
        ("CachingHandler", "{cache}"),
        ("CompressingHandler", "{comp}"),
        ("CachingCompressingHandler", "{cache}{comp}"),
    ];
    let mut site = platform(ALL_LOCAL_CACHING_GZIP);
    let mut client = Client::connect(site.addr());
    let mut seen = std::collections::BTreeSet::new();
    let mut step = 0;
    for (handler, parts) in handlers {
        for (cache, comp) in [("LruCache", "Gzip"), ("S3FifoCache", "Brotli"), ("NoCache", "Identity")] {
            for (script, articles) in
                [("BatchedScript", "memo:ShardedMemo"), ("SyncScript", "memo:LockedMemo"), ("BatchedScript", "direct")]
            {
                step += 1;
                let id = composition(handler, parts, cache, comp, script, articles);
                site.transition(&id).unwrap_or_else(|e| panic!("{id}: {e}"));
                for variant in id.trim_start_matches('{').split('|').next().unwrap().split(',') {
                    seen.insert(variant.to_owned());
                }
                check_pages(&mut client, step, comp);
            }
        }
    }
    let all = [
        "WebFrontend",
        "DiskHandler",
        "CachingHandler",
        "CompressingHandler",
        "CachingCompressingHandler",
        "LruCache",
        "S3FifoCache",
        "NoCache",
        "Identity",
        "Gzip",
        "Brotli",
        "BatchedScript",
        "SyncScript",
        "MemoArticles",
        "DirectArticles",
        "ShardedMemo",
        "LockedMemo",
        "Sqlite",
    ];
    for variant in all {
        assert!(seen.contains(variant), "{variant} never ran");
    }
    let (catalog, _) = site.catalog();
    let space = catalog.registry().space::<dyn hatch_webstack::api::http::Frontend>().unwrap();
    let registered: usize = space.interfaces().map(|i| space.variants_of(i).unwrap().len()).sum();
    assert_eq!(registered, all.len(), "a variant this test does not know");
}

fn composition(handler: &str, parts: &str, cache: &str, comp: &str, script: &str, articles: &str) -> String {
    let mut variants = vec!["WebFrontend".to_owned(), handler.to_owned()];
    let mut wirings = vec!["0:HttpHandler:1".to_owned()];
    if parts.contains("{cache}") {
        wirings.push(format!("1:Cache:{}", variants.len()));
        variants.push(cache.into());
    }
    if parts.contains("{comp}") {
        wirings.push(format!("1:Compressor:{}", variants.len()));
        variants.push(comp.into());
    }
    let s = variants.len();
    wirings.push(format!("1:Script:{s}"));
    variants.push(script.into());
    wirings.push(format!("{s}:Articles:{}", s + 1));
    match articles.strip_prefix("memo:") {
        Some(memo) => {
            variants.push("MemoArticles".into());
            wirings.push(format!("{}:Memo:{}", s + 1, s + 2));
            variants.push(memo.into());
            wirings.push(format!("{}:Database:{}", s + 1, s + 3));
        }
        None => {
            variants.push("DirectArticles".into());
            wirings.push(format!("{}:Database:{}", s + 1, s + 2));
        }
    }
    variants.push("Sqlite".into());
    format!("{{{}|{}}}", variants.join(","), wirings.join(","))
}

fn check_pages(client: &mut Client, step: u32, compressor: &str) {
    let text = dataset::static_path(Kind::Text, step % 10);
    let reply = client.get(&text, "Accept-Encoding: gzip, br\r\n");
    assert_eq!(reply.status, 200);
    let original = dataset::static_body(Kind::Text, step % 10, dataset::SEED);
    assert_eq!(decode(reply.header("content-encoding"), &reply.body), original, "{text} with {compressor}");
    let title = dataset::article_title(step % Shape::small().articles);
    let page = client.get(&format!("/wiki/{title}?cost=1"), "").text();
    assert!(page.contains(&format!("<h1>{title}</h1>")), "{page}");
    let edit = format!("edit number {step}");
    assert_eq!(client.request("POST", &format!("/wiki/{title}"), "", edit.as_bytes()).status, 303);
    assert!(client.get(&format!("/wiki/{title}"), "").text().contains(&edit));
}
