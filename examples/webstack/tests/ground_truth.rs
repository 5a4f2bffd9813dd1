//! The ground-truth mode (`serve --ground-truth SET`): every composition of a set measured at
//! the handler probe under load and ranked, the site left on the best one, no request failed.

mod common;

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use hatch_load::{Phase, Plan};
use hatch_webstack::dataset::Shape;
use hatch_webstack::ground_truth::{self, GroundTruthConfig};
use hatch_webstack::site::{DEFAULT_COMPOSITION, Options, Platform};

#[test]
fn a_set_is_measured_under_load_ranked_and_its_best_left_running() {
    let options =
        Options { agents: 1, agent_binary: Some(env!("CARGO_BIN_EXE_hatch-web").into()), ..common::options() };
    let mut site = Platform::start(options).unwrap();
    let relocated = DEFAULT_COMPOSITION.replacen("CachingCompressingHandler", "CachingCompressingHandler_X{@1}", 1);
    let config = GroundTruthConfig {
        windows: 2,
        window: Duration::from_millis(300),
        ..GroundTruthConfig::new(vec![DEFAULT_COMPOSITION.to_owned(), relocated.clone()])
    };
    let plan = Plan {
        connections: 4,
        cost: 2,
        shape: Shape::small(),
        ..Plan::new(site.addr(), Phase::parse_list("dynamic-20:4").unwrap())
    };
    let load = std::thread::spawn(move || hatch_load::run(&plan, false).unwrap());
    let ranked = ground_truth::measure(&mut site, &config, &AtomicBool::new(false)).unwrap();
    let report = load.join().unwrap();
    assert_eq!(report.errors.total(), 0, "{}", report.summary_line());
    assert_eq!(ranked.len(), 2);
    for m in &ranked {
        assert_eq!(m.windows_ms.len(), 2, "{m:?}");
        assert!(m.mean_ms() > 0.0 && m.mean_ms().is_finite(), "{m:?}");
    }
    assert!(ranked[0].mean_ms() <= ranked[1].mean_ms());
    assert!(ranked.iter().any(|m| m.placed.contains("_X{")), "{ranked:?}");
    assert_eq!(site.placed().to_string(), ranked[0].placed, "the best is left running");
    let table = ground_truth::table(&ranked);
    assert_eq!(table.lines().count(), 4, "{table}");
    let csv = std::env::temp_dir().join(format!("hatch-web-gt-{}.csv", std::process::id()));
    ground_truth::write_csv(&csv, &ranked).unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().count(), 1 + 4, "{text}");
    let _ = std::fs::remove_file(csv);
    site.shutdown();
}

#[test]
fn a_set_file_skips_comments_and_refuses_emptiness() {
    let path = std::env::temp_dir().join(format!("hatch-web-gt-set-{}.txt", std::process::id()));
    std::fs::write(&path, "# all local\n0\n\n  1  \n").unwrap();
    assert_eq!(ground_truth::read_set(&path).unwrap(), ["0", "1"]);
    std::fs::write(&path, "# nothing\n\n").unwrap();
    assert!(ground_truth::read_set(&path).is_err());
    let _ = std::fs::remove_file(path);
}
