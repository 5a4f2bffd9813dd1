//! The live loop on the web platform, in a short mode: the learner distributes the site over two
//! child agents (relocations, replications, variant swaps, one move per window) while
//! `hatch-load` keeps it busy, and no request fails at any transition.

mod common;

use std::time::Duration;

use hatch_load::{Phase, Plan};
use hatch_webstack::dataset::Shape;
use hatch_webstack::learn::LearnConfig;
use hatch_webstack::site::{Options, Platform};

#[test]
fn the_learner_moves_the_site_around_and_no_request_fails() {
    let log = std::env::temp_dir().join(format!("hatch-web-decisions-{}.jsonl", std::process::id()));
    let options =
        Options { agents: 2, agent_binary: Some(env!("CARGO_BIN_EXE_hatch-web").into()), ..common::options() };
    let mut site = Platform::start(options).unwrap();
    let config = LearnConfig { window: Duration::from_millis(400), log: Some(log.clone()), ..LearnConfig::default() };
    let progress = site.learn(config).unwrap();
    let phases = Phase::parse_list("wikipedia:4,dynamic-20:3,wikipedia:3").unwrap();
    let plan = Plan { connections: 6, cost: 5, shape: Shape::small(), ..Plan::new(site.addr(), phases) };
    let mut seen = std::collections::BTreeSet::new();
    let watcher = {
        let progress = progress.clone();
        std::thread::spawn(move || {
            let mut seen = std::collections::BTreeSet::new();
            for _ in 0..200 {
                seen.insert(progress.placed());
                std::thread::sleep(Duration::from_millis(50));
            }
            seen
        })
    };
    let report = hatch_load::run(&plan, false).unwrap();
    seen.extend(watcher.join().unwrap());
    site.stop_learning();
    assert_eq!(report.errors.total(), 0, "{}", report.summary_line());
    assert!(progress.windows() >= 10, "{} windows", progress.windows());
    assert!(seen.len() >= 4, "the learner tried {} designs: {seen:?}", seen.len());
    assert!(seen.iter().any(|placed| placed.contains("_X{")), "never distributed: {seen:?}");
    // Every window's decision is in the log, in order, each saying what ran and why.
    let entries = hatch::learner::decision_log::DecisionLog::read(&log).unwrap();
    assert_eq!(entries.len() as u64, progress.windows());
    for (i, entry) in entries.iter().enumerate() {
        assert_eq!(entry.window, i as u64);
        assert!(!entry.reason.is_empty() && entry.ran.starts_with("{WebFrontend"), "{entry:?}");
        assert!(entry.extra.contains_key("req/s") && entry.extra.contains_key("dynamic %"), "{entry:?}");
        if let Some(next) = entries.get(i + 1) {
            assert_eq!(entry.next, next.ran, "window {i}: what was applied is what ran next");
        }
    }
    // The site still serves correctly in whatever design it stopped at.
    let mut client = common::Client::connect(site.addr());
    assert_eq!(client.get("/", "").status, 200);
    let _ = std::fs::remove_file(log);
}
