//! What a run measured: rows per second, summaries per phase and overall, as a summary line and
//! CSV; and the collector that builds them from the connections' samples while the run goes.
//!
//! Every request is attributed to the second in which it finished (so a row's `requests` is the
//! throughput of that second). Latency is in microseconds, from the request's intended send time
//! (open loop) or actual send time (closed loop) to its last response byte, and is recorded for
//! every request that got a complete response, right or wrong; requests that got none (refused,
//! reset, timed out) are counted as errors only.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::errors::{ErrorCounts, ErrorKind};
use crate::preset::{Phase, Preset};

/// The largest latency kept apart from the rest, in microseconds (60 s).
pub const MAX_LATENCY_US: u64 = 60_000_000;

/// How long after a second ends its row is computed and its histogram dropped: a sample is
/// sent the moment its request finishes, so later ones are rare (they still count, but no longer
/// move that row's percentiles).
const SETTLE: Duration = Duration::from_secs(2);

/// A latency histogram in microseconds, 1 µs to 60 s, 3 significant figures.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("constant bounds are valid")
}

/// One second of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecondRow {
    /// Seconds since the start of the run at the start of this one.
    pub time_s: u64,
    /// The phase running during this second.
    pub phase: Preset,
    /// Requests that finished in this second, with or without error.
    pub requests: u64,
    /// Of those, the errors.
    pub errors: u64,
    /// Median latency of the responses of this second (0 without any).
    pub p50_us: u64,
    /// 99th percentile latency (0 without any response).
    pub p99_us: u64,
    /// Mean latency (0 without any response).
    pub mean_us: u64,
}

/// One phase of the run.
#[derive(Clone, Debug)]
pub struct PhaseSummary {
    /// The phase as planned.
    pub phase: Phase,
    /// When it started, in seconds since the start of the run.
    pub start_s: u64,
    /// Requests that finished during it.
    pub requests: u64,
    /// Their errors, by kind.
    pub errors: ErrorCounts,
    /// Their latencies (µs).
    pub latency: Histogram<u64>,
}

/// Everything a run measured.
#[derive(Clone, Debug)]
pub struct Report {
    /// One row per planned second.
    pub seconds: Vec<SecondRow>,
    /// One summary per phase.
    pub phases: Vec<PhaseSummary>,
    /// Every latency of the run (µs).
    pub total: Histogram<u64>,
    /// Requests that finished, with or without error.
    pub requests: u64,
    /// Errors by kind.
    pub errors: ErrorCounts,
    /// Open-loop requests that were due before the end but never sent because their
    /// connection was still waiting on earlier ones (0 in closed loop): a server that keeps up
    /// has none.
    pub unsent: u64,
    /// TCP connections opened successfully: one per connection, plus every reconnect (failed
    /// attempts are `connect` errors instead).
    pub connects: u64,
    /// From the start of the run until the last connection finished.
    pub elapsed: Duration,
}

impl Report {
    /// Requests per second over [`Report::elapsed`].
    pub fn rps(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 { self.requests as f64 / secs } else { 0.0 }
    }

    /// One line: `requests= errors= p50_us= p99_us= mean_us= max_us= rps= unsent= connects=
    /// errors_by_kind=`.
    pub fn summary_line(&self) -> String {
        let (p50, p99, mean, max) = stats(&self.total);
        let mut line = String::new();
        let _ = write!(
            line,
            "requests={} errors={} p50_us={p50} p99_us={p99} mean_us={mean} max_us={max} rps={:.1} unsent={} connects={} errors_by_kind={}",
            self.requests,
            self.errors.total(),
            self.rps(),
            self.unsent,
            self.connects,
            self.errors,
        );
        line
    }

    /// Writes the rows as CSV to the file at `path`.
    ///
    /// # Errors
    ///
    /// File system errors.
    pub fn write_csv(&self, path: impl AsRef<Path>) -> io::Result<()> {
        let mut out = BufWriter::new(File::create(path)?);
        self.write_csv_to(&mut out)?;
        out.flush()
    }

    /// Writes the header `time_s,phase,requests,errors,p50_us,p99_us,mean_us` and one line per
    /// second to `out`.
    ///
    /// # Errors
    ///
    /// Those of `out`.
    pub fn write_csv_to(&self, mut out: impl Write) -> io::Result<()> {
        writeln!(out, "time_s,phase,requests,errors,p50_us,p99_us,mean_us")?;
        for row in &self.seconds {
            writeln!(
                out,
                "{},{},{},{},{},{},{}",
                row.time_s, row.phase, row.requests, row.errors, row.p50_us, row.p99_us, row.mean_us
            )?;
        }
        Ok(())
    }
}

