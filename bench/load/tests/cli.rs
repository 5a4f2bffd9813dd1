//! The `hatch-load` binary: arguments, summary line, CSV and exit codes.

mod support;

use std::process::Command;

use support::{Faults, TestServer};

fn hatch_load(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hatch-load")).args(args).output().expect("hatch-load runs")
}

#[test]
fn runs_a_preset_and_writes_the_summary_and_csv() {
    let server = TestServer::start(Faults::default());
    let url = format!("http://{}", server.addr());
    let csv = std::env::temp_dir().join(format!("hatch-load-cli-{}.csv", std::process::id()));
    let out = hatch_load(&[
        "--url",
        &url,
        "--preset",
        "wikipedia-heavy",
        "--duration",
        "1",
        "--connections",
        "2",
        "--shape",
        "small",
        "--cost",
        "3",
        "--csv",
        csv.to_str().expect("utf-8 temp dir"),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    let line = stdout.lines().last().expect("a summary line");
    for key in
        ["requests=", " errors=0 ", " p50_us=", " p99_us=", " mean_us=", " max_us=", " rps=", "errors_by_kind=none"]
    {
        assert!(line.contains(key), "{key} in {line}");
    }
    assert!(server.seen().iter().any(|s| s.path.ends_with("?cost=24")), "heavy pages cost 8 times the base");
    let rows = std::fs::read_to_string(&csv).expect("csv written");
    let _ = std::fs::remove_file(&csv);
    assert!(rows.starts_with("time_s,phase,requests,errors,p50_us,p99_us,mean_us\n0,wikipedia-heavy,"), "{rows}");
}

#[test]
fn exit_codes_tell_bad_arguments_from_no_server() {
    let dead = format!("http://{}", support::dead_port());
    let no_server = hatch_load(&["--url", &dead, "--duration", "1", "--shape", "small"]);
    assert_eq!(no_server.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&no_server.stderr).contains("could not connect"));
    for bad in [
        &["--url", &dead, "--preset", "nope"][..],
        &["--url", "http://127.0.0.1:1/path"],
        &["--url", &dead, "--phases", "static:1", "--duration", "3"],
        &["--url", &dead, "--connections", "0"],
        &["--url", &dead, "--timeout", "0"],
        &["--url", &dead, "--seed", "0xzz"],
        &["--duration", "1"],
    ] {
        let out = hatch_load(bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}
