//! `http-handler` (Fig. 7): dynamic pages, whose script writes each page to the client's
//! connection in many small pieces (head, title, one piece per heading or paragraph, foot), with
//! the request handler local or replicated on every agent, once with the pessimistic
//! `send_sync` (`SyncScript`: one round trip to the front end per piece once the handler is
//! remote) and once with the one-way, batched `send` (`BatchedScript`: the pieces travel back
//! together), under a light (`dynamic-5`) and a heavy (`dynamic-20`) load.

use std::fmt::Write as _;

use hatch_load::Preset;

use super::ground_truth;
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
    let presets = [Preset::Dynamic5, Preset::Dynamic20];
    let set = compositions(agents.len());
    let windows = if ctx.smoke { 2 } else { 4 };
    let points = ground_truth::measure_set(cluster, agents, ctx, &presets, &set, "http-handler", windows)?;

    let rows: Vec<Vec<String>> = points
        .iter()
        .map(|p| {
            vec![p.preset.name().into(), p.label.into(), p.composition.clone()].into_iter().chain(p.figures()).collect()
        })
        .collect();
    let header = ["preset", "composition", "id", "mean_ms", "p50_ms", "p99_ms", "rps", "errors"];
    output::write_csv(&ctx.out.join("http-handler.csv"), &header, &rows)?;
    let series: Vec<Series> = set
        .iter()
        .map(|(label, _)| Series {
            label: (*label).into(),
            points: presets
                .iter()
                .enumerate()
                .filter_map(|(i, preset)| {
                    points.iter().find(|p| p.preset == *preset && p.label == *label).map(|p| (i as f64, p.mean_ms))
                })
                .collect(),
        })
        .collect();
    output::line_chart(
        &ctx.out.join("http-handler.png"),
        "HTTP handler (Fig. 7): mean response time (x: 0 = dynamic-5, 1 = dynamic-20)",
        "load (0 = dynamic-5, 1 = dynamic-20)",
        "mean response time (ms)",
        &series,
    )?;

    let mean = |preset: Preset, label: &str| {
        points.iter().find(|p| p.preset == preset && p.label == label).map_or(f64::NAN, |p| p.mean_ms)
    };
    let mut summary = String::from("## http-handler (Fig. 7)\n\n");
    let table: Vec<Vec<String>> = points
        .iter()
        .map(|p| {
            let local = if p.label.starts_with("sync") { "sync send, local" } else { "batched send, local" };
            let vs = p.mean_ms / mean(p.preset, local);
            vec![p.preset.name().into(), p.label.into()]
                .into_iter()
                .chain(p.figures())
                .chain([format!("{vs:.2}x")])
                .collect()
        })
        .collect();
    summary.push_str(&output::table(
        &["load", "composition", "mean ms", "p50 ms", "p99 ms", "req/s", "errors", "mean vs local"],
        &table,
    ));
    let heavy = Preset::Dynamic20;
    let sync_ratio = mean(heavy, "sync send, replicated") / mean(heavy, "sync send, local");
    let batched_ratio = mean(heavy, "batched send, replicated") / mean(heavy, "batched send, local");
    let light_sync = mean(Preset::Dynamic5, "sync send, replicated") / mean(Preset::Dynamic5, "sync send, local");
    let reversal = sync_ratio > 1.0 && batched_ratio < 1.0;
    let _ = writeln!(
        summary,
        "\nUnder the heavy load (dynamic-20) replicating the handler takes the mean response time to {sync_ratio:.2}x \
         local's with synchronous `send` and to {batched_ratio:.2}x with batched `send` ({light_sync:.2}x with \
         synchronous `send` under the light load). The paper's reversal (synchronous worse than local, batched \
         better): {}.\n\n\
         Why: a replicated handler runs the script on the agents, and the script writes each page in many small \
         pieces to the client's connection, which stays on the front end. With `send_sync` every piece is a round \
         trip over the reverse proxy, so a page pays one network round trip (and one wake-up of a CPU-limited \
         front end) per piece; that costs more than the CPU the agents add. With the one-way `send` the pieces are \
         batched and travel back with the call's reply, so a page costs one round trip, and once the load needs \
         more CPU than one host has, spreading the script over the agents wins.\n",
        if reversal { "reproduced" } else { "not reproduced on this run" }
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
