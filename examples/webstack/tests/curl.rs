//! `curl` (Debian's package, installed by `ci/test`) as an independent client: keep-alive over
//! several URLs on one connection, compression it negotiates and decodes itself, conditional
//! requests, HEAD, and a form post followed by the redirect.

mod common;

use std::process::Command;

use hatch_webstack::dataset::{self, Kind};

fn curl(args: &[&str]) -> std::process::Output {
    let output = Command::new("curl").args(["--silent", "--show-error", "--max-time", "20"]).args(args).output();
    output.expect("curl is installed (ci/test installs it)")
}

#[test]
fn curl_gets_static_compressed_conditional_and_posts() {
    let site = common::platform(None);
    let base = format!("http://{}", site.addr());
    let text = dataset::static_path(Kind::Text, 1);
    let image = dataset::static_path(Kind::Image, 1);

    // Two URLs, one connection (curl reuses it: "Re-using existing connection" in -v output).
    let both = curl(&["-v", &format!("{base}{text}"), &format!("{base}{image}")]);
    assert!(both.status.success(), "{}", String::from_utf8_lossy(&both.stderr));
    let mut expected = dataset::static_body(Kind::Text, 1, dataset::SEED);
    expected.extend(dataset::static_body(Kind::Image, 1, dataset::SEED));
    assert_eq!(both.stdout, expected);
    let verbose = String::from_utf8_lossy(&both.stderr);
    assert!(verbose.contains("Re-using existing connection") || verbose.contains("Reusing existing"), "{verbose}");

    // --compressed: curl asks for gzip/br and decodes what it gets.
    let compressed = curl(&["--compressed", "-D", "-", "-o", "/dev/stderr", &format!("{base}{text}")]);
    let headers = String::from_utf8_lossy(&compressed.stdout).to_ascii_lowercase();
    assert!(headers.contains("content-encoding: gzip"), "{headers}");
    assert_eq!(compressed.stderr, dataset::static_body(Kind::Text, 1, dataset::SEED));

    // Conditional request with the ETag curl saw.
    let etag = headers.lines().find_map(|l| l.strip_prefix("etag: ")).unwrap().trim().to_owned();
    let status = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        &format!("If-None-Match: {etag}"),
        "--compressed",
        &format!("{base}{text}"),
    ]);
    assert_eq!(String::from_utf8_lossy(&status.stdout), "304");

    let head = curl(&["-I", &format!("{base}{image}")]);
    let head = String::from_utf8_lossy(&head.stdout).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200") && head.contains("content-type: image/jpeg"), "{head}");

    let posted = curl(&["-L", "--data-urlencode", "text=Written by curl", &format!("{base}/wiki/Curl_Page")]);
    let page = String::from_utf8_lossy(&posted.stdout);
    assert!(page.contains("<h1>Curl_Page</h1>") && page.contains("Written by curl"), "{page}");
}
