//! Whole runs against the in-test server. Timing assertions are lower bounds with wide margins:
//! the machine running them may be small and busy.

mod support;

use std::net::SocketAddr;
use std::thread;
use std::time::Duration;

use hatch_load::{ErrorKind, Phase, Plan, Preset, run};
use hatch_webstack::dataset::{self, Kind, Shape};
use support::{Faults, TestServer};

fn plan(addr: SocketAddr, phases: &str, connections: usize) -> Plan {
    Plan {
        connections,
        shape: Shape::small(),
        seed: dataset::SEED,
        cost: 1,
        timeout: Duration::from_secs(5),
        ..Plan::new(addr, Phase::parse_list(phases).expect("phases"))
    }
}

#[test]
fn closed_loop_counts_requests_without_errors() {
    let server = TestServer::start(Faults::default());
    let report = run(&plan(server.addr(), "wikipedia:1", 4), false).expect("run");
    assert_eq!(report.errors.total(), 0, "{}", report.summary_line());
    assert!(report.requests >= 50, "{}", report.summary_line());
    assert_eq!(report.total.len(), report.requests, "every request has a latency");
    assert_eq!(report.connects, 4, "keep-alive: one connection each");
    assert_eq!(report.seconds.len(), 1);
    assert_eq!(report.seconds[0].requests, report.requests);
    let seen = server.seen();
    assert_eq!(seen.len() as u64, report.requests);
    for prefix in ["/static/img/", "/static/text/", "/wiki/"] {
        assert!(seen.iter().any(|s| s.path.starts_with(prefix)), "no {prefix} request");
    }
    assert!(seen.iter().filter(|s| s.path.starts_with("/wiki/")).all(|s| s.path.ends_with("?cost=1")));
    let line = report.summary_line();
    assert!(line.starts_with(&format!("requests={} errors=0 p50_us=", report.requests)), "{line}");
    assert!(line.contains(" p99_us=") && line.contains(" rps=") && line.ends_with("errors_by_kind=none"), "{line}");
}

#[test]
fn gzip_and_chunked_bodies_are_checked_after_decoding() {
    let server = TestServer::start(Faults { chunked: true, ..Faults::default() });
    let plan = Plan { accept_encoding: Some("gzip".into()), ..plan(server.addr(), "static:1", 2) };
    let report = run(&plan, false).expect("run");
    assert_eq!(report.errors.total(), 0, "{}", report.summary_line());
    assert!(report.requests > 10);
    assert!(server.seen().iter().all(|s| s.gzip));
}

#[test]
fn a_wrong_body_is_a_wrong_content_error() {
    let wrong = dataset::static_path(Kind::Thumb, 3);
    let server = TestServer::start(Faults { wrong_path: Some(wrong.clone()), ..Faults::default() });
    let report = run(&plan(server.addr(), "thumbs:1", 2), false).expect("run");
    let wrong_content = report.errors.get(ErrorKind::WrongContent);
    let asked = server.seen().iter().filter(|s| s.path == wrong).count() as u64;
    assert!(asked > 0, "thumb 3 of 10 was never drawn");
    assert_eq!(wrong_content, asked, "{}", report.summary_line());
    assert_eq!(report.errors.total(), wrong_content, "only wrong content: {}", report.summary_line());
    assert!(wrong_content * 2 < report.requests, "one path in ten: {}", report.summary_line());
    assert!(report.summary_line().contains(&format!("errors_by_kind=wrong_content:{wrong_content}")));
}

#[test]
fn a_stall_shows_in_open_loop_latency() {
    // 200 requests/s over 4 connections; the server stops answering for 300 ms once. Every
    // request due in that window is charged from its intended send time: about 40 wait
    // 100 ms or more, although each connection has only one request outstanding.
    let stall = (Duration::from_millis(500), Duration::from_millis(300));
    let server = TestServer::start(Faults { stall: Some(stall), ..Faults::default() });
    let plan = Plan { rate: Some(200.0), ..plan(server.addr(), "thumbs:2", 4) };
    let report = run(&plan, false).expect("run");
    let slow = report.total.count_between(100_000, u64::MAX);
    assert_eq!(report.errors.total(), 0, "{}", report.summary_line());
    assert!(report.requests + report.unsent == 400, "the schedule: {}", report.summary_line());
    assert!(slow >= 20, "{slow} requests at 100 ms or more: {}", report.summary_line());
    assert!(report.total.value_at_quantile(0.99) >= 100_000, "{}", report.summary_line());
}

