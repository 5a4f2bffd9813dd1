//! `learn-sim SPACE.json [--seeds N] [--policies a,b,..] [--semi] [--windows N] [--verbose] [--reference]`
//!
//! Runs each policy against the space for N seeds (default 10, derived from
//! the file's seed) and prints one machine-readable summary line per policy;
//! `--verbose` adds one line per seed on stderr. `--reference` first prints,
//! for a few window counts, how often a least-squares fit told the space's
//! true structure is within 5% of the optimum (`hatch_learner::sim::reference`),
//! and runs no policy unless `--policies` names some.

use std::process::ExitCode;

use hatch_learner::sim::{PolicyKind, SimSpace, reference, run_once, run_seed, summarise};

struct Args {
    path: String,
    seeds: usize,
    /// `None`: every policy, or none with `--reference`.
    policies: Option<Vec<PolicyKind>>,
    semi: bool,
    windows: Option<usize>,
    verbose: bool,
    reference: bool,
}

/// Window counts the reference fit is reported at (those within the run's windows).
const REFERENCE_WINDOWS: [usize; 8] = [10, 20, 30, 50, 100, 150, 200, 300];

const USAGE: &str = "usage: learn-sim SPACE.json [--seeds N] [--policies ucb1,ucb1-minmax,discounted,thompson,factored,factored-nearby] [--semi] [--windows N] [--verbose] [--reference]";

fn parse() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mut a = Args {
        path: String::new(),
        seeds: 10,
        policies: None,
        semi: false,
        windows: None,
        verbose: false,
        reference: false,
    };
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--seeds" => a.seeds = value("--seeds")?.parse().map_err(|e| format!("--seeds: {e}"))?,
            "--windows" => a.windows = Some(value("--windows")?.parse().map_err(|e| format!("--windows: {e}"))?),
            "--policies" => {
                a.policies = Some(value("--policies")?.split(',').map(str::parse).collect::<Result<_, _>>()?)
            }
            "--semi" => a.semi = true,
            "--verbose" => a.verbose = true,
            "--reference" => a.reference = true,
            "-h" | "--help" => return Err(USAGE.into()),
            s if s.starts_with('-') => return Err(format!("unknown flag {s}\n{USAGE}")),
            s if a.path.is_empty() => a.path = s.to_string(),
            s => return Err(format!("unexpected argument {s}\n{USAGE}")),
        }
    }
    if a.path.is_empty() {
        return Err(USAGE.into());
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let text = match std::fs::read_to_string(&args.path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot read {}: {e}", args.path);
            return ExitCode::from(1);
        }
    };
    let mut space = match SimSpace::from_json(&text) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}: {e}", args.path);
            return ExitCode::from(1);
        }
    };
    if let Some(w) = args.windows {
        space.windows = w;
    }
    let (best, optimum) = space.optimum();
    println!(
        "space={} compositions={} windows={} seeds={} semi={} optimum_ms={:.3} optimum={}",
        args.path,
        space.radix().size(),
        space.windows,
        args.seeds,
        args.semi,
        optimum,
        space.describe(&best)
    );
    if args.reference {
        let windows: Vec<usize> = REFERENCE_WINDOWS.into_iter().filter(|&w| w <= space.windows).collect();
        for p in reference(&space, optimum, args.semi, &windows, args.seeds) {
            println!("reference=true-structure-fit windows={} within_5pct={}/{}", p.windows, p.within_5pct, p.runs);
        }
    }
    let default = if args.reference { Vec::new() } else { PolicyKind::ALL.to_vec() };
    for kind in args.policies.unwrap_or(default) {
        if args.verbose {
            for i in 0..args.seeds {
                let r = run_once(&space, kind, optimum, run_seed(space.seed, i), args.semi);
                let rec = r.recommendation.as_deref();
                eprintln!(
                    "  {kind} seed#{i} windows_to_5pct={:?} share_within_10pct={:.3} regret={:.1} final_ms={:.3} final={}",
                    r.windows_to_5pct,
                    r.share_within_10pct,
                    r.regret,
                    rec.map_or(f64::NAN, |c| space.true_cost(c)),
                    rec.map_or(String::new(), |c| space.describe(c)),
                );
            }
        }
        println!("{}", summarise(&space, kind, optimum, args.seeds, args.semi));
    }
    ExitCode::SUCCESS
}
