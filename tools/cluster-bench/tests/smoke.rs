//! Every scenario (primes, http-handler, ground-truth, learn; the demo apart) in its smoke mode (a
//! few seconds per point) on a 3-host rack: an emulated rack as root, pinned processes on loopback
//! otherwise. Checks that each writes a well-formed CSV, a non-empty PNG and its section of
//! `summary.md`, that no request failed, and that the rack is gone afterwards.

mod common;

use std::path::Path;
use std::process::Command;

fn check_csv(path: &Path, header: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(header), "{}", path.display());
    let width = header.split(',').count();
    let rows: Vec<Vec<String>> = lines.map(fields).collect();
    assert!(!rows.is_empty(), "{}: no rows", path.display());
    for row in &rows {
        assert_eq!(row.len(), width, "{}: {row:?}", path.display());
    }
    rows
}

/// The fields of one CSV line (quoted fields may hold commas and doubled quotes).
fn fields(line: &str) -> Vec<String> {
    let (mut fields, mut field, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    fields.push(field);
    fields
}

fn check_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 2000, "{} is not a drawn PNG", path.display());
}

#[test]
fn every_scenario_runs_in_smoke_mode() {
    let out = std::env::temp_dir().join(format!("cluster-bench-smoke-{}", std::process::id()));
    let status = Command::new(env!("CARGO_BIN_EXE_cluster-bench"))
        .args([
            "--local",
            "3",
            "--scenario",
            "all",
            "--smoke",
            "--window",
            "0.5",
            "--prefix",
            "hcbsmk",
            "--subnet",
            "10.77.99",
            "--out",
        ])
        .arg(&out)
        .arg("--web")
        .arg(common::hatch_web())
        .status()
        .expect("cluster-bench runs");
    assert!(status.success(), "cluster-bench failed: {status}");
    let truth = check_csv(&out.join("ground-truth.csv"), "preset,composition,id,mean_ms,p50_ms,p99_ms,rps,errors");
    assert!(truth.iter().all(|row| row[7] == "0"), "failed requests in the ground truth: {truth:?}");
    assert!(truth.len() >= 2 * 5, "5 compositions under 2 presets: {}", truth.len());
    let learn = check_csv(
        &out.join("learn.csv"),
        "t_s,phase,requests,errors,mean_ms,truth_best_ms,truth_worst_ms,all_local_ms",
    );
    assert!(learn.iter().all(|row| row[3] == "0"), "failed requests while learning");
    let primes =
        check_csv(&out.join("primes.csv"), "placement,concurrency,calls,wrong,calls_per_s,mean_ms,p50_ms,p99_ms");
    // 2 agents: local, relocated, replicated-2, each at 2 concurrency levels, every answer right.
    assert_eq!(primes.len(), 3 * 2, "{primes:?}");
    assert!(primes.iter().all(|row| row[3] == "0" && row[2] != "0"), "wrong or no answers: {primes:?}");
    let handler = check_csv(&out.join("http-handler.csv"), "rate,composition,id,mean_ms,p50_ms,p99_ms,rps,errors");
    assert_eq!(handler.len(), 2 * 4, "4 compositions under 2 loads: {handler:?}");
    assert!(handler.iter().all(|row| row[7] == "0"), "failed requests in http-handler: {handler:?}");
    assert!(handler.iter().any(|row| row[2].contains("SyncScript") && row[2].contains("Handler_X{")), "{handler:?}");
    for plot in ["ground-truth", "learn", "primes", "primes-latency", "http-handler"] {
        check_png(&out.join(format!("{plot}.png")));
    }
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    for section in ["## ground-truth", "## learn", "## primes", "## http-handler"] {
        assert!(summary.contains(section), "{section} missing: {summary}");
    }
    // Nothing of the rack is left.
    let netns =
        Command::new("ip").args(["netns", "list"]).output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    assert!(!netns.unwrap_or_default().contains("hcbsmk"), "namespaces left behind");
    let _ = std::fs::remove_dir_all(out);
}

/// The README's main job in a short mode: the demo's table, 0 failed requests, a plot.
#[test]
fn the_demo_runs_in_a_short_mode() {
    let out = std::env::temp_dir().join(format!("cluster-bench-demo-{}", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_cluster-bench"))
        .args(["--local", "3", "--scenario", "demo", "--smoke", "--window", "0.5", "--phase-secs", "4"])
        .args(["--prefix", "hcbdmo", "--subnet", "10.77.98", "--out"])
        .arg(&out)
        .arg("--web")
        .arg(common::hatch_web())
        .output()
        .expect("cluster-bench runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains("## demo") && printed.contains("design at the end of the phase"), "{printed}");
    let rows = check_csv(&out.join("demo.csv"), "t_s,phase,requests,errors,mean_ms");
    assert!(rows.iter().all(|row| row[3] == "0"), "failed requests in the demo");
    assert_eq!(printed.matches(" 0 of ").count(), 3, "each phase reports 0 failed requests: {printed}");
    check_png(&out.join("demo.png"));
    let _ = std::fs::remove_dir_all(out);
}
