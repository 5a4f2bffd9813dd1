//! `http-handler` (Fig. 7): dynamic pages, whose script writes each page to the client's
//! connection in many small pieces (head, title, one piece per heading or paragraph, foot), with
//! the request handler local or replicated on every agent, once with the pessimistic
//! `send_sync` (`SyncScript`: one round trip to the front end per piece once the handler is
//! remote) and once with the one-way, batched `send` (`BatchedScript`: the pieces travel back
//! together), at offered loads from a light one to more than one host's CPU.

use std::fmt::Write as _;

use hatch_load::Preset;

use super::ground_truth::{self, Point};
use super::{Context, on_all, site_id};
use crate::cluster::Cluster;
use crate::deploy::Process;
use crate::output::{self, Series};

/// The four compositions: (short name, identifier).
pub fn compositions(agents: usize) -> Vec<(&'static str, String)> {
    let all = on_all(agents);
    vec![
        ("sync send, local", site_id("", "SyncScript", "")),
        ("sync send, replicated", site_id(&all, "SyncScript", "")),
        ("batched send, local", site_id("", "BatchedScript", "")),
        ("batched send, replicated", site_id(&all, "BatchedScript", "")),
    ]
}

/// How much cheaper than the calibrated dynamic page a page is here. The calibrated page (6% of
/// a host's CPU, about 15 ms) makes the script's CPU dwarf everything else; a page of a 16th of
/// it (about 1 ms of CPU) still has all its pieces, so what sending them costs shows.
const COST_DIVISOR: u32 = 16;

/// A page's script work in host-seconds at the calibrated cost (see [`crate::calibrate`]).
const CALIBRATED_PAGE_HOST_S: f64 = 0.06;

/// The offered loads, in hosts' worth of script work: light, busy, near and past one host.
fn loads(smoke: bool) -> Vec<f64> {
    if smoke { vec![0.2, 0.8] } else { vec![0.2, 0.5, 0.8, 1.2] }
}

/// Pages/s that make `load` hosts' worth of script work at the divided cost.
fn rate_for(load: f64) -> f64 {
    (load / (CALIBRATED_PAGE_HOST_S / f64::from(COST_DIVISOR))).round()
}

/// One composition at one offered load.
struct Measured {
    rate: f64,
    point: Point,
}

