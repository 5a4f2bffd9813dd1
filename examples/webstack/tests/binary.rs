//! The `hatch-web` binary as scripts drive it: `serve` prints `listening on ADDR` once ready,
//! answers `GET /`, and exits 0 soon after SIGTERM (or SIGINT), having brought its components
//! home and stopped its agents; `space` prints the size of the composition space.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn serve_then_signal(signal: libc::c_int, extra: &[&str]) {
    let options = common::options();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hatch-web"))
        .args(["serve", "--listen", "127.0.0.1:0", "--shape", "small", "--data"])
        .arg(&options.data)
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .expect("hatch-web starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next().expect("a line").expect("readable");
    let addr = line.strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let mut client = common::Client::connect(addr.parse().unwrap());
    let index = client.get("/", "");
    assert_eq!(index.status, 200);
    assert!(index.text().contains("<h1>Index</h1>"));
    drop(client);
    // SAFETY: `kill` with a pid we own (our child) and a valid signal number.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "hatch-web did not stop after the signal");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
}

#[test]
fn serve_prints_its_address_and_stops_on_sigterm() {
    serve_then_signal(libc::SIGTERM, &[]);
}

#[test]
fn serve_with_a_placed_handler_stops_on_sigint() {
    let id = "{WebFrontend,DiskHandler_X{@1},BatchedScript,DirectArticles,Sqlite|\
              0:HttpHandler:1,1:Script:2,2:Articles:3,3:Database:4}";
    serve_then_signal(libc::SIGINT, &["--agents", "1", "--composition", id]);
}

#[test]
fn space_prints_the_size_of_the_space() {
    let output = Command::new(env!("CARGO_BIN_EXE_hatch-web")).args(["space", "--hosts", "10"]).output().unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("local compositions: 96"), "{text}");
    assert!(text.contains("(2 balancer choices): 399008"), "{text}");
}
