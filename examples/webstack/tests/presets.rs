//! The platform under `hatch-load`: every preset for a couple of seconds, and a phase list that
//! switches between them, with zero errors (hatch-load checks every body against the data set:
//! static files byte for byte, pages by title and end). Also through a relocated handler, so
//! every dynamic page comes back over the reverse proxy under concurrent load.

mod common;

use hatch_load::{Phase, Plan, Preset};
use hatch_webstack::dataset::Shape;
use hatch_webstack::site::{Options, Platform};

fn plan(site: &Platform, phases: Vec<Phase>) -> Plan {
    Plan {
        connections: 4,
        cost: 2,
        shape: Shape::small(),
        accept_encoding: Some("gzip".into()),
        ..Plan::new(site.addr(), phases)
    }
}

fn assert_clean(report: &hatch_load::Report, what: &str) {
    assert!(report.requests > 0, "{what}: no requests");
    assert_eq!(report.errors.total(), 0, "{what}: {}", report.summary_line());
}

#[test]
fn every_preset_runs_without_an_error() {
    let site = common::platform(None);
    for preset in Preset::ALL {
        let report = hatch_load::run(&plan(&site, vec![Phase { preset, secs: 2 }]), false).unwrap();
        assert_clean(&report, preset.name());
    }
    let phases = Phase::parse_list("static:1,dynamic-20:1,wikipedia:1").unwrap();
    let report = hatch_load::run(&plan(&site, phases), false).unwrap();
    assert_clean(&report, "phase list");
    let names: std::collections::BTreeSet<String> = report.seconds.iter().map(|s| s.phase.name().to_owned()).collect();
    assert_eq!(names.len(), 3, "{names:?}");
}

#[test]
fn the_wikipedia_mix_runs_cleanly_through_a_relocated_handler() {
    let id = "{WebFrontend,CachingCompressingHandler_X{@1},LruCache,Gzip,BatchedScript,MemoArticles,ShardedMemo,Sqlite|\
              0:HttpHandler:1,1:Cache:2,1:Compressor:3,1:Script:4,4:Articles:5,5:Memo:6,5:Database:7}";
    let options = Options {
        agents: 1,
        agent_binary: Some(env!("CARGO_BIN_EXE_hatch-web").into()),
        composition: Some(id.into()),
        ..common::options()
    };
    let site = Platform::start(options).unwrap();
    let report = hatch_load::run(&plan(&site, vec![Phase { preset: Preset::Wikipedia, secs: 3 }]), false).unwrap();
    assert_clean(&report, "relocated handler");
}