/// (p50, p99, mean, max) of `h`, all 0 when it is empty.
fn stats(h: &Histogram<u64>) -> (u64, u64, u64, u64) {
    if h.is_empty() {
        return (0, 0, 0, 0);
    }
    (h.value_at_quantile(0.5), h.value_at_quantile(0.99), h.mean().round() as u64, h.max())
}

/// The outcome of one request, as a connection reports it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    /// When it finished, since the start of the run.
    pub at: Duration,
    /// Its latency, if a complete response came back.
    pub latency_us: Option<u64>,
    /// Why it counts as an error, if it does.
    pub error: Option<ErrorKind>,
}

/// What connections send to the collector.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Event {
    /// A request finished.
    Done(Sample),
    /// A connection finished: its totals.
    Finished {
        /// TCP connections it opened.
        connects: u64,
        /// Open-loop sends it never made.
        unsent: u64,
    },
}

/// One second being collected, or settled into its row.
#[derive(Debug)]
struct Second {
    requests: u64,
    errors: u64,
    latency: Option<Histogram<u64>>,
    settled: Option<(u64, u64, u64)>,
}

/// Builds a [`Report`] from [`Event`]s.
#[derive(Debug)]
pub(crate) struct Collector {
    seconds: Vec<Second>,
    phase_of_second: Vec<usize>,
    phases: Vec<PhaseSummary>,
    total: Histogram<u64>,
    errors: ErrorCounts,
    unsent: u64,
    connects: u64,
}

impl Collector {
    /// A collector for a run of `phases`.
    pub fn new(phases: &[Phase]) -> Collector {
        let mut start_s = 0;
        let mut summaries = Vec::with_capacity(phases.len());
        let mut phase_of_second = Vec::new();
        for (i, &phase) in phases.iter().enumerate() {
            summaries.push(PhaseSummary {
                phase,
                start_s,
                requests: 0,
                errors: ErrorCounts::default(),
                latency: latency_histogram(),
            });
            phase_of_second.extend((0..phase.secs).map(|_| i));
            start_s += phase.secs;
        }
        let seconds =
            phase_of_second.iter().map(|_| Second { requests: 0, errors: 0, latency: None, settled: None }).collect();
        Collector {
            seconds,
            phase_of_second,
            phases: summaries,
            total: latency_histogram(),
            errors: ErrorCounts::default(),
            unsent: 0,
            connects: 0,
        }
    }

    /// Takes one event into account.
    pub fn record(&mut self, event: Event) {
        let sample = match event {
            Event::Done(sample) => sample,
            Event::Finished { connects, unsent } => {
                self.connects += connects;
                self.unsent += unsent;
                return;
            }
        };
        let Some(last) = self.seconds.len().checked_sub(1) else { return };
        let index = usize::try_from(sample.at.as_secs()).unwrap_or(usize::MAX).min(last);
        let second = &mut self.seconds[index];
        let phase = &mut self.phases[self.phase_of_second[index]];
        second.requests += 1;
        phase.requests += 1;
        if let Some(kind) = sample.error {
            second.errors += 1;
            phase.errors.add(kind);
            self.errors.add(kind);
        }
        if let Some(us) = sample.latency_us {
            let us = us.clamp(1, MAX_LATENCY_US);
            self.total.saturating_record(us);
            phase.latency.saturating_record(us);
            if second.settled.is_none() {
                second.latency.get_or_insert_with(latency_histogram).saturating_record(us);
            }
        }
    }

    /// Settles the rows of the seconds that ended at least [`SETTLE`] before `now` (since the
    /// start of the run), dropping their histograms.
    pub fn settle(&mut self, now: Duration) {
        let done = now.saturating_sub(SETTLE).as_secs();
        let done = usize::try_from(done).unwrap_or(usize::MAX).min(self.seconds.len());
        for second in &mut self.seconds[..done] {
            second.settle();
        }
    }

    /// Requests and errors finished so far in second `index`, for progress lines.
    pub fn live(&self, index: usize) -> (u64, u64) {
        self.seconds.get(index).map_or((0, 0), |s| (s.requests, s.errors))
    }

    /// The errors so far.
    pub fn errors(&self) -> &ErrorCounts {
        &self.errors
    }

    /// The report, once every connection is done.
    pub fn finish(mut self, elapsed: Duration) -> Report {
        let seconds = self
            .seconds
            .iter_mut()
            .zip(&self.phase_of_second)
            .enumerate()
            .map(|(i, (second, &phase))| {
                let (p50_us, p99_us, mean_us) = second.settle();
                SecondRow {
                    time_s: i as u64,
                    phase: self.phases[phase].phase.preset,
                    requests: second.requests,
                    errors: second.errors,
                    p50_us,
                    p99_us,
                    mean_us,
                }
            })
            .collect();
        Report {
            seconds,
            requests: self.phases.iter().map(|p| p.requests).sum(),
            phases: self.phases,
            total: self.total,
            errors: self.errors,
            unsent: self.unsent,
            connects: self.connects,
            elapsed,
        }
    }
}

