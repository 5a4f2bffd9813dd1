//! The decision log: one JSON line per observation window saying which
//! composition ran, what it cost, in which environment class, what runs next
//! and why, so that a person (or `jq`) can follow what the learner did.
//!
//! ```text
//! {"window":7,"t_s":35.0,"class":0,"ran":"c12","cost_ms":31.2,"samples":2480,"next":"c3","reason":"fallback: 31.2 ms vs best 12.0 ms for 2 windows","best":"c3","best_cost_ms":12.0,"extra":{"req/s":496.0}}
//! ```
//!
//! Fields, in this order: `window` (the driver's window number), `t_s` (when
//! the window closed, in seconds on the driver's clock), `class` (the
//! environment class), `ran` (the composition that ran during the window),
//! `cost_ms` (its mean response time, `null` when the window had no samples),
//! `samples` (requests timed at slot 0), `next` (the composition applied for
//! the next window), `reason` (why, as [`Reason`](crate::guard::Reason)'s
//! text, which starts with the kind of decision and a colon), `best` and
//! `best_cost_ms` (the best measured composition of the class and its mean,
//! `null` before one is measured) and, when not empty, `extra` (free numbers
//! such as requests/s or the dynamic share; a non-finite number is written as
//! `null` and read back as NaN).
//!
//! Composition ids are strings the caller supplies: the learner does not know
//! how the runtime names compositions.
//!
//! Each line is written with one `write` and flushed at once, so a crash of
//! the process loses at most the line being written (it is not `fsync`ed:
//! a crash of the machine may lose what the OS had not yet written).
//! [`DecisionLog::read`] skips a torn last line.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::hash::Hash;
use std::io::{self, Write};
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize};

use crate::envclass::ClassId;
use crate::guard::Guarded;
use crate::host::Step;
use crate::policy::Policy;

/// One window's line of the decision log (see the [module docs](self) for
/// each field).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The driver's window number.
    pub window: u64,
    /// When the window closed, in seconds on the driver's clock.
    pub t_s: f64,
    /// The window's environment class.
    pub class: ClassId,
    /// Id of the composition that ran during the window.
    pub ran: String,
    /// Its mean response time in ms; `None` when the window had no samples.
    pub cost_ms: Option<f64>,
    /// Requests timed at slot 0 during the window.
    pub samples: u64,
    /// Id of the composition applied for the next window.
    pub next: String,
    /// Why `next` was chosen, as short human text.
    pub reason: String,
    /// Id of the best measured composition of the class, if any.
    pub best: Option<String>,
    /// The best measured composition's mean response time in ms.
    pub best_cost_ms: Option<f64>,
    /// Free numbers about the window (requests/s, dynamic share, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "numbers_or_null")]
    pub extra: BTreeMap<String, f64>,
}

impl Entry {
    /// The entry of a window [`HostLearner::poll`](crate::host::HostLearner::poll)
    /// returned as `step`, numbered `window`; `learner` is the guarded learner
    /// of `step.class` (`host.learner(step.class)`), whose last choice gives
    /// the reason, and `id` names a composition.
    pub fn from_step<P>(
        window: u64,
        step: &Step<P::Arm>,
        learner: &Guarded<P>,
        mut id: impl FnMut(&P::Arm) -> String,
    ) -> Entry
    where
        P: Policy,
        P::Arm: Clone + Eq + Hash + fmt::Debug,
    {
        let best = learner.best();
        Entry {
            window,
            t_s: step.window.closed.as_secs_f64(),
            class: step.class,
            ran: id(&step.ran),
            cost_ms: if step.recorded { step.window.cost_ms() } else { None },
            samples: step.window.counts.first().copied().unwrap_or(0),
            next: id(&step.next),
            reason: learner.last().map_or_else(|| "unknown: no choice yet".to_owned(), |c| c.reason.to_string()),
            best: best.map(|(arm, _)| id(arm)),
            best_cost_ms: best.map(|(_, mean)| mean),
            extra: BTreeMap::new(),
        }
    }

    /// This entry with `extra[key] = value`.
    pub fn with_extra(mut self, key: impl Into<String>, value: f64) -> Entry {
        self.extra.insert(key.into(), value);
        self
    }
}

/// `extra` as written: `null` stands for a non-finite number.
fn numbers_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, f64>, D::Error> {
    let m = BTreeMap::<String, Option<f64>>::deserialize(d)?;
    Ok(m.into_iter().map(|(k, v)| (k, v.unwrap_or(f64::NAN))).collect())
}

