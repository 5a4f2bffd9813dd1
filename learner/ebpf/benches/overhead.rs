//! Overhead of the eBPF probe on a call: an echo over Hatch's io_uring
//! transport, timed per call from the client, with the probe detached and
//! attached in short alternating phases (ABBA order, so drift and other
//! tenants' load hit both sides alike), then the kernel's own accounting of
//! the probe's programs (`BPF_ENABLE_STATS`) over a run with the probe on.
//!
//! ```text
//! sudo cargo bench -p hatch-probe-ebpf --bench overhead
//! ```
//!
//! Env: `HATCH_BENCH_CALLS` calls per phase (default 1000), `HATCH_BENCH_ROUNDS`
//! rounds of one off and one on phase (default 60), `HATCH_BENCH_PAYLOAD` bytes
//! (default 64); diagnostics: `HATCH_BENCH_METRICS=service|rtt` loads only
//! that metric, `HATCH_BENCH_UNWATCHED=1` watches another port (every event
//! is then rejected by the port filter), `HATCH_BENCH_PID=1` adds a pid filter
//! (this process; attaches `sock_send_length` too). Without BPF permissions it prints
//! why and exits successfully.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use hatch_learner::probe::LatencyProbe;
use hatch_learner::shard::SlotTotals;
use hatch_probe_ebpf::{EbpfProbe, Metric, ProbeConfig};
use hatch_transport::Config;
use hatch_transport::uring::{Connection, Server, UringOptions};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The `p`-quantile of sorted samples.
fn quantile(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1e3
}

/// Per-call latencies (ns) of `calls` echo calls.
fn run_phase(conn: &mut Connection, payload: &[u8], calls: usize) -> Vec<u64> {
    let mut samples = Vec::with_capacity(calls);
    for _ in 0..calls {
        let t0 = Instant::now();
        let reply = conn.call(1, payload, None).expect("echo call");
        samples.push(t0.elapsed().as_nanos() as u64);
        assert_eq!(reply.len(), payload.len());
    }
    samples.sort_unstable();
    samples
}

fn summary(label: &str, samples: &mut [u64]) -> (u64, u64) {
    samples.sort_unstable();
    let (p50, p99) = (quantile(samples, 0.50), quantile(samples, 0.99));
    let mean = samples.iter().sum::<u64>() as f64 / samples.len() as f64;
    println!(
        "{label:>9}: n={:>7} p50={:>7.2}µs p99={:>7.2}µs mean={:>7.2}µs",
        samples.len(),
        us(p50),
        us(p99),
        mean / 1e3
    );
    (p50, p99)
}

fn main() {
    let calls = env("HATCH_BENCH_CALLS", 1000);
    let rounds = env("HATCH_BENCH_ROUNDS", 60);
    let payload = vec![0x5a; env("HATCH_BENCH_PAYLOAD", 64)];

    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let server = Server::bind(addr, Config::default(), Arc::new(hatch_transport::Echo), 1).expect("bind");
    let port = server.local_addr().port();
    let watch = if std::env::var_os("HATCH_BENCH_UNWATCHED").is_some() { port.wrapping_add(1).max(1) } else { port };
    let config = match std::env::var("HATCH_BENCH_METRICS").as_deref() {
        Ok("service") => ProbeConfig::new().slot(watch, Metric::Service),
        Ok("rtt") => ProbeConfig::new().slot(watch, Metric::Rtt),
        _ => ProbeConfig::server(watch),
    };
    let config = if std::env::var_os("HATCH_BENCH_PID").is_some() { config.pid(std::process::id()) } else { config };
    if let Err(e) = EbpfProbe::load(&config) {
        println!("overhead bench skipped: the eBPF probe does not load here: {e}");
        return;
    }
    let mut conn =
        Connection::connect(server.local_addr(), Config::default(), UringOptions::default()).expect("connect");
    run_phase(&mut conn, &payload, 2000); // warm-up

    println!(
        "echo over io_uring, {} B payload, {rounds} rounds x (off, on) x {calls} calls, slots {:?}",
        payload.len(),
        config.slots()
    );
    let (mut off, mut on) = (Vec::new(), Vec::new());
    let (mut p50_ratios, mut p99_ratios) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let mut phase = |probe: bool| {
            let loaded = probe.then(|| EbpfProbe::load(&config).expect("the probe loaded a moment ago"));
            let samples = run_phase(&mut conn, &payload, calls);
            drop(loaded);
            samples
        };
        let (a, b) = if round % 2 == 0 {
            let a = phase(false);
            (a, phase(true))
        } else {
            let b = phase(true);
            (phase(false), b)
        };
        p50_ratios.push(quantile(&b, 0.5) as f64 / quantile(&a, 0.5) as f64);
        p99_ratios.push(quantile(&b, 0.99) as f64 / quantile(&a, 0.99) as f64);
        off.extend(a);
        on.extend(b);
    }
    let (off50, off99) = summary("probe off", &mut off);
    let (on50, on99) = summary("probe on", &mut on);
    p50_ratios.sort_by(f64::total_cmp);
    p99_ratios.sort_by(f64::total_cmp);
    println!(
        "ratio on/off of pooled samples: p50 {:.3}, p99 {:.3}; median over rounds: p50 {:.3}, p99 {:.3}",
        on50 as f64 / off50 as f64,
        on99 as f64 / off99 as f64,
        p50_ratios[p50_ratios.len() / 2],
        p99_ratios[p99_ratios.len() / 2],
    );

    // The probe's own cost, as the kernel accounts it (independent of noise
    // from other processes; the accounting adds ~2 clock reads per run).
    let stats = match EbpfProbe::enable_run_time_stats() {
        Ok(s) => s,
        Err(e) => return println!("program run-time stats unavailable: {e}"),
    };
    let probe = EbpfProbe::load(&config).expect("the probe loaded a moment ago");
    let n = calls * 5;
    run_phase(&mut conn, &payload, n);
    let mut totals = vec![SlotTotals::default(); probe.slots()];
    probe.read(&mut totals);
    let programs = probe.program_stats().expect("program stats");
    drop(stats);
    let mut per_call = 0.0;
    for p in &programs {
        let ns_per_run = p.run_time_ns as f64 / p.runs.max(1) as f64;
        let runs_per_call = p.runs as f64 / n as f64;
        per_call += p.run_time_ns as f64 / n as f64;
        println!("{:>17}: {runs_per_call:.2} runs/call, {ns_per_run:.0} ns/run", p.tracepoint);
    }
    println!(
        "BPF time per call: {per_call:.0} ns = {:.2}% of the probe-off p50 ({} calls; slot counts {:?})",
        per_call / off50 as f64 * 100.0,
        n,
        totals.iter().map(|t| t.count).collect::<Vec<_>>()
    );
}