impl Second {
    fn settle(&mut self) -> (u64, u64, u64) {
        *self.settled.get_or_insert_with(|| {
            let (p50, p99, mean, _) = self.latency.take().as_ref().map_or((0, 0, 0, 0), stats);
            (p50, p99, mean)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(at_ms: u64, latency_us: Option<u64>, error: Option<ErrorKind>) -> Event {
        Event::Done(Sample { at: Duration::from_millis(at_ms), latency_us, error })
    }

    fn phases() -> Vec<Phase> {
        vec![Phase { preset: Preset::Dynamic5, secs: 2 }, Phase { preset: Preset::Dynamic20, secs: 1 }]
    }

    #[test]
    fn samples_land_in_their_second_and_phase() {
        let mut c = Collector::new(&phases());
        c.record(done(100, Some(1_000), None));
        c.record(done(900, Some(3_000), None));
        c.record(done(1_500, None, Some(ErrorKind::Timeout)));
        c.record(done(2_100, Some(500), Some(ErrorKind::WrongContent)));
        c.record(done(9_000, Some(700), None)); // after the end: the last second
        c.record(Event::Finished { connects: 3, unsent: 2 });
        let report = c.finish(Duration::from_secs(3));
        assert_eq!(report.seconds.len(), 3);
        let row = &report.seconds[0];
        assert_eq!((row.time_s, row.phase, row.requests, row.errors), (0, Preset::Dynamic5, 2, 0));
        assert!(row.p50_us.abs_diff(1_000) <= 1 && row.p99_us.abs_diff(3_000) <= 3 && row.mean_us.abs_diff(2_000) <= 2);
        assert_eq!((report.seconds[1].requests, report.seconds[1].errors, report.seconds[1].p50_us), (1, 1, 0));
        assert_eq!((report.seconds[2].phase, report.seconds[2].requests), (Preset::Dynamic20, 2));
        assert_eq!((report.requests, report.errors.total(), report.unsent, report.connects), (5, 2, 2, 3));
        assert_eq!(report.total.len(), 4);
        assert_eq!((report.phases[0].requests, report.phases[1].requests, report.phases[1].start_s), (3, 2, 2));
        assert_eq!(report.phases[1].errors.get(ErrorKind::WrongContent), 1);
        let line = report.summary_line();
        for key in ["requests=5 ", "errors=2 ", "p50_us=", "p99_us=", "mean_us=", "max_us=", "rps=1.7 ", "unsent=2 "] {
            assert!(line.contains(key), "{key} in {line}");
        }
        assert!(line.ends_with("errors_by_kind=timeout:1,wrong_content:1"), "{line}");
    }

    #[test]
    fn settled_seconds_keep_their_rows_and_count_late_samples() {
        let mut c = Collector::new(&phases());
        c.record(done(100, Some(1_000), None));
        c.settle(Duration::from_millis(3_500));
        assert!(c.seconds[0].latency.is_none() && c.seconds[0].settled.is_some());
        assert!(c.seconds[1].settled.is_none());
        c.record(done(200, Some(50_000), None));
        assert_eq!(c.live(0), (2, 0));
        let report = c.finish(Duration::from_secs(3));
        assert_eq!(report.seconds[0].requests, 2);
        assert!(report.seconds[0].p99_us.abs_diff(1_000) <= 1, "the row was settled before");
        assert!(report.total.max() >= 49_000, "the total still has it");
    }

    #[test]
    fn csv_has_a_header_and_a_row_per_second() {
        let mut c = Collector::new(&phases());
        c.record(done(1_100, Some(2_000), None));
        let report = c.finish(Duration::from_secs(3));
        let mut out = Vec::new();
        report.write_csv_to(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "time_s,phase,requests,errors,p50_us,p99_us,mean_us");
        assert_eq!(lines[1], "0,dynamic-5,0,0,0,0,0");
        assert!(lines[2].starts_with("1,dynamic-5,1,0,"));
        assert_eq!(lines[3], "2,dynamic-20,0,0,0,0,0");
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn an_empty_report_prints_zeros() {
        let report = Collector::new(&phases()).finish(Duration::ZERO);
        assert_eq!(
            report.summary_line(),
            "requests=0 errors=0 p50_us=0 p99_us=0 mean_us=0 max_us=0 rps=0.0 unsent=0 connects=0 errors_by_kind=none"
        );
    }
}
