//! `demo`, the README's main job: the web platform starts all local on a small rack, serves a
//! phase list that moves from a static-heavy mix to heavy dynamic pages and back, and the
//! learner distributes it live. Prints, per phase, the design it ended on (in the paper's
//! identifier notation), the response time at the start and at the end of the phase, and the
//! failed requests.

use std::fmt::Write as _;
use std::time::Duration;

use hatch_learner::decision_log::DecisionLog;
use hatch_load::{Phase, Preset};

use super::{Context, mean_ms};
use crate::cluster::Cluster;
use crate::deploy::Process;
use crate::output::{self, Series};

/// The scenario, with phases of `phase_secs` each.
///
/// # Errors
///
/// Starting the front end, the load, or writing the results.
pub fn run(cluster: &dyn Cluster, agents: &[Process], ctx: &Context, phase_secs: u64) -> std::io::Result<String> {
    let phases: Vec<Phase> = [Preset::Wikipedia, Preset::Dynamic20, Preset::Wikipedia]
        .into_iter()
        .map(|preset| Phase { preset, secs: phase_secs })
        .collect();
    let (front, log) = super::learning_front(cluster, agents, ctx, "demo-decisions.jsonl")?;
    println!(
        "serving on {} (all local); the learner takes over, one window every {:.0} s",
        front.addr,
        ctx.window.as_secs_f64()
    );
    let report = cluster.run_load(&ctx.plan(front.addr, phases.clone()), ctx.progress)?;
    front.stop(Duration::from_secs(20));
    let decisions = DecisionLog::read(&log).unwrap_or_default();

    let mut table = Vec::new();
    let mut rows = Vec::new();
    let mut points = Vec::new();
    let mut start = 0;
    for phase in &phases {
        let end = start + phase.secs;
        let seconds: Vec<_> = report.seconds.iter().filter(|r| r.time_s >= start && r.time_s < end).collect();
        let edge = (ctx.window.as_secs() * 2).max(2) as usize;
        let before = mean_ms(&seconds[..seconds.len().min(edge)]);
        let after = mean_ms(&seconds[seconds.len().saturating_sub(edge)..]);
        let errors: u64 = seconds.iter().map(|r| r.errors).sum();
        let requests: u64 = seconds.iter().map(|r| r.requests).sum();
        let chosen = decisions
            .iter()
            .rfind(|d| d.t_s >= start as f64 && d.t_s < end as f64)
            .map_or_else(|| "-".to_owned(), |d| d.next.clone());
        for r in &seconds {
            points.push((r.time_s as f64, r.mean_us as f64 / 1e3));
            rows.push(vec![
                r.time_s.to_string(),
                phase.preset.name().into(),
                r.requests.to_string(),
                r.errors.to_string(),
                format!("{:.2}", r.mean_us as f64 / 1e3),
            ]);
        }
        let ms = |x: f64| if x.is_finite() { format!("{x:.1}") } else { "none finished".into() };
        table.push(vec![
            phase.preset.name().to_owned(),
            ms(before),
            ms(after),
            format!("{errors} of {requests}"),
            format!("`{chosen}`"),
        ]);
        start = end;
    }
    output::write_csv(&ctx.out.join("demo.csv"), &["t_s", "phase", "requests", "errors", "mean_ms"], &rows)?;
    let plot = ctx.out.join("demo.png");
    let title = "The web platform distributing itself (wikipedia, dynamic-20, wikipedia)";
    output::line_chart(
        &plot,
        title,
        "time (s)",
        "mean response time (ms)",
        &[Series { label: "mean per second".into(), points }],
    )?;
    let mut summary = String::from("## demo\n\n");
    summary.push_str(&output::table(
        &["phase", "start ms", "end ms", "failed requests", "design at the end of the phase"],
        &table,
    ));
    let _ =
        writeln!(summary, "\n{} windows decided (`demo-decisions.jsonl`); plot: {}\n", decisions.len(), plot.display());
    Ok(summary)
}
