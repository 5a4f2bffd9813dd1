//! `cluster-bench-primes`: the two processes of the `primes` scenario (the paper's Fig. 6), the
//! hatch-demo `Primes` component on a cluster.
//!
//! * `cluster-bench-primes agent --listen ADDR --key-file FILE`: a daemon agent serving the
//!   hatch-demo catalog; prints `agent listening on ADDR` and serves until SIGTERM or SIGINT.
//! * `cluster-bench-primes client --key-file FILE --agent ADDR... --placements LIST
//!   --concurrency LIST --secs S --warm W`: holds a `Primes` slot, places its component as each
//!   of `LIST` says (`local`, `relocated`: on the first agent, `replicated-K`: on the first `K`
//!   agents, round-robin), and for each concurrency level runs that many threads calling it back
//!   to back for `W` seconds unrecorded and `S` recorded, checking every answer. Prints
//!   `client ready 0.0.0.0:0` once connected to the agents (the address is a placeholder: the
//!   client serves nothing), then one line per point: `point placement=P concurrency=C calls=N
//!   wrong=N secs=S mean_us=X p50_us=X p99_us=X`, and `done` at the end.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use hatch_components::remote::{Agent, Host, Key, Relocation, RoundRobin, relocate, replicate};
use hatch_components::{Composition, Slot};
use hatch_demo::component::TrialDivision;
use hatch_demo::primes::Primes;
use hdrhistogram::Histogram;

/// Numbers counted per call: 1-2 ms of trial division near 10⁹ on this machine, ten times
/// hatch-demo's span, so that a call's work dwarfs its round trip as the paper's prime
/// component does.
const DEFAULT_SPAN: u64 = 640;
/// Distinct ranges the callers cycle through (their answers are computed once, up front).
const RANGES: u64 = 32;
const BASE: u64 = 1_000_000_000;

#[derive(Parser)]
#[command(name = "cluster-bench-primes", about = "The primes scenario's agent and client")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serves the hatch-demo catalog (daemon).
    Agent {
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long)]
        key_file: PathBuf,
    },
    /// Measures the placements.
    Client {
        #[arg(long)]
        key_file: PathBuf,
        #[arg(long = "agent")]
        agents: Vec<SocketAddr>,
        /// Comma-separated: local, relocated, replicated-K.
        #[arg(long, value_delimiter = ',')]
        placements: Vec<String>,
        /// Comma-separated caller thread counts.
        #[arg(long, value_delimiter = ',')]
        concurrency: Vec<usize>,
        /// Recorded seconds per point.
        #[arg(long)]
        secs: f64,
        /// Unrecorded seconds before each point.
        #[arg(long, default_value_t = 1.0)]
        warm: f64,
        /// Numbers counted per call.
        #[arg(long, default_value_t = DEFAULT_SPAN)]
        span: u64,
    },
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match Cli::parse().command {
        Command::Agent { listen, key_file } => {
            hatch_webstack::site::block_termination_signals();
            let agent = Agent::start(listen, Arc::new(hatch_demo::catalog()), Key::from_file(&key_file)?)?;
            println!("agent listening on {}", agent.addr());
            hatch_webstack::site::wait_for_termination();
            agent.shutdown();
            Ok(())
        }
        Command::Client { key_file, agents, placements, concurrency, secs, warm, span } => {
            let key = Key::from_file(&key_file)?;
            let hosts: Vec<Arc<Host>> =
                agents.iter().map(|addr| Host::connect(*addr, &key).map(Arc::new)).collect::<Result<_, _>>()?;
            let catalog = Arc::new(hatch_demo::catalog());
            let composition: Composition = "{TrialDivision|}".parse()?;
            let slot: Slot<dyn Primes> = Slot::new(catalog.build::<dyn Primes>(&composition)?);
            let expected: Arc<Vec<u64>> = Arc::new((0..RANGES).map(|r| answer(r, span)).collect());
            println!("client ready 0.0.0.0:0");
            for placement in &placements {
                let placed: Option<Relocation<dyn Primes>> = match placement.as_str() {
                    "local" => None,
                    "relocated" => Some(relocate(&slot, &catalog, hosts.first().ok_or("no agent")?, &composition)?),
                    other => {
                        let k: usize = other
                            .strip_prefix("replicated-")
                            .and_then(|k| k.parse().ok())
                            .ok_or_else(|| format!("unknown placement {other:?}"))?;
                        let on = hosts.get(..k).ok_or_else(|| format!("{other}: only {} agents", hosts.len()))?;
                        Some(replicate(&slot, &catalog, on, &composition, Arc::new(RoundRobin::default()))?)
                    }
                };
                for &threads in &concurrency {
                    run_point(&slot, &expected, span, threads, Duration::from_secs_f64(warm));
                    let (latency, wrong, elapsed) =
                        run_point(&slot, &expected, span, threads, Duration::from_secs_f64(secs));
                    println!(
                        "point placement={placement} concurrency={threads} calls={} wrong={wrong} secs={:.3} mean_us={:.0} p50_us={} p99_us={}",
                        latency.len(),
                        elapsed.as_secs_f64(),
                        latency.mean(),
                        latency.value_at_quantile(0.5),
                        latency.value_at_quantile(0.99)
                    );
                }
                if let Some(placed) = placed {
                    placed.back()?;
                }
            }
            println!("done");
            Ok(())
        }
    }
}

fn range(r: u64, span: u64) -> (u64, u64) {
    let lo = BASE + r * 10_000;
    (lo, lo + span)
}

fn answer(r: u64, span: u64) -> u64 {
    let (lo, hi) = range(r, span);
    TrialDivision.count(lo, hi)
}

/// `threads` callers in a closed loop for `length`: their latencies (µs), wrong answers and the
/// time from the start until the last caller finished.
fn run_point(
    slot: &Slot<dyn Primes>,
    expected: &Arc<Vec<u64>>,
    span: u64,
    threads: usize,
    length: Duration,
) -> (Histogram<u64>, u64, Duration) {
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|w| {
            let (slot, expected, stop) = (slot.clone(), Arc::clone(expected), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut latency = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("valid bounds");
                let mut wrong = 0;
                let mut r = w as u64;
                while !stop.load(Ordering::Relaxed) {
                    let (lo, hi) = range(r % RANGES, span);
                    let t = Instant::now();
                    let got = slot.load().count(lo, hi);
                    latency.saturating_record((t.elapsed().as_micros() as u64).max(1));
                    wrong += u64::from(got != expected[(r % RANGES) as usize]);
                    r += 7;
                }
                (latency, wrong)
            })
        })
        .collect();
    std::thread::sleep(length);
    stop.store(true, Ordering::Relaxed);
    let mut latency = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("valid bounds");
    let mut wrong = 0;
    for worker in workers {
        let (h, w) = worker.join().expect("caller panicked");
        latency.add(&h).expect("same bounds");
        wrong += w;
    }
    // Calls in flight at the stop finish late; throughput counts them over the time they took.
    (latency, wrong, start.elapsed())
}
