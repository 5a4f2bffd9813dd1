//! `hatch-web serve --ground-truth SET`: the paper's ground-truth method (Figs 8-9) inside the
//! running site. Every composition of a restricted set runs, in turn, for a warm-up window and
//! then a fixed number of windows, each timed at the `HttpHandler` probe (the learner's reward,
//! so the two are measured alike); the set is then ranked by mean response time. The load is
//! whatever arrives meanwhile: run a load generator beside it for the whole measurement.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hatch::learner::window::{ObservationWindow, WindowConfig};

use crate::site::Platform;

/// How to measure a set.
#[derive(Clone, Debug)]
pub struct GroundTruthConfig {
    /// The compositions (as `serve --composition` takes them), in the order they are measured.
    pub set: Vec<String>,
    /// Measured windows per composition, after one warm-up window. Default 6.
    pub windows: u32,
    /// The window. Default 5 s, as the paper.
    pub window: Duration,
}

impl GroundTruthConfig {
    /// `set` with 6 windows of 5 s each.
    pub fn new(set: Vec<String>) -> Self {
        GroundTruthConfig { set, windows: 6, window: Duration::from_secs(5) }
    }
}

/// One composition's measurement.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// As given in the set.
    pub composition: String,
    /// The placed identifier it ran as.
    pub placed: String,
    /// Each measured window's mean response time, ms (windows without requests left out).
    pub windows_ms: Vec<f64>,
}

impl Measured {
    /// Mean over the windows (NaN without any).
    pub fn mean_ms(&self) -> f64 {
        if self.windows_ms.is_empty() {
            return f64::NAN;
        }
        self.windows_ms.iter().sum::<f64>() / self.windows_ms.len() as f64
    }

    /// Sample standard deviation of the window means (NaN with fewer than two).
    pub fn sd_ms(&self) -> f64 {
        let n = self.windows_ms.len() as f64;
        if n < 2.0 {
            return f64::NAN;
        }
        let mean = self.mean_ms();
        (self.windows_ms.iter().map(|w| (w - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    }
}

/// Reads a set file: one composition per line; blank lines and `#` comments skipped.
///
/// # Errors
///
/// Reading the file, or a file with no composition in it.
pub fn read_set(path: &Path) -> std::io::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)?;
    let set: Vec<String> =
        text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_owned).collect();
    if set.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}: no composition", path.display()),
        ));
    }
    Ok(set)
}

/// Measures every composition of the set on `platform` (which must not be learning), and
/// returns them ranked, best first; stops early, with what it has, when `stop` is set. The
/// platform is left running the best one.
///
/// # Errors
///
/// A composition that does not parse or whose transition fails.
pub fn measure(
    platform: &mut Platform,
    config: &GroundTruthConfig,
    stop: &AtomicBool,
) -> Result<Vec<Measured>, Box<dyn std::error::Error + Send + Sync>> {
    let probe = platform.catalog().1.probe.clone();
    let window = WindowConfig { duration: config.window, min_samples: None };
    let started = Instant::now();
    let mut measured = Vec::with_capacity(config.set.len());
    'set: for composition in &config.set {
        platform.transition(composition)?;
        let placed = platform.placed().to_string();
        tracing::info!(%placed, "ground truth: measuring");
        let mut windows_ms = Vec::with_capacity(config.windows as usize);
        // Window 0 warms up (caches, connections, the transition's backlog) and is dropped.
        for w in 0..=config.windows {
            let mut open = ObservationWindow::open(window, started.elapsed(), &probe);
            let stats = loop {
                if stop.load(Ordering::SeqCst) {
                    break 'set;
                }
                std::thread::sleep((open.deadline().saturating_sub(started.elapsed())).min(Duration::from_millis(50)));
                if let Some(stats) = open.poll(started.elapsed(), &probe) {
                    break stats;
                }
            };
            if let (true, Some(ms)) = (w > 0, stats.cost_ms()) {
                windows_ms.push(ms);
            }
        }
        measured.push(Measured { composition: composition.clone(), placed, windows_ms });
    }
    measured.sort_by(|a, b| a.mean_ms().total_cmp(&b.mean_ms()));
    if let Some(best) = measured.iter().find(|m| m.mean_ms().is_finite()) {
        platform.transition(&best.composition)?;
    }
    Ok(measured)
}

/// The ranking as a markdown table.
pub fn table(ranked: &[Measured]) -> String {
    let mut out = String::from("| rank | composition | windows | mean ms | sd ms |\n|---|---|---|---|---|\n");
    for (i, m) in ranked.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {:.2} | {:.2} |",
            i + 1,
            m.placed,
            m.windows_ms.len(),
            m.mean_ms(),
            m.sd_ms()
        );
    }
    out
}

/// The ranking as CSV (`rank,composition,placed,window,mean_ms`), one row per measured window.
///
/// # Errors
///
/// Writing.
pub fn write_csv(path: &Path, ranked: &[Measured]) -> std::io::Result<()> {
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut out = String::from("rank,composition,placed,window,mean_ms\n");
    for (i, m) in ranked.iter().enumerate() {
        for (w, ms) in m.windows_ms.iter().enumerate() {
            let _ = writeln!(out, "{},{},{},{},{ms:.3}", i + 1, quote(&m.composition), quote(&m.placed), w + 1);
        }
    }
    std::fs::write(path, out)
}
