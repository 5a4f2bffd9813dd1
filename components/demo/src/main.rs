//! `cargo run --release -p hatch-demo`: a `Primes` component under steady load,
//! run locally, relocated to agent 1, replicated on agents 1 and 2 (round-robin),
//! with agent 2 killed by SIGKILL (its calls go to agent 1), relocated to agent 1,
//! which is then killed too (the component comes back transparently), and local
//! again. Both agents are child processes of this same binary. Prints each
//! phase's throughput and latency side by side.
//!
//! `HATCH_DEMO_SECS` sets each phase's length (default 2 s); `HATCH_DEMO_WORKERS`
//! the number of calling threads (default 2).

use std::sync::Arc;
use std::time::Duration;

use hatch_components::remote::{AgentProcess, Host, Key, Placed, RoundRobin, Site, relocate, replicate, run_if_agent};
use hatch_components::{Composition, Slot};
use hatch_demo::load::{Load, PhaseStats};
use hatch_demo::primes::Primes;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // In an agent child this serves components and never returns.
    run_if_agent(hatch_demo::catalog);

    let phase = Duration::from_secs(env_or("HATCH_DEMO_SECS", 2));
    let workers = env_or("HATCH_DEMO_WORKERS", 2) as usize;
    let key = Key::generate()?;
    let catalog = Arc::new(hatch_demo::catalog());
    let agents =
        [AgentProcess::spawn_self(&[], "127.0.0.1:0", &key)?, AgentProcess::spawn_self(&[], "127.0.0.1:0", &key)?];
    let [mut first, mut second] = agents;
    println!("agents: pid {} at {}, pid {} at {}", first.pid(), first.addr(), second.pid(), second.addr());
    let hosts = [Arc::new(Host::connect(first.addr(), &key)?), Arc::new(Host::connect(second.addr(), &key)?)];

    let composition: Composition = "{TrialDivision|}".parse()?;
    let slot: Slot<dyn Primes> = Slot::new(catalog.build::<dyn Primes>(&composition)?);
    let names = [
        "local",
        "relocated to agent 1",
        "replicated on agents 1+2",
        "replicated, agent 2 killed",
        "relocated to agent 1, killed",
        "local again (recovered)",
    ];
    let mut load = Load::start(&slot, workers, names.len());

    std::thread::sleep(phase);
    load.next_phase();
    let relocated = relocate(&slot, &catalog, &hosts[0], &composition)?;
    std::thread::sleep(phase);
    relocated.back()?;

    load.next_phase();
    let replicated = replicate(&slot, &catalog, &hosts, &composition, Arc::new(RoundRobin::default()))?;
    std::thread::sleep(phase);
    load.next_phase();
    second.kill()?;
    std::thread::sleep(phase);
    let per_replica: Vec<u64> =
        replicated.replicas().map(|r| r.iter().map(|r| r.calls()).collect()).unwrap_or_default();
    replicated.back()?;

    load.next_phase();
    let relocated = relocate(&slot, &catalog, &hosts[0], &composition)?;
    std::thread::sleep(phase / 2);
    first.kill()?;
    let recovery = relocated.wait_recovered(Duration::from_secs(30));
    std::thread::sleep(phase / 2);

    load.next_phase();
    std::thread::sleep(phase);
    let stats = load.finish();

    let a1 = first.addr().to_string();
    let a2 = second.addr().to_string();
    let placed = |sites: Site| Placed::new(composition.clone(), vec![sites]).map(|p| p.to_string());
    let ids = [
        placed(Site::Local)?,
        placed(Site::Remote(vec![a1.clone()]))?,
        placed(Site::Remote(vec![a1.clone(), a2.clone()]))?,
        placed(Site::Remote(vec![a1.clone(), a2]))?,
        placed(Site::Remote(vec![a1]))?,
        placed(Site::Local)?,
    ];
    print_table(&names, &ids, &stats);
    println!("\ncalls per replica while replicated (round-robin): {per_replica:?}");
    match recovery {
        Some(r) => println!(
            "recovery after SIGKILL of agent 1: slot local again {:.1} ms after the first failed call, {} call(s) \
             re-fired, 0 failed ({})",
            r.swapped_back_after.as_secs_f64() * 1e3,
            r.refired,
            r.error
        ),
        None => println!("recovery after SIGKILL of agent 1: not observed within 30 s"),
    }
    let wrong: u64 = stats.iter().map(|s| s.wrong).sum();
    if wrong > 0 {
        return Err(format!("{wrong} wrong answers").into());
    }
    Ok(())
}

fn print_table(names: &[&str], ids: &[String], stats: &[PhaseStats]) {
    println!(
        "\n{:<32} {:>9} {:>10} {:>9} {:>9} {:>6}  composition",
        "phase", "calls", "calls/s", "p50 µs", "p99 µs", "wrong"
    );
    for ((name, id), s) in names.iter().zip(ids).zip(stats) {
        println!(
            "{:<32} {:>9} {:>10.0} {:>9} {:>9} {:>6}  {id}",
            name,
            s.calls,
            s.throughput(),
            s.latency.value_at_quantile(0.5),
            s.latency.value_at_quantile(0.99),
            s.wrong
        );
    }
}