/// Writes [`Entry`]s as JSON lines, one flushed write per line.
///
/// # Examples
/// ```
/// use hatch_learner::decision_log::{DecisionLog, Entry};
///
/// let path = std::env::temp_dir().join(format!("hatch-decisions-doc-{}.jsonl", std::process::id()));
/// let mut log = DecisionLog::create(&path)?;
/// let entry = Entry {
///     window: 1,
///     t_s: 5.0,
///     class: 0,
///     ran: "c0".into(),
///     cost_ms: Some(12.5),
///     samples: 40,
///     next: "c1".into(),
///     reason: "explore: design measured in 0 windows".into(),
///     best: None,
///     best_cost_ms: None,
///     extra: Default::default(),
/// };
/// log.log(&entry.with_extra("req/s", 8.0))?;
/// assert_eq!(DecisionLog::read(&path)?[0].extra["req/s"], 8.0);
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct DecisionLog {
    out: Box<dyn Write + Send>,
    /// Reused so a line costs no allocation once the log is warm.
    line: Vec<u8>,
    lines: u64,
}

impl DecisionLog {
    /// A log in the file at `path`, created or truncated.
    pub fn create(path: impl AsRef<Path>) -> io::Result<DecisionLog> {
        // Unbuffered on purpose: each line is one write, so nothing waits in a
        // buffer when the process dies.
        Ok(Self::to_writer(Box::new(File::create(path)?)))
    }

    /// A log into `out`, flushed after each line.
    pub fn to_writer(out: Box<dyn Write + Send>) -> DecisionLog {
        DecisionLog { out, line: Vec::with_capacity(256), lines: 0 }
    }

    /// Append `entry` as one line.
    pub fn log(&mut self, entry: &Entry) -> io::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, entry)?;
        self.line.push(b'\n');
        self.out.write_all(&self.line)?;
        self.out.flush()?;
        self.lines += 1;
        Ok(())
    }

    /// Lines written so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Every entry of the log file at `path`, in order (see
    /// [`parse`](Self::parse)).
    pub fn read(path: impl AsRef<Path>) -> io::Result<Vec<Entry>> {
        Self::parse(&std::fs::read_to_string(path)?)
    }

    /// Every entry of a log's text, in order. Blank lines are skipped, and so
    /// is an unparsable last line without a newline (a write a crash cut
    /// short); any other bad line is an [`io::ErrorKind::InvalidData`] error
    /// naming the line.
    pub fn parse(text: &str) -> io::Result<Vec<Entry>> {
        let mut entries = Vec::new();
        let mut lines = text.split('\n').enumerate().peekable();
        while let Some((i, line)) = lines.next() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str(line) {
                Ok(e) => entries.push(e),
                Err(_) if lines.peek().is_none() => {} // torn: the text does not end in '\n'
                Err(e) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("decision log line {}: {e}", i + 1),
                    ));
                }
            }
        }
        Ok(entries)
    }
}

