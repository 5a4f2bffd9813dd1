//! The results: kept per run (every round), aggregated into the markdown tables printed at the
//! end and written to `target/webbench/summary.md`, and written row by row to
//! `target/webbench/results.csv`.

use std::fmt::Write as _;

use crate::generators::{Sample, Tool};
use crate::micro::{self, Micro, WIRINGS};
use crate::servers::ServerKind;

/// The two static contents of the comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Content {
    /// `static/thumb/NNNN.jpg`, 10 KiB each.
    Thumbs,
    /// `static/stub/NNNN.txt`, 5 KiB each.
    Stubs,
}

impl Content {
    /// Both.
    pub const ALL: [Content; 2] = [Content::Thumbs, Content::Stubs];

    /// The hatch-load preset (and CSV name).
    pub fn preset(self) -> &'static str {
        match self {
            Content::Thumbs => "thumbs",
            Content::Stubs => "stubs",
        }
    }

    /// What it is, in tables.
    pub fn label(self) -> &'static str {
        match self {
            Content::Thumbs => "10 KiB images (thumbs)",
            Content::Stubs => "5 KiB text (stubs)",
        }
    }
}

/// One static run.
#[derive(Clone, Debug)]
pub struct StaticPoint {
    /// What was requested.
    pub content: Content,
    /// By which generator.
    pub tool: Tool,
    /// From which server.
    pub server: ServerKind,
    /// Which round (from 1).
    pub round: usize,
    /// The load average (1, 5, 15 min) when it started.
    pub load: String,
    /// What it measured, or why not.
    pub result: Result<Sample, String>,
}

/// One dynamic run (hatch-web only).
#[derive(Clone, Debug)]
pub struct DynamicPoint {
    /// The Script cost (`?cost=N`).
    pub cost: u32,
    /// Which round (from 1).
    pub round: usize,
    /// The load average (1, 5, 15 min) when it started.
    pub load: String,
    /// What it measured, or why not.
    pub result: Result<Sample, String>,
}

/// Everything the report says.
pub struct Report {
    /// The run's circumstances, one line each (date, load, pinning, versions, settings).
    pub context: Vec<String>,
    /// Static runs.
    pub statics: Vec<StaticPoint>,
    /// Dynamic runs.
    pub dynamics: Vec<DynamicPoint>,
    /// Connections of the static runs.
    pub static_connections: usize,
    /// Connections of the dynamic runs.
    pub dynamic_connections: usize,
    /// Seconds per measured run.
    pub secs: u64,
    /// The micro-benchmark, or why it did not run.
    pub micro: Result<Micro, String>,
    /// What went wrong or is worth knowing (skipped tools, failed runs, stop outcomes).
    pub notes: Vec<String>,
}

/// The target of the issue: hatch-web's cached static content at no less than this share of
/// nginx's requests/s …
pub const RPS_TARGET: f64 = 0.8;
/// … with a p99 no worse than this multiple of nginx's.
pub const P99_TARGET: f64 = 1.5;
/// A load generator using this share of its vCPU or more measured itself as much as the
/// server: its row is flagged.
pub const SATURATED: f64 = 0.85;

/// The median over rounds of each figure, errors summed; `None` when no round succeeded.
fn aggregate<'a>(samples: impl Iterator<Item = &'a Result<Sample, String>>) -> Option<(Sample, usize)> {
    let ok: Vec<Sample> = samples.filter_map(|r| r.as_ref().ok().copied()).collect();
    if ok.is_empty() {
        return None;
    }
    let of = |f: fn(&Sample) -> f64| micro::median(&ok.iter().map(f).collect::<Vec<_>>());
    let known = |f: fn(&Sample) -> Option<f64>| {
        let values: Vec<f64> = ok.iter().filter_map(f).collect();
        (!values.is_empty()).then(|| micro::median(&values))
    };
    let sample = Sample {
        requests: ok.iter().map(|s| s.requests).sum(),
        errors: ok.iter().map(|s| s.errors).sum(),
        rps: of(|s| s.rps),
        p50_us: of(|s| s.p50_us),
        p99_us: of(|s| s.p99_us),
        server_cpu_us: known(|s| s.server_cpu_us),
        client_cpu: known(|s| s.client_cpu),
    };
    Some((sample, ok.len()))
}

