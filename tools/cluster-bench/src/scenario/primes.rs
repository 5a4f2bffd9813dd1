//! `primes` (Fig. 6): hatch-demo's `Primes` component called by a closed-loop client on host 0,
//! local, relocated to one agent, and replicated on 2..N-1 agents (round-robin), at concurrency
//! 10 to 100; mean and p99 response time and throughput per point. The client and the agents
//! are `cluster-bench-primes` processes, so on an emulated rack the local component competes for
//! host 0's CPU quota exactly as one agent's does.

use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::Context;
use crate::cluster::{Cluster, Program};
use crate::deploy::{self, Process};
use crate::output::{self, Series};

/// One placement at one concurrency.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// `local`, `relocated`, `replicated-K`.
    pub placement: String,
    /// Caller threads.
    pub concurrency: usize,
    /// Calls completed while recording.
    pub calls: u64,
    /// Calls whose answer was wrong (must be 0).
    pub wrong: u64,
    /// Calls per second.
    pub rps: f64,
    /// Mean response time, ms.
    pub mean_ms: f64,
    /// Median, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
}

impl Point {
    /// Parses a client's `point key=value...` line.
    fn parse(line: &str) -> Option<Point> {
        let rest = line.strip_prefix("point ")?;
        let field = |key: &str| {
            rest.split(' ').find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('='))).map(str::to_owned)
        };
        let num = |key: &str| field(key)?.parse::<f64>().ok();
        let calls = num("calls")? as u64;
        Some(Point {
            placement: field("placement")?,
            concurrency: num("concurrency")? as usize,
            calls,
            wrong: num("wrong")? as u64,
            rps: calls as f64 / num("secs")?.max(1e-9),
            mean_ms: num("mean_us")? / 1e3,
            p50_ms: num("p50_us")? / 1e3,
            p99_ms: num("p99_us")? / 1e3,
        })
    }
}

/// The placements measured with `agents` agents: local, relocated, replicated on 2..=agents.
pub fn placements(agents: usize) -> Vec<String> {
    let mut all = vec!["local".to_owned(), "relocated".to_owned()];
    all.extend((2..=agents).map(|k| format!("replicated-{k}")));
    all
}

/// Caller threads per point.
fn concurrency(smoke: bool) -> Vec<usize> {
    if smoke { vec![2, 8] } else { vec![10, 25, 50, 100] }
}

/// Starts a primes agent on every host but the first.
fn start_agents(cluster: &dyn Cluster) -> io::Result<Vec<Process>> {
    (1..cluster.hosts())
        .map(|host| {
            let args = [
                "agent".to_owned(),
                "--listen".into(),
                SocketAddr::new(cluster.addr(host), 0).to_string(),
                "--key-file".into(),
                cluster.key_file(host).display().to_string(),
            ];
            deploy::spawn(cluster, host, Program::Primes, &args, "agent listening on ")
        })
        .collect()
}

/// Runs every point: one client on host 0 that walks the placements and concurrency levels.
///
/// # Errors
///
/// An agent or the client that does not start, a client that fails, or a wrong answer.
pub fn measure(cluster: &dyn Cluster, ctx: &Context) -> io::Result<Vec<Point>> {
    if cluster.hosts() < 2 {
        return Err(io::Error::other("primes needs at least one agent host"));
    }
    let agents = start_agents(cluster)?;
    let placements = placements(agents.len());
    let levels = concurrency(ctx.smoke);
    let secs = ctx.window.as_secs_f64() * if ctx.smoke { 1.0 } else { 2.0 };
    let warm = ctx.window.as_secs_f64().min(1.0);
    let mut args = vec!["client".to_owned(), "--key-file".into(), cluster.key_file(0).display().to_string()];
    for agent in &agents {
        args.extend(["--agent".into(), agent.addr.to_string()]);
    }
    args.extend(["--placements".into(), placements.join(",")]);
    args.extend(["--concurrency".into(), levels.iter().map(usize::to_string).collect::<Vec<_>>().join(",")]);
    args.extend(["--secs".into(), secs.to_string(), "--warm".into(), warm.to_string()]);
    let mut client = deploy::spawn(cluster, 0, Program::Primes, &args, "client ready ")?;
    let lines = client.lines().expect("a fresh process");
    let total = placements.len() * levels.len();
    let bar = if ctx.progress { ProgressBar::new(total as u64) } else { ProgressBar::hidden() };
    bar.set_style(ProgressStyle::with_template("primes {bar:30} {pos}/{len} {msg}").expect("a valid template"));
    let per_point = Duration::from_secs_f64(secs + warm);
    let mut points = Vec::new();
    let mut done = false;
    while !done {
        // A point takes `per_point` plus the threads' start and a placement change.
        let line = lines
            .recv_timeout(per_point * 3 + Duration::from_secs(30))
            .map_err(|_| io::Error::other(format!("the primes client stopped after {} points", points.len())))?;
        if line == "done" {
            done = true;
        } else if let Some(point) = Point::parse(&line) {
            bar.set_message(format!("{} x{}", point.placement, point.concurrency));
            bar.inc(1);
            points.push(point);
        }
    }
    bar.finish_and_clear();
    let exit = client.wait(Duration::from_secs(30));
    drop(client);
    drop(agents);
    if !exit.is_some_and(|status| status.success()) {
        return Err(io::Error::other(format!("the primes client failed: {exit:?}")));
    }
    if points.len() != total {
        return Err(io::Error::other(format!("the primes client measured {} of {total} points", points.len())));
    }
    if let Some(bad) = points.iter().find(|p| p.wrong > 0) {
        return Err(io::Error::other(format!("wrong answers: {bad:?}")));
    }
    Ok(points)
}

