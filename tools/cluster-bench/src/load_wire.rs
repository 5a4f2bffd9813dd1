//! A load run on another host: its [`Plan`] as command-line arguments of `cluster-bench-load`,
//! and its [`Report`] back as text lines, exactly (latency histograms in HdrHistogram's V2
//! encoding, in hex), so that a scenario measured from a load-client host reads the same
//! figures (mean, p50, p99 of the whole run) as one measured here. `hatch-load`'s own command
//! line prints only a summary line and per-second rows, which is why load clients run this
//! thin wrapper around the same `hatch_load::run` instead.
//!
//! Lines: `second T PHASE REQUESTS ERRORS P50 P99 MEAN`, `phase I START_S REQUESTS HEX`,
//! `phase-error I KIND N`, `error KIND N`, `total REQUESTS UNSENT CONNECTS ELAPSED_US`,
//! `histogram HEX`, and `end` last.

use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use hatch_load::report::{PhaseSummary, latency_histogram};
use hatch_load::{ErrorCounts, ErrorKind, Phase, Plan, Report, SecondRow};
use hatch_webstack::dataset::Shape;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};

/// `plan` as arguments of `cluster-bench-load` (see [`parse_plan`]).
pub fn plan_args(plan: &Plan) -> Vec<String> {
    let s = &plan.shape;
    let mut args = vec![
        plan.addr.to_string(),
        plan.host.clone(),
        plan.phases.iter().map(Phase::to_string).collect::<Vec<_>>().join(","),
        plan.connections.to_string(),
        plan.rate.map_or_else(|| "-".into(), |r| r.to_string()),
        plan.cost.to_string(),
        format!("{},{},{},{},{}", s.images, s.texts, s.thumbs, s.stubs, s.articles),
        plan.seed.to_string(),
        plan.timeout.as_micros().to_string(),
    ];
    args.push(plan.accept_encoding.clone().unwrap_or_else(|| "-".into()));
    args
}

/// The plan [`plan_args`] wrote.
///
/// # Errors
///
/// `InvalidInput` naming the argument that does not parse.
pub fn parse_plan(args: &[String]) -> io::Result<Plan> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("bad {what}: {args:?}"));
    let [addr, host, phases, connections, rate, cost, shape, seed, timeout, encoding] = args else {
        return Err(bad("argument count"));
    };
    let addr: SocketAddr = addr.parse().map_err(|_| bad("address"))?;
    let shape: Vec<u32> = shape.split(',').map(str::parse).collect::<Result<_, _>>().map_err(|_| bad("shape"))?;
    let [images, texts, thumbs, stubs, articles] = shape[..] else { return Err(bad("shape")) };
    Ok(Plan {
        host: host.clone(),
        connections: connections.parse().map_err(|_| bad("connections"))?,
        rate: if rate == "-" { None } else { Some(rate.parse().map_err(|_| bad("rate"))?) },
        cost: cost.parse().map_err(|_| bad("cost"))?,
        shape: Shape { images, texts, thumbs, stubs, articles },
        seed: seed.parse().map_err(|_| bad("seed"))?,
        timeout: Duration::from_micros(timeout.parse().map_err(|_| bad("timeout"))?),
        accept_encoding: (encoding != "-").then(|| encoding.clone()),
        ..Plan::new(addr, Phase::parse_list(phases).map_err(|_| bad("phases"))?)
    })
}