fn us(value: f64) -> String {
    if value >= 10_000.0 { format!("{:.1} ms", value / 1000.0) } else { format!("{value:.0} µs") }
}

impl Report {
    fn static_sample(&self, content: Content, tool: Tool, server: ServerKind) -> Option<(Sample, usize)> {
        aggregate(
            self.statics
                .iter()
                .filter(|p| p.content == content && p.tool == tool && p.server == server)
                .map(|p| &p.result),
        )
    }

    /// The markdown summary.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# Web platform: static files against nginx\n");
        for line in &self.context {
            let _ = writeln!(md, "- {line}");
        }
        let _ = writeln!(
            md,
            "\n## Static files, closed loop, {} connections, {} s per run\n",
            self.static_connections, self.secs
        );
        let _ = writeln!(
            md,
            "| content | load generator | hatch-web req/s | p50 | p99 | nginx req/s | p50 | p99 | req/s × nginx | p99 × nginx | target (≥ {RPS_TARGET}×, ≤ {P99_TARGET}×) |"
        );
        let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        for content in Content::ALL {
            for tool in [Tool::Wrk, Tool::HatchLoad] {
                let hatch = self.static_sample(content, tool, ServerKind::HatchWeb);
                let nginx = self.static_sample(content, tool, ServerKind::Nginx);
                if hatch.is_none() && nginx.is_none() {
                    continue;
                }
                let cells = |s: &Option<(Sample, usize)>| match s {
                    Some((s, _)) => format!("{:.0} | {} | {}", s.rps, us(s.p50_us), us(s.p99_us)),
                    None => "n/a | n/a | n/a".into(),
                };
                let (ratios, verdict) = match (&hatch, &nginx) {
                    (Some((h, _)), Some((n, _))) if n.rps > 0.0 && n.p99_us > 0.0 => {
                        let (rps, p99) = (h.rps / n.rps, h.p99_us / n.p99_us);
                        let met = |ok: bool| if ok { "met" } else { "missed" };
                        let saturated = [h, n].iter().any(|s| s.client_cpu.is_some_and(|c| c >= SATURATED));
                        let caveat = if saturated { " (generator saturated: see CPU table)" } else { "" };
                        (
                            format!("{rps:.2} | {p99:.2}"),
                            format!("req/s {}, p99 {}{caveat}", met(rps >= RPS_TARGET), met(p99 <= P99_TARGET)),
                        )
                    }
                    _ => ("n/a | n/a".into(), "n/a".into()),
                };
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {ratios} | {verdict} |",
                    content.label(),
                    tool.name(),
                    cells(&hatch),
                    cells(&nginx)
                );
            }
        }
        let errors: u64 = self.statics.iter().filter_map(|p| p.result.as_ref().ok()).map(|s| s.errors).sum();
        let _ = writeln!(md, "\nErrors over all static runs: {errors}.");
        self.cpu_table(&mut md);

        let _ = writeln!(
            md,
            "\n## Dynamic pages on hatch-web (`/wiki/<title>?cost=N`, wrk, closed loop, {} connections)\n",
            self.dynamic_connections
        );
        let _ = writeln!(md, "| Script cost | req/s | p50 | p99 | errors | server CPU µs/req | wrk CPU |");
        let _ = writeln!(md, "|---:|---:|---:|---:|---:|---:|---:|");
        let mut costs: Vec<u32> = self.dynamics.iter().map(|p| p.cost).collect();
        costs.sort_unstable();
        costs.dedup();
        for cost in costs {
            match aggregate(self.dynamics.iter().filter(|p| p.cost == cost).map(|p| &p.result)) {
                Some((s, _)) => {
                    let _ = writeln!(
                        md,
                        "| {cost} | {:.0} | {} | {} | {} | {} | {} |",
                        s.rps,
                        us(s.p50_us),
                        us(s.p99_us),
                        s.errors,
                        s.server_cpu_us.map_or("n/a".into(), |v| format!("{v:.0}")),
                        s.client_cpu.map_or("n/a".into(), |c| format!("{:.0}%", 100.0 * c)),
                    );
                }
                None => {
                    let _ = writeln!(md, "| {cost} | n/a | n/a | n/a | n/a | n/a | n/a |");
                }
            }
        }

        let _ = writeln!(md, "\n## Component machinery per request, in process (one thread on the server vCPU)\n");
        match &self.micro {
            Ok(micro) => self.micro_table(&mut md, micro),
            Err(e) => {
                let _ = writeln!(md, "Not measured: {e}");
            }
        }
        if !self.notes.is_empty() {
            let _ = writeln!(md, "\n## Notes\n");
            for note in &self.notes {
                let _ = writeln!(md, "- {}", note.replace('\n', "\n  "));
            }
        }
        md
    }

    /// Where the time goes: the server's CPU per request, and whether the generator's vCPU was
    /// saturated (then the run measured the generator as much as the server).
    fn cpu_table(&self, md: &mut String) {
        let _ = writeln!(
            md,
            "\nCPU per request of the server (all threads, `/proc/<pid>/stat`) and the load generator's \
             use of its vCPU (`getrusage`), same runs:\n"
        );
        let _ = writeln!(
            md,
            "| content | load generator | hatch-web CPU µs/req | nginx CPU µs/req | × nginx | generator CPU, hatch-web run | generator CPU, nginx run |"
        );
        let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|");
        let cpu = |s: &Option<(Sample, usize)>| s.as_ref().and_then(|(s, _)| s.server_cpu_us);
        let share = |s: &Option<(Sample, usize)>| match s.as_ref().and_then(|(s, _)| s.client_cpu) {
            Some(c) => format!("{:.0}%", 100.0 * c),
            None => "n/a".into(),
        };
        let fmt = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{v:.1}"));
        for content in Content::ALL {
            for tool in [Tool::Wrk, Tool::HatchLoad] {
                let hatch = self.static_sample(content, tool, ServerKind::HatchWeb);
                let nginx = self.static_sample(content, tool, ServerKind::Nginx);
                if hatch.is_none() && nginx.is_none() {
                    continue;
                }
                let ratio = match (cpu(&hatch), cpu(&nginx)) {
                    (Some(h), Some(n)) if n > 0.0 => format!("{:.2}", h / n),
                    _ => "n/a".into(),
                };
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {ratio} | {} | {} |",
                    content.label(),
                    tool.name(),
                    fmt(cpu(&hatch)),
                    fmt(cpu(&nginx)),
                    share(&hatch),
                    share(&nginx)
                );
            }
        }
    }

    fn micro_table(&self, md: &mut String, micro: &Micro) {
        let _ = writeln!(
            md,
            "Median of {} rounds of about {} ms each per wiring (wirings alternate round by round); \
             ns per request.\n",
            micro.rounds,
            micro.round.as_millis()
        );
        let _ = writeln!(
            md,
            "| handler | request | {} | {} | {} | assembled − direct | share of request | slot loads left in the handler |",
            WIRINGS[0], WIRINGS[1], WIRINGS[2]
        );
        let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|");
        for row in &micro.rows {
            let [assembled, frontend, direct] = row.median_ns;
            let diff = assembled - direct;
            let _ = writeln!(
                md,
                "| {} | {} | {assembled:.0} | {frontend:.0} | {direct:.0} | {diff:+.0} ns | {:+.1}% | {} |",
                row.variant.name(),
                row.probe,
                100.0 * diff / assembled,
                row.inner_loads
            );
        }
        let _ = writeln!(
            md,
            "\nOne `Slot<dyn Trait>` load + call of a trivial method: {:.1} ns, against {:.1} ns on a \
             `Box<dyn Trait>` ({:+.1} ns per slot load).",
            micro.slot_call_ns,
            micro.box_call_ns,
            micro.slot_call_ns - micro.box_call_ns
        );
    }

    /// One CSV line per run and per micro-benchmark figure.
    pub fn csv(&self) -> String {
        const HEADER: [&str; 16] = [
            "section",
            "content",
            "tool",
            "server",
            "round",
            "connections",
            "secs",
            "requests",
            "errors",
            "rps",
            "p50_us",
            "p99_us",
            "server_cpu_us_per_request",
            "client_cpu_share",
            "ns_per_request",
            "note",
        ];
        let mut csv = HEADER.join(",") + "\n";
        let mut row = |fields: [String; 16]| {
            let clean: Vec<String> = fields.iter().map(|f| f.replace([',', '"', '\n'], ";")).collect();
            csv.push_str(&clean.join(","));
            csv.push('\n');
        };
        let opt = |v: Option<f64>, digits: usize| v.map_or(String::new(), |v| format!("{v:.digits$}"));
        let mut load = |section: &str,
                        content: String,
                        tool: &str,
                        server: &str,
                        round: usize,
                        conns: usize,
                        load: &str,
                        r: &Result<Sample, String>| {
            let head = [
                section.to_owned(),
                content,
                tool.to_owned(),
                server.to_owned(),
                round.to_string(),
                conns.to_string(),
                self.secs.to_string(),
            ];
            let rest: [String; 9] = match r {
                Ok(s) => [
                    s.requests.to_string(),
                    s.errors.to_string(),
                    format!("{:.1}", s.rps),
                    format!("{:.1}", s.p50_us),
                    format!("{:.1}", s.p99_us),
                    opt(s.server_cpu_us, 2),
                    opt(s.client_cpu, 3),
                    String::new(),
                    format!("load average {load}"),
                ],
                Err(e) => std::array::from_fn(|i| {
                    if i == 8 {
                        format!("load average {load}; {}", e.lines().next().unwrap_or_default())
                    } else {
                        String::new()
                    }
                }),
            };
            let mut fields: [String; 16] = Default::default();
            for (slot, value) in fields.iter_mut().zip(head.into_iter().chain(rest)) {
                *slot = value;
            }
            row(fields);
        };
        for p in &self.statics {
            load(
                "static",
                p.content.preset().into(),
                p.tool.name(),
                p.server.name(),
                p.round,
                self.static_connections,
                &p.load,
                &p.result,
            );
        }
        for p in &self.dynamics {
            load(
                "dynamic",
                format!("cost={}", p.cost),
                "wrk",
                "hatch-web",
                p.round,
                self.dynamic_connections,
                &p.load,
                &p.result,
            );
        }
        if let Ok(micro) = &self.micro {
            let mut figure = |content: &str, tool: &str, wiring: &str, ns: f64, note: String| {
                let mut fields: [String; 16] = Default::default();
                fields[0] = "micro".into();
                fields[1] = content.into();
                fields[2] = tool.into();
                fields[3] = wiring.into();
                fields[5] = "1".into();
                fields[14] = format!("{ns:.2}");
                fields[15] = note;
                row(fields);
            };
            for r in &micro.rows {
                for (w, wiring) in WIRINGS.iter().enumerate() {
                    let note = format!("median of {} rounds; lowest round {:.1}", micro.rounds, r.min_ns[w]);
                    figure(r.probe, r.variant.name(), wiring, r.median_ns[w], note);
                }
            }
            figure("trivial call", "Slot<dyn Trait>", "", micro.slot_call_ns, String::new());
            figure("trivial call", "Box<dyn Trait>", "", micro.box_call_ns, String::new());
        }
        csv
    }
}