/// The scenario: measures, writes `primes.csv`, `primes.png` (throughput) and
/// `primes-latency.png` and returns its summary section.
///
/// # Errors
///
/// Measuring or writing.
pub fn run(cluster: &dyn Cluster, ctx: &Context) -> io::Result<String> {
    let points = measure(cluster, ctx)?;
    let f2 = |x: f64| format!("{x:.2}");
    let rows: Vec<Vec<String>> = points
        .iter()
        .map(|p| {
            vec![
                p.placement.clone(),
                p.concurrency.to_string(),
                p.calls.to_string(),
                p.wrong.to_string(),
                format!("{:.1}", p.rps),
                f2(p.mean_ms),
                f2(p.p50_ms),
                f2(p.p99_ms),
            ]
        })
        .collect();
    let header = ["placement", "concurrency", "calls", "wrong", "calls_per_s", "mean_ms", "p50_ms", "p99_ms"];
    output::write_csv(&ctx.out.join("primes.csv"), &header, &rows)?;
    let mut names: Vec<&str> = Vec::new();
    for p in &points {
        if !names.contains(&p.placement.as_str()) {
            names.push(&p.placement);
        }
    }
    let series = |y: fn(&Point) -> f64| -> Vec<Series> {
        names
            .iter()
            .map(|name| Series {
                label: (*name).to_owned(),
                points: points.iter().filter(|p| p.placement == *name).map(|p| (p.concurrency as f64, y(p))).collect(),
            })
            .collect()
    };
    output::line_chart(
        &ctx.out.join("primes.png"),
        "Primes (Fig. 6): throughput by placement",
        "concurrent callers",
        "calls/s",
        &series(|p| p.rps),
    )?;
    output::line_chart(
        &ctx.out.join("primes-latency.png"),
        "Primes (Fig. 6): mean response time by placement",
        "concurrent callers",
        "mean response time (ms)",
        &series(|p| p.mean_ms),
    )?;

    let mut summary = String::from("## primes (Fig. 6)\n\n");
    let top = points.iter().map(|p| p.concurrency).max().unwrap_or(0);
    let local = points.iter().find(|p| p.placement == "local" && p.concurrency == top).map_or(f64::NAN, |p| p.rps);
    let table: Vec<Vec<String>> = points
        .iter()
        .map(|p| {
            let vs = points.iter().find(|l| l.placement == "local" && l.concurrency == p.concurrency);
            vec![
                p.placement.clone(),
                p.concurrency.to_string(),
                format!("{:.1}", p.rps),
                vs.map_or("-".into(), |l| format!("{:.2}x", p.rps / l.rps)),
                f2(p.mean_ms),
                f2(p.p99_ms),
            ]
        })
        .collect();
    summary.push_str(&output::table(&["placement", "callers", "calls/s", "vs local", "mean ms", "p99 ms"], &table));
    let widest = names.iter().rev().find(|n| n.starts_with("replicated-")).copied();
    if let Some(widest) = widest
        && let Some(best) = points.iter().find(|p| p.placement == widest && p.concurrency == top)
    {
        let ratio = best.rps / local;
        let _ = writeln!(
            summary,
            "\n{widest} at {top} callers: {:.1} calls/s, {ratio:.2}x local ({local:.1} calls/s); the target, at \
             least 2x with 3 agents on a 4-host rack, is {}. Each call counts the primes in a range near 10^9 (a \
             millisecond or two of CPU); the caller and every agent have one host's CPU, so replication adds CPU \
             while relocation only moves the work.\n",
            best.rps,
            if ratio >= 2.0 { "met" } else { "missed" }
        );
    }
    summary.push('\n');
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_line_parses() {
        let p = Point::parse(
            "point placement=replicated-2 concurrency=10 calls=500 wrong=0 secs=2.000 mean_us=4000 p50_us=3900 p99_us=9000",
        )
        .unwrap();
        assert_eq!(p.placement, "replicated-2");
        assert_eq!(p.concurrency, 10);
        assert_eq!(p.rps, 250.0);
        assert_eq!(p.p99_ms, 9.0);
        assert_eq!(Point::parse("point placement=local"), None);
        assert_eq!(placements(3), ["local", "relocated", "replicated-2", "replicated-3"]);
    }
}