/// The scenario: measures, writes `http-handler.csv` and `http-handler.png` and returns its
/// summary section.
///
/// # Errors
///
/// Measuring or writing.
pub fn run(cluster: &dyn Cluster, agents: &[Process], ctx: &Context) -> std::io::Result<String> {
    if agents.is_empty() {
        return Err(std::io::Error::other("http-handler needs at least one agent host"));
    }
    let set = compositions(agents.len());
    let windows = if ctx.smoke { 2 } else { 4 };
    let loads = loads(ctx.smoke);
    let rates: Vec<f64> = loads.iter().map(|&load| rate_for(load)).collect();
    let mut setup = ctx.setup.clone();
    setup.cost = (setup.cost / COST_DIVISOR).max(1);
    let cost = setup.cost;
    let mut measured = Vec::new();
    for &rate in &rates {
        // Dynamic pages only (the preset's mix), offered at `rate`.
        let at = Context { rate: Some(rate), setup: setup.clone(), ..ctx.clone() };
        let name = format!("http-handler {rate}/s");
        for point in ground_truth::measure_set(cluster, agents, &at, &[Preset::Dynamic5], &set, &name, windows)? {
            measured.push(Measured { rate, point });
        }
    }

    let rows: Vec<Vec<String>> = measured
        .iter()
        .map(|m| {
            vec![format!("{}", m.rate), m.point.label.into(), m.point.composition.clone()]
                .into_iter()
                .chain(m.point.figures())
                .collect()
        })
        .collect();
    let header = ["rate", "composition", "id", "mean_ms", "p50_ms", "p99_ms", "rps", "errors"];
    output::write_csv(&ctx.out.join("http-handler.csv"), &header, &rows)?;
    let series: Vec<Series> = set
        .iter()
        .map(|(label, _)| Series {
            label: (*label).into(),
            points: measured.iter().filter(|m| m.point.label == *label).map(|m| (m.rate, m.point.mean_ms)).collect(),
        })
        .collect();
    output::line_chart(
        &ctx.out.join("http-handler.png"),
        "HTTP handler (Fig. 7): dynamic pages in many small sends",
        "offered dynamic pages/s",
        "mean response time (ms)",
        &series,
    )?;

    let mean = |rate: f64, label: &str| {
        measured.iter().find(|m| m.rate == rate && m.point.label == label).map_or(f64::NAN, |m| m.point.mean_ms)
    };
    let mut summary = String::from("## http-handler (Fig. 7)\n\n");
    let table: Vec<Vec<String>> = measured
        .iter()
        .map(|m| {
            let p = &m.point;
            let local = if p.label.starts_with("sync") { "sync send, local" } else { "batched send, local" };
            vec![format!("{}", m.rate), p.label.into()]
                .into_iter()
                .chain(p.figures())
                .chain([format!("{:.2}x", p.mean_ms / mean(m.rate, local))])
                .collect()
        })
        .collect();
    summary.push_str(&output::table(
        &["pages/s", "composition", "mean ms", "p50 ms", "p99 ms", "req/s", "errors", "mean vs local"],
        &table,
    ));
    let ratio = |rate: f64, send: &str| {
        mean(rate, &format!("{send} send, replicated")) / mean(rate, &format!("{send} send, local"))
    };
    let hosts_of = |rate: f64| loads[rates.iter().position(|&r| r == rate).unwrap_or(0)];
    let list = |v: &[f64]| {
        if v.is_empty() {
            "none".to_owned()
        } else {
            v.iter().map(|&r| format!("{r} pages/s ({} hosts of work)", hosts_of(r))).collect::<Vec<_>>().join(", ")
        }
    };
    let sync_worse: Vec<f64> = rates.iter().copied().filter(|&r| ratio(r, "sync") > 1.0).collect();
    let batched_better: Vec<f64> = rates.iter().copied().filter(|&r| ratio(r, "batched") < 1.0).collect();
    // The paper's heavy load: the busiest point the local design still keeps up with.
    let heavy = rates.iter().copied().rfind(|&r| hosts_of(r) < 1.0).unwrap_or(rates[0]);
    let reversal = ratio(heavy, "sync") > 1.0 && ratio(heavy, "batched") < 1.0;
    let _ = writeln!(
        summary,
        "\nPages of {cost} work units (the calibrated cost / {COST_DIVISOR}), offered at {} hosts' worth of script \
         work. Synchronous `send` makes the replicated handler worse than local at: {}; batched `send` makes it \
         better at: {}. At the heaviest load below one host ({heavy} pages/s) replicating costs {:.2}x local's \
         mean response time with synchronous `send` and {:.2}x with batched `send`: the paper's reversal is {}.\n\n\
         Why: a replicated handler runs the script on the agents, while the client's connection stays on the \
         front end, and the script writes each page in many small pieces (head, title, one per heading or \
         paragraph, foot). With `send_sync` every piece is a round trip over the reverse proxy, each one waiting \
         for the front end to be scheduled within its CPU quota, so a page pays one round trip per piece; with \
         the one-way `send` the pieces are batched and travel back with the call's reply, one round trip per \
         page. So synchronous replication adds latency at every load the front end keeps up with, while batched \
         replication costs about one round trip and, as the load nears one host's CPU, spreads the script over \
         the agents and wins. Past one host of work the local design saturates and queues, and then even \
         synchronous replication wins: the emulated links have no delay (no `tc netem` on this kernel), so all of \
         a page's round trips over the veths add only {:.1} ms (mean, synchronous minus batched replicated, \
         averaged over the loads); on a real network each costs several times more and the synchronous design \
         saturates the front end sooner. Local, the two scripts are one design (the connection is in the same \
         process and `send_sync` returns at once), so the two local rows measure it twice: their difference is \
         this run's noise.\n",
        loads.iter().map(f64::to_string).collect::<Vec<_>>().join(", "),
        list(&sync_worse),
        list(&batched_better),
        ratio(heavy, "sync"),
        ratio(heavy, "batched"),
        if reversal { "reproduced" } else { "not reproduced in this run" },
        rates.iter().map(|&r| mean(r, "sync send, replicated") - mean(r, "batched send, replicated")).sum::<f64>()
            / rates.len() as f64,
    );
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_four_compositions_differ_only_in_script_and_placement() {
        let set = compositions(2);
        assert_eq!(set.len(), 4);
        assert!(set[0].1.contains(",SyncScript,") && set[0].1.contains("CachingCompressingHandler,"));
        assert!(set[1].1.contains("CachingCompressingHandler_X{@1;@2},") && set[1].1.contains(",SyncScript,"));
        assert!(set[2].1.contains(",BatchedScript,") && !set[2].1.contains("_X"));
        assert!(set[3].1.contains("Handler_X{@1;@2},") && set[3].1.contains(",BatchedScript,"));
    }
}
