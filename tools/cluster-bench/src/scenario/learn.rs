//! `learn` (Figs 10-12): the learner from a cold start under a phase list (a light
//! `dynamic-5` phase, a heavy `dynamic-20` phase, the light phase again), its response time over
//! time against the ground truth's best, worst and all-local of each phase, and how many
//! windows it took in each phase to come within 10% of the best.

use std::fmt::Write as _;
use std::time::Duration;

use hatch_learner::decision_log::DecisionLog;
use hatch_load::{Phase, Preset};

use super::ground_truth::{self, Point};
use super::{Context, mean_ms};
use crate::cluster::Cluster;
use crate::deploy::Process;
use crate::output::{self, Series};

/// The phase list.
fn phases(ctx: &Context) -> Vec<Phase> {
    let windows = if ctx.smoke { 6 } else { 40 };
    let secs = (ctx.window.as_secs_f64() * windows as f64).ceil() as u64;
    [Preset::Dynamic5, Preset::Dynamic20, Preset::Dynamic5].into_iter().map(|preset| Phase { preset, secs }).collect()
}

/// Client-side mean response time per window of one phase, from the per-second rows.
fn window_means(report: &hatch_load::Report, from_s: u64, to_s: u64, window_s: u64) -> Vec<f64> {
    let rows: Vec<_> = report.seconds.iter().filter(|r| r.time_s >= from_s && r.time_s < to_s).collect();
    rows.chunks(window_s.max(1) as usize).map(mean_ms).collect()
}

/// The first window from which three windows in a row are within 10% of `best`.
fn converged(means: &[f64], best: f64) -> Option<usize> {
    let ok = |m: f64| m.is_finite() && m <= best * 1.1;
    (0..means.len()).find(|&w| means[w..].iter().take(3).all(|&m| ok(m)))
}

/// The scenario.
///
/// # Errors
///
/// Measuring or writing.
pub fn run(cluster: &dyn Cluster, agents: &[Process], ctx: &Context) -> std::io::Result<String> {
    let phases = phases(ctx);
    let truth = ground_truth::measure(cluster, agents, ctx, &[Preset::Dynamic5, Preset::Dynamic20])?;
    let (front, log) = super::learning_front(cluster, agents, ctx, "learn-decisions.jsonl")?;
    let report = cluster.run_load(&ctx.plan(front.addr, phases.clone()), ctx.progress)?;
    front.stop(Duration::from_secs(20));
    let decisions = DecisionLog::read(&log).unwrap_or_default();
    let window_s = ctx.window.as_secs_f64().round().max(1.0) as u64;

    let mut rows = Vec::new();
    let mut learner = Vec::new();
    let (mut best_line, mut worst_line, mut local_line) = (Vec::new(), Vec::new(), Vec::new());
    let mut summary = format!(
        "## learn (Figs 10-12)\n\nPhase list {}; window {:.1} s; {} failed requests of {}; decision log `learn-decisions.jsonl` ({} windows).\n\n",
        phases.iter().map(|p| format!("{}:{}s", p.preset.name(), p.secs)).collect::<Vec<_>>().join(","),
        ctx.window.as_secs_f64(),
        report.errors.total(),
        report.requests,
        decisions.len()
    );
    let mut table = Vec::new();
    let mut start = 0u64;
    for (i, phase) in phases.iter().enumerate() {
        let end = start + phase.secs;
        let truth_of = |p: &Point| p.preset == phase.preset;
        let (best, worst) = ground_truth::best_and_worst(&truth, phase.preset).expect("measured above");
        let local = truth.iter().find(|p| truth_of(p) && p.label == "all local").map_or(f64::NAN, |p| p.mean_ms);
        for row in report.seconds.iter().filter(|r| r.time_s >= start && r.time_s < end) {
            let t = row.time_s as f64;
            learner.push((t, row.mean_us as f64 / 1e3));
            best_line.push((t, best.mean_ms));
            worst_line.push((t, worst.mean_ms));
            local_line.push((t, local));
            rows.push(vec![
                row.time_s.to_string(),
                phase.preset.name().into(),
                row.requests.to_string(),
                row.errors.to_string(),
                format!("{:.2}", row.mean_us as f64 / 1e3),
                format!("{:.2}", best.mean_ms),
                format!("{:.2}", worst.mean_ms),
                format!("{local:.2}"),
            ]);
        }
        let means = window_means(&report, start, end, window_s);
        let within = converged(&means, best.mean_ms);
        let in_phase: Vec<_> = decisions.iter().filter(|d| d.t_s >= start as f64 && d.t_s < end as f64).collect();
        let chosen = in_phase.last().map_or("-".to_owned(), |d| d.ran.clone());
        let before = means.first().copied().unwrap_or(f64::NAN);
        let after = means.iter().rev().take(3).copied().sum::<f64>() / means.len().clamp(1, 3) as f64;
        let returning = i > 0 && phases[..i].iter().any(|p| p.preset == phase.preset);
        table.push(vec![
            format!("{} {}", phase.preset.name(), if returning { "(returns)" } else { "(new)" }),
            within.map_or("not within 10%".into(), |w| w.to_string()),
            format!("{before:.1}"),
            format!("{after:.1}"),
            format!("{:.1} (`{}`)", best.mean_ms, best.label),
            format!("{local:.1}"),
            format!("`{chosen}`"),
        ]);
        start = end;
    }
    let header = ["t_s", "phase", "requests", "errors", "mean_ms", "truth_best_ms", "truth_worst_ms", "all_local_ms"];
    output::write_csv(&ctx.out.join("learn.csv"), &header, &rows)?;
    let series = [
        Series { label: "learner (mean per second)".into(), points: learner },
        Series { label: "ground-truth best".into(), points: best_line },
        Series { label: "ground-truth worst".into(), points: worst_line },
        Series { label: "all local".into(), points: local_line },
    ];
    output::line_chart(
        &ctx.out.join("learn.png"),
        "Learning from a cold start",
        "time (s)",
        "mean response time (ms)",
        &series,
    )?;
    summary.push_str(&output::table(
        &[
            "phase",
            "windows to within 10%",
            "first window ms",
            "last 3 windows ms",
            "truth best ms",
            "all local ms",
            "design at the end",
        ],
        &table,
    ));
    let _ = writeln!(summary);
    Ok(summary)
}