fn hex(histogram: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    V2Serializer::new().serialize(histogram, &mut bytes).expect("serialising into memory");
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn unhex(text: &str) -> Option<Histogram<u64>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Vec<u8> =
        (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect::<Option<_>>()?;
    Deserializer::new().deserialize(&mut &bytes[..]).ok()
}

/// `report` as lines, `end` last.
pub fn encode(report: &Report) -> String {
    let mut out = String::new();
    for r in &report.seconds {
        let _ = writeln!(
            out,
            "second {} {} {} {} {} {} {}",
            r.time_s, r.phase, r.requests, r.errors, r.p50_us, r.p99_us, r.mean_us
        );
    }
    for (i, p) in report.phases.iter().enumerate() {
        let _ = writeln!(out, "phase {i} {} {} {}", p.start_s, p.requests, hex(&p.latency));
        for (kind, n) in p.errors.iter() {
            let _ = writeln!(out, "phase-error {i} {} {n}", kind.name());
        }
    }
    for (kind, n) in report.errors.iter() {
        let _ = writeln!(out, "error {} {n}", kind.name());
    }
    let _ =
        writeln!(out, "total {} {} {} {}", report.requests, report.unsent, report.connects, report.elapsed.as_micros());
    let _ = writeln!(out, "histogram {}", hex(&report.total));
    out.push_str("end\n");
    out
}

fn count(errors: &mut ErrorCounts, kind: &str, n: &str) -> Option<()> {
    let kind = ErrorKind::ALL.into_iter().find(|k| k.name() == kind)?;
    for _ in 0..n.parse::<u64>().ok()? {
        errors.add(kind);
    }
    Some(())
}

/// The report of `plan` from the lines [`encode`] wrote, up to `end`.
///
/// # Errors
///
/// `InvalidData` for a line that does not parse or a missing part.
pub fn decode(plan: &Plan, lines: impl IntoIterator<Item = String>) -> io::Result<Report> {
    let bad = |line: &str| io::Error::new(io::ErrorKind::InvalidData, format!("load report line {line:?}"));
    let mut report = Report {
        seconds: Vec::new(),
        phases: Vec::new(),
        total: latency_histogram(),
        requests: 0,
        errors: ErrorCounts::default(),
        unsent: 0,
        connects: 0,
        elapsed: Duration::ZERO,
    };
    let (mut total, mut histogram) = (false, false);
    for line in lines {
        let f: Vec<&str> = line.split(' ').collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).ok_or_else(|| bad(&line));
        match f[0] {
            "second" => report.seconds.push(SecondRow {
                time_s: num(1)?,
                phase: f.get(2).and_then(|p| p.parse().ok()).ok_or_else(|| bad(&line))?,
                requests: num(3)?,
                errors: num(4)?,
                p50_us: num(5)?,
                p99_us: num(6)?,
                mean_us: num(7)?,
            }),
            "phase" => {
                let phase = *plan.phases.get(num(1)? as usize).ok_or_else(|| bad(&line))?;
                let latency = f.get(4).and_then(|h| unhex(h)).ok_or_else(|| bad(&line))?;
                let errors = ErrorCounts::default();
                report.phases.push(PhaseSummary { phase, start_s: num(2)?, requests: num(3)?, errors, latency });
            }
            "phase-error" => {
                let phase = report.phases.get_mut(num(1)? as usize).ok_or_else(|| bad(&line))?;
                count(&mut phase.errors, f.get(2).unwrap_or(&""), f.get(3).unwrap_or(&"")).ok_or_else(|| bad(&line))?;
            }
            "error" => {
                count(&mut report.errors, f.get(1).unwrap_or(&""), f.get(2).unwrap_or(&"")).ok_or_else(|| bad(&line))?
            }
            "total" => {
                (report.requests, report.unsent, report.connects) = (num(1)?, num(2)?, num(3)?);
                report.elapsed = Duration::from_micros(num(4)?);
                total = true;
            }
            "histogram" => {
                report.total = f.get(1).and_then(|h| unhex(h)).ok_or_else(|| bad(&line))?;
                histogram = true;
            }
            "end" if total && histogram => return Ok(report),
            _ => return Err(bad(&line)),
        }
    }
    Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the load report ended early"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hatch_load::Preset;

    #[test]
    fn a_plan_and_a_report_cross_exactly() {
        let mut plan =
            Plan::new("10.0.0.1:8080".parse().unwrap(), Phase::parse_list("dynamic-5:2,wikipedia:1").unwrap());
        plan.rate = Some(213.0);
        plan.cost = 57;
        plan.shape = Shape::small();
        assert_eq!(parse_plan(&plan_args(&plan)).unwrap(), plan);

        let mut total = latency_histogram();
        for us in [120, 900, 15_000, 15_000, 2_000_000] {
            total.record(us).unwrap();
        }
        let mut errors = ErrorCounts::default();
        errors.add(ErrorKind::ALL[1]);
        let report = Report {
            seconds: vec![SecondRow {
                time_s: 0,
                phase: Preset::Dynamic5,
                requests: 5,
                errors: 1,
                p50_us: 900,
                p99_us: 2_000_000,
                mean_us: 406_004,
            }],
            phases: vec![PhaseSummary {
                phase: plan.phases[0],
                start_s: 0,
                requests: 5,
                errors,
                latency: total.clone(),
            }],
            total: total.clone(),
            requests: 5,
            errors,
            unsent: 2,
            connects: 16,
            elapsed: Duration::from_micros(3_000_123),
        };
        let back = decode(&plan, encode(&report).lines().map(str::to_owned)).unwrap();
        assert_eq!(back.seconds, report.seconds);
        assert_eq!(back.total, total);
        assert_eq!(back.total.value_at_quantile(0.99), total.value_at_quantile(0.99));
        assert_eq!(back.errors, errors);
        assert_eq!(back.phases[0].errors, errors);
        assert_eq!((back.requests, back.unsent, back.connects, back.elapsed), (5, 2, 16, report.elapsed));
        assert!(decode(&plan, ["second x".to_owned()]).is_err());
        assert!(decode(&plan, ["end".to_owned()]).is_err());
    }
}