impl fmt::Debug for DecisionLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecisionLog").field("lines", &self.lines).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envclass::{Classifier, PerClass};
    use crate::guard::GuardConfig;
    use crate::host::{Actuator, HostLearner};
    use crate::policy::Ucb1;
    use crate::probe::ManualProbe;
    use crate::window::WindowConfig;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// A log file under the system's temporary directory, removed on drop.
    struct TempLog(std::path::PathBuf);

    impl TempLog {
        fn new(name: &str) -> TempLog {
            TempLog(std::env::temp_dir().join(format!("hatch-decision-log-{}-{name}.jsonl", std::process::id())))
        }
    }

    impl Drop for TempLog {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// Remembers the live arm, as the component runtime would.
    struct Live(usize);

    impl Actuator for Live {
        type Arm = usize;
        fn apply(&mut self, arm: &usize) {
            self.0 = *arm;
        }
    }

    #[test]
    fn every_window_of_a_host_learner_is_logged_and_reads_back() {
        let file = TempLog::new("host");
        let mut log = DecisionLog::create(&file.0).unwrap();
        let probe = ManualProbe::new(1);
        let feed = probe.clone();
        let mut host = HostLearner::start(
            PerClass::new(|_| Guarded::new(Ucb1::new(3), GuardConfig::default())),
            Classifier::default(),
            Live(0),
            probe,
            WindowConfig::default(),
            false,
            Duration::ZERO,
        );
        let latency_ms = [12.0, 7.0, 9.0];
        for w in 1..=20u64 {
            // Window 8 serves nothing; from window 12 the load changes class.
            if w != 8 {
                for i in 0..10u64 {
                    let ms = latency_ms[host.actuator().0] + 0.1 * (i % 3) as f64;
                    feed.record_ns(0, (ms * 1e6) as u64);
                }
            }
            let rate = if w < 12 { 10.0 } else { 400.0 };
            let step = host.poll(Duration::from_secs(5 * w), [("req/s", rate)]).expect("window due");
            let learner = host.learner(step.class).unwrap();
            let entry = Entry::from_step(w, &step, learner, |a| format!("c{a}")).with_extra("req/s", rate);
            log.log(&entry).unwrap();
        }
        assert_eq!(log.lines(), 20);
        drop(log);

        let text = std::fs::read_to_string(&file.0).unwrap();
        assert_eq!(text.lines().count(), 20);
        let entries = DecisionLog::read(&file.0).unwrap();
        let windows: Vec<u64> = entries.iter().map(|e| e.window).collect();
        assert_eq!(windows, (1..=20).collect::<Vec<_>>());
        for (i, e) in entries.iter().enumerate() {
            assert!(!e.reason.is_empty() && e.reason.contains(": "), "{e:?}");
            assert_eq!(e.t_s, 5.0 * (i + 1) as f64);
            assert_eq!(e.extra["req/s"], if e.window < 12 { 10.0 } else { 400.0 });
            assert_eq!(e.class, usize::from(e.window >= 12));
            if let Some(n) = entries.get(i + 1) {
                // What was applied is what ran next.
                assert_eq!(e.next, n.ran);
            }
            if e.window == 8 {
                assert_eq!((e.cost_ms, e.samples), (None, 0));
            } else {
                assert_eq!(e.samples, 10);
                let ms = latency_ms[e.ran[1..].parse::<usize>().unwrap()];
                assert!((e.cost_ms.unwrap() - (ms + 0.09)).abs() < 0.01, "{e:?}");
            }
        }
        // By window 11 the first class has measured the 7 ms design.
        assert_eq!(entries[10].best.as_deref(), Some("c1"));
        assert!((entries[10].best_cost_ms.unwrap() - 7.09).abs() < 0.01);
        // A new class knows nothing yet.
        assert_eq!(entries[11].best, None);
        assert!(text.lines().next().unwrap().starts_with(r#"{"window":1,"t_s":5.0,"class":0,"ran":"c0","cost_ms":"#));
    }

    /// A `Write` into shared memory, to read what a log wrote.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn entry(window: u64) -> Entry {
        Entry {
            window,
            t_s: 5.0 * window as f64,
            class: 0,
            ran: "{A,B|0:I:1}".to_owned(),
            cost_ms: None,
            samples: 0,
            next: "{A,C|0:I:1}".to_owned(),
            reason: "explore: design measured in 0 windows".to_owned(),
            best: None,
            best_cost_ms: None,
            extra: BTreeMap::new(),
        }
    }

    #[test]
    fn lines_have_the_documented_shape_and_nulls() {
        let out = Shared::default();
        let mut log = DecisionLog::to_writer(Box::new(out.clone()));
        log.log(&entry(1)).unwrap();
        log.log(&entry(2).with_extra("dynamic", 0.17).with_extra("broken", f64::NAN)).unwrap();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            r#"{"window":1,"t_s":5.0,"class":0,"ran":"{A,B|0:I:1}","cost_ms":null,"samples":0,"next":"{A,C|0:I:1}","reason":"explore: design measured in 0 windows","best":null,"best_cost_ms":null}"#
        );
        assert!(lines[1].ends_with(r#","extra":{"broken":null,"dynamic":0.17}}"#), "{}", lines[1]);
        let back = DecisionLog::parse(&text).unwrap();
        assert_eq!(back[0], entry(1));
        assert_eq!(back[1].extra["dynamic"], 0.17);
        assert!(back[1].extra["broken"].is_nan());
    }

    #[test]
    fn a_torn_last_line_is_skipped_and_other_bad_lines_are_errors() {
        let mut text = String::new();
        for w in 1..=3 {
            text.push_str(&serde_json::to_string(&entry(w)).unwrap());
            text.push('\n');
        }
        let whole = text.clone();
        text.push_str(r#"{"window":4,"t_s":20.0,"cla"#);
        assert_eq!(DecisionLog::parse(&text).unwrap().len(), 3);
        // Blank lines are fine; a bad line in the middle is not.
        assert_eq!(DecisionLog::parse(&format!("\n{whole}\n")).unwrap().len(), 3);
        let err = DecisionLog::parse(&format!("{whole}not json\n")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("line 4"), "{err}");
    }

    #[test]
    fn create_truncates() {
        let file = TempLog::new("truncate");
        let mut log = DecisionLog::create(&file.0).unwrap();
        log.log(&entry(1)).unwrap();
        log.log(&entry(2)).unwrap();
        drop(log);
        let mut log = DecisionLog::create(&file.0).unwrap();
        log.log(&entry(9)).unwrap();
        // Flushed per line: readable while the log is still open.
        assert_eq!(DecisionLog::read(&file.0).unwrap(), vec![entry(9)]);
    }
}