#[test]
fn refused_connections_are_errors_and_the_run_goes_on() {
    let mut server = TestServer::start(Faults::default());
    let plan = plan(server.addr(), "thumbs:2", 2);
    let loader = thread::spawn(move || run(&plan, false));
    thread::sleep(Duration::from_millis(600));
    let served = server.seen().len();
    server.shutdown();
    let report = loader.join().expect("loader").expect("run");
    assert!(served > 0);
    assert!(report.errors.get(ErrorKind::Connect) > 0, "{}", report.summary_line());
    assert!(report.requests > report.errors.total(), "{}", report.summary_line());
    // The backoff keeps a dead server from being hammered: at most one try per 10 ms.
    assert!(report.errors.get(ErrorKind::Connect) < 2 * 2 * 100, "{}", report.summary_line());
}

#[test]
fn no_server_at_all_fails_the_run() {
    let addr = support::dead_port();
    let error = run(&plan(addr, "static:1", 3), false).expect_err("nothing listens");
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
    assert!(error.to_string().contains(&addr.to_string()), "{error}");
}

#[test]
fn bad_plans_are_refused_before_connecting() {
    let addr = support::dead_port();
    let no_thumbs = Plan { shape: Shape { thumbs: 0, ..Shape::small() }, ..plan(addr, "thumbs:1", 1) };
    assert_eq!(run(&no_thumbs, false).expect_err("no thumbs").kind(), std::io::ErrorKind::InvalidInput);
    let no_connections = Plan { connections: 0, ..plan(addr, "static:1", 1) };
    assert_eq!(run(&no_connections, false).expect_err("none").kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn phases_switch_and_the_csv_names_them() {
    let server = TestServer::start(Faults::default());
    let report = run(&plan(server.addr(), "thumbs:1,dynamic-20:1", 2), false).expect("run");
    assert_eq!(report.errors.total(), 0, "{}", report.summary_line());
    let phases: Vec<Preset> = report.seconds.iter().map(|row| row.phase).collect();
    assert_eq!(phases, [Preset::Thumbs, Preset::Dynamic20]);

    // dynamic-20 is open loop at 20 requests/s by default: exactly 20 sends were due.
    let seen = server.seen();
    let wiki = seen.iter().filter(|s| s.path.starts_with("/wiki/")).count() as u64;
    assert_eq!(wiki + report.unsent, 20, "{}", report.summary_line());
    let first = seen.first().expect("requests").at;
    let first_wiki = seen.iter().find(|s| s.path.starts_with("/wiki/")).expect("wiki").at;
    assert!(first_wiki >= first + Duration::from_millis(900), "dynamic pages only in the second phase");
    let thumbs = report.phases[0].requests;
    assert!(thumbs > 10 * wiki, "the closed-loop phase is much busier: {thumbs} vs {wiki}");
    // The second phase holds the dynamic pages and at most one straggler per connection.
    assert!((wiki..=wiki + 2).contains(&report.phases[1].requests), "{:?}", report.seconds);

    let path = std::env::temp_dir().join(format!("hatch-load-test-{}.csv", std::process::id()));
    report.write_csv(&path).expect("csv");
    let csv = std::fs::read_to_string(&path).expect("read csv");
    let _ = std::fs::remove_file(&path);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert_eq!(lines[0], "time_s,phase,requests,errors,p50_us,p99_us,mean_us");
    assert!(lines[1].starts_with(&format!("0,thumbs,{},0,", report.seconds[0].requests)), "{csv}");
    assert!(lines[2].starts_with(&format!("1,dynamic-20,{},0,", report.seconds[1].requests)), "{csv}");
    assert_eq!(lines[2].split(',').count(), 7);
}
