//! `ground-truth` (Figs 8-9): every composition of a restricted set ([`super::candidates`]),
//! under each preset, measured for a fixed number of windows after a warm-up window, and
//! ranked by mean response time.

use std::fmt::Write as _;

use hatch_load::{Phase, Preset};
use indicatif::{ProgressBar, ProgressStyle};

use super::{Context, candidates, presets};
use crate::cluster::Cluster;
use crate::deploy::{self, Front, Process};
use crate::output::{self, Series};

/// One composition under one preset.
#[derive(Clone, Debug)]
pub struct Point {
    /// The preset.
    pub preset: Preset,
    /// The composition's short name.
    pub label: &'static str,
    /// Its identifier, with `@k` for the agents.
    pub composition: String,
    /// Mean, median and 99th percentile response time, ms.
    pub mean_ms: f64,
    /// Median, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Throughput.
    pub rps: f64,
    /// Failed requests.
    pub errors: u64,
}

impl Point {
    /// Mean, p50, p99 (ms), requests/s and errors, as the CSV and the summary print them.
    pub fn figures(&self) -> [String; 5] {
        let f = |x: f64| format!("{x:.2}");
        [f(self.mean_ms), f(self.p50_ms), f(self.p99_ms), format!("{:.1}", self.rps), self.errors.to_string()]
    }
}

/// Windows measured per point.
fn windows(smoke: bool) -> u64 {
    if smoke { 2 } else { 6 }
}

/// Measures every candidate under every preset.
///
/// # Errors
///
/// A front end that does not start, or a load run that cannot.
pub fn measure(
    cluster: &dyn Cluster,
    agents: &[Process],
    ctx: &Context,
    presets: &[Preset],
) -> std::io::Result<Vec<Point>> {
    measure_set(cluster, agents, ctx, presets, &candidates(agents.len()), "ground truth", windows(ctx.smoke))
}

/// Measures the compositions of `set` (short name, identifier) under every preset, `windows`
/// windows each after a warm-up window, with a progress bar named `name`.
///
/// # Errors
///
/// A front end that does not start, or a load run that cannot.
pub fn measure_set(
    cluster: &dyn Cluster,
    agents: &[Process],
    ctx: &Context,
    presets: &[Preset],
    set: &[(&'static str, String)],
    name: &str,
    windows: u64,
) -> std::io::Result<Vec<Point>> {
    let bar = if ctx.progress { ProgressBar::new((set.len() * presets.len()) as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template(&format!("{name} {{bar:30}} {{pos}}/{{len}} {{msg}}")).expect("a valid template"),
    );
    let secs = (ctx.window.as_secs_f64() * windows as f64).ceil() as u64;
    let warm = ctx.window.as_secs_f64().ceil() as u64;
    let mut points = Vec::new();
    for &preset in presets {
        for &(label, ref composition) in set {
            bar.set_message(format!("{} / {label}", preset.name()));
            let front = deploy::start_front(
                cluster,
                &ctx.setup,
                agents,
                &Front { composition: Some(composition.clone()), learn: None },
            )?;
            let plan = |secs| ctx.plan(front.addr, vec![Phase { preset, secs }]);
            cluster.run_load(&plan(warm), false)?;
            let report = cluster.run_load(&plan(secs), false)?;
            front.stop(std::time::Duration::from_secs(10));
            let ms = |q: f64| report.total.value_at_quantile(q) as f64 / 1e3;
            points.push(Point {
                preset,
                label,
                composition: composition.clone(),
                mean_ms: report.total.mean() / 1e3,
                p50_ms: ms(0.5),
                p99_ms: ms(0.99),
                rps: report.rps(),
                errors: report.errors.total(),
            });
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    Ok(points)
}

/// The data set shape named on the command line.
pub fn shape(name: &str) -> hatch_webstack::dataset::Shape {
    if name == "small" { hatch_webstack::dataset::Shape::small() } else { hatch_webstack::dataset::Shape::default() }
}

/// The best and worst point of `preset`.
pub fn best_and_worst(points: &[Point], preset: Preset) -> Option<(&Point, &Point)> {
    let of: Vec<&Point> = points.iter().filter(|p| p.preset == preset).collect();
    let best = of.iter().min_by(|a, b| a.mean_ms.total_cmp(&b.mean_ms))?;
    let worst = of.iter().max_by(|a, b| a.mean_ms.total_cmp(&b.mean_ms))?;
    Some((best, worst))
}

/// The scenario: measures, writes `ground-truth.csv`, `ground-truth.png` and returns its
/// summary section.
///
/// # Errors
///
/// Measuring or writing.
pub fn run(cluster: &dyn Cluster, agents: &[Process], ctx: &Context) -> std::io::Result<String> {
    let presets = presets(ctx.smoke);
    let points = measure(cluster, agents, ctx, &presets)?;
    write(ctx, &points, &presets)
}

fn write(ctx: &Context, points: &[Point], presets: &[Preset]) -> std::io::Result<String> {
    let rows: Vec<Vec<String>> = points
        .iter()
        .map(|p| {
            vec![p.preset.name().into(), p.label.into(), p.composition.clone()].into_iter().chain(p.figures()).collect()
        })
        .collect();
    let header = ["preset", "composition", "id", "mean_ms", "p50_ms", "p99_ms", "rps", "errors"];
    output::write_csv(&ctx.out.join("ground-truth.csv"), &header, &rows)?;
    // One line per composition across the presets (x: preset number).
    let mut labels: Vec<&str> = Vec::new();
    for p in points {
        if !labels.contains(&p.label) {
            labels.push(p.label);
        }
    }
    let series: Vec<Series> = labels
        .iter()
        .filter_map(|label| {
            let pts: Vec<(f64, f64)> = presets
                .iter()
                .enumerate()
                .filter_map(|(i, preset)| {
                    points.iter().find(|p| p.preset == *preset && p.label == *label).map(|p| (i as f64, p.mean_ms))
                })
                .collect();
            (!pts.is_empty()).then(|| Series { label: (*label).into(), points: pts })
        })
        .collect();
    let names: Vec<&str> = presets.iter().map(|p| p.name()).collect();
    output::line_chart(
        &ctx.out.join("ground-truth.png"),
        &format!("Ground truth: mean response time per composition ({})", names.join(", ")),
        "preset (in the order of the title)",
        "mean response time (ms)",
        &series,
    )?;
    let mut summary = String::from("## ground-truth (Figs 8-9)\n\n");
    for &preset in presets {
        let mut of: Vec<&Point> = points.iter().filter(|p| p.preset == preset).collect();
        of.sort_by(|a, b| a.mean_ms.total_cmp(&b.mean_ms));
        let _ = writeln!(summary, "**{}**: best `{}`\n", preset.name(), of.first().map_or("-", |p| p.label));
        let rows: Vec<Vec<String>> = of
            .iter()
            .enumerate()
            .map(|(rank, p)| vec![(rank + 1).to_string(), p.label.into()].into_iter().chain(p.figures()).collect())
            .collect();
        summary.push_str(&output::table(
            &["rank", "composition", "mean ms", "p50 ms", "p99 ms", "req/s", "errors"],
            &rows,
        ));
        summary.push('\n');
    }
    Ok(summary)
}
