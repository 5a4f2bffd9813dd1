//! What distribution costs, on this machine: `cargo bench -p hatch-demo --bench distribution`.
//!
//! - relocation time (there, and back), stateless and with 1 MiB of state, p50/p99;
//! - throughput of a CPU-bound method (`Primes::count`) locally and replicated on 1, 2
//!   and 4 agents (round-robin), 4 calling threads;
//! - recovery time after an agent is killed with SIGKILL under load (first failed call
//!   to the slot running a local instance again), p50/p99.
//!
//! Agents are child processes of this binary. `HATCH_BENCH_ITERS` (default 30) sets the
//! relocation and recovery iterations, `HATCH_BENCH_SECS` (default 2) each throughput run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hatch_components::remote::{AgentProcess, Host, Key, RoundRobin, relocate, replicate, run_if_agent};
use hatch_components::{Composition, Slot};
use hatch_demo::component::MemoryBlob;
use hatch_demo::load::Load;
use hatch_demo::primes::Primes;
use hatch_demo::store::Blob;
use hdrhistogram::Histogram;

/// FNV-1a offset basis.
const SEED: u64 = 0xcbf2_9ce4_8422_2325;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds")
}

fn row(what: &str, h: &Histogram<u64>) {
    println!(
        "{what:<44} {:>10.1} {:>10.1} {:>6}",
        h.value_at_quantile(0.5) as f64 / 1e3,
        h.value_at_quantile(0.99) as f64 / 1e3,
        h.len()
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    run_if_agent(hatch_demo::catalog);
    // `cargo bench` passes `--bench`; nothing else to parse.
    let iters = env_or("HATCH_BENCH_ITERS", 30);
    let secs = Duration::from_secs(env_or("HATCH_BENCH_SECS", 2));
    let key = Key::generate()?;
    let catalog = Arc::new(hatch_demo::catalog());
    let agents = (0..4).map(|_| AgentProcess::spawn_self(&[], "127.0.0.1:0", &key)).collect::<Result<Vec<_>, _>>()?;
    let hosts = agents.iter().map(|a| Host::connect(a.addr(), &key).map(Arc::new)).collect::<Result<Vec<_>, _>>()?;

    println!("{:<44} {:>10} {:>10} {:>6}", "relocation", "p50 ms", "p99 ms", "n");
    let primes: Composition = "{TrialDivision|}".parse()?;
    let slot: Slot<dyn Primes> = Slot::new(catalog.build(&primes)?);
    let (mut there, mut back) = (histogram(), histogram());
    for _ in 0..iters {
        let t = Instant::now();
        let relocation = relocate(&slot, &catalog, &hosts[0], &primes)?;
        there.record(t.elapsed().as_micros() as u64)?;
        assert_eq!(slot.load().count(1, 100), 25);
        let t = Instant::now();
        relocation.back()?;
        back.record(t.elapsed().as_micros() as u64)?;
    }
    row("stateless: relocate", &there);
    row("stateless: back", &back);

    let blob: Composition = "{MemoryBlob|}".parse()?;
    let bytes: Vec<u8> = (0..1u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let expected = MemoryBlob(bytes.clone()).checksum(SEED);
    let slot: Slot<dyn Blob> = Slot::new(Box::new(MemoryBlob(bytes)));
    let (mut there, mut back) = (histogram(), histogram());
    for _ in 0..iters {
        let t = Instant::now();
        let relocation = relocate(&slot, &catalog, &hosts[0], &blob)?;
        there.record(t.elapsed().as_micros() as u64)?;
        assert_eq!(slot.load().checksum(SEED), expected, "the state arrived");
        let t = Instant::now();
        relocation.back()?;
        back.record(t.elapsed().as_micros() as u64)?;
    }
    assert_eq!(slot.load().checksum(SEED), expected, "the state came back");
    row("1 MiB state: relocate", &there);
    row("1 MiB state: back", &back);

    println!("\n{:<44} {:>10} {:>10} {:>10}", "Primes::count, 4 threads", "calls/s", "p50 µs", "p99 µs");
    let slot: Slot<dyn Primes> = Slot::new(catalog.build(&primes)?);
    for replicas in [0usize, 1, 2, 4] {
        let placed = match replicas {
            0 => None,
            1 => Some(relocate(&slot, &catalog, &hosts[0], &primes)?),
            n => Some(replicate(&slot, &catalog, &hosts[..n], &primes, Arc::new(RoundRobin::default()))?),
        };
        let load = Load::start(&slot, 4, 1);
        std::thread::sleep(secs);
        let stats = load.finish().remove(0);
        assert_eq!(stats.wrong, 0);
        let what = if replicas == 0 { "local".to_string() } else { format!("{replicas} replica(s)") };
        println!(
            "{what:<44} {:>10.0} {:>10} {:>10}",
            stats.throughput(),
            stats.latency.value_at_quantile(0.5),
            stats.latency.value_at_quantile(0.99)
        );
        if let Some(placed) = placed {
            placed.back()?;
        }
    }
    drop(agents);

    println!("\n{:<44} {:>10} {:>10} {:>6}", "recovery after SIGKILL, 2 threads", "p50 ms", "p99 ms", "n");
    let mut recovery = histogram();
    for _ in 0..iters.min(20) {
        let mut agent = AgentProcess::spawn_self(&[], "127.0.0.1:0", &key)?;
        let host = Arc::new(Host::connect(agent.addr(), &key)?);
        let slot: Slot<dyn Primes> = Slot::new(catalog.build(&primes)?);
        let relocation = relocate(&slot, &catalog, &host, &primes)?;
        let load = Load::start(&slot, 2, 1);
        while load.calls() < 20 {
            std::thread::yield_now();
        }
        agent.kill()?;
        let report = relocation.wait_recovered(Duration::from_secs(30)).ok_or("not recovered")?;
        recovery.record(report.swapped_back_after.as_micros() as u64)?;
        assert_eq!(load.finish().remove(0).wrong, 0);
    }
    row("first failed call -> slot local again", &recovery);
    Ok(())
}
