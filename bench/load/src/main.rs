//! `hatch-load`: the workload generator of the Hatch web platform, on the command line.
//!
//! ```text
//! hatch-load --url http://127.0.0.1:8080 --preset wikipedia --duration 60 --connections 32
//! hatch-load --url http://127.0.0.1:8080 --phases dynamic-5:30,dynamic-20:30,dynamic-5:30 --csv fig8.csv
//! ```
//!
//! Prints one summary line on stdout. Exits 0 when the run happened (errors included, they are
//! in the summary), 1 when it could not connect at all or could not write the CSV, 2 on bad
//! arguments.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use hatch_load::{Phase, Plan, Preset, resolve_url, run};
use hatch_webstack::dataset::{self, Shape};

/// Closed- and open-loop HTTP/1.1 load against hatch-web, checking every response.
#[derive(Debug, Parser)]
#[command(name = "hatch-load", version)]
struct Args {
    /// The server, as http://host:port (no path).
    #[arg(long)]
    url: String,
    /// The request mix: static, wikipedia, wikipedia-heavy, dynamic-5, dynamic-20, thumbs, stubs.
    #[arg(long, default_value = "wikipedia", conflicts_with = "phases")]
    preset: Preset,
    /// How long to run the preset, in seconds.
    #[arg(long, default_value_t = 10, conflicts_with = "phases")]
    duration: u64,
    /// Phases run one after the other instead of one preset: preset:seconds,...
    #[arg(long)]
    phases: Option<PhaseList>,
    /// Concurrent connections (one thread each).
    #[arg(long, default_value_t = 10)]
    connections: usize,
    /// Total offered load in requests/s, open loop, for every phase (default: the preset's own,
    /// which is closed loop except for dynamic-5 and dynamic-20).
    #[arg(long)]
    rate: Option<f64>,
    /// Writes one row per second to this CSV file.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// The base script cost of a dynamic page (wikipedia-heavy multiplies it by 8).
    #[arg(long, default_value_t = 20)]
    cost: u32,
    /// The shape of the server's data set.
    #[arg(long, value_enum, default_value_t = ShapeArg::Default)]
    shape: ShapeArg,
    /// The seed of the server's data set (decimal or 0x hex; default: the shipped one).
    #[arg(long, value_parser = parse_seed)]
    seed: Option<u64>,
    /// The deadline of one request, in seconds.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// Sends this Accept-Encoding (gzip bodies are decoded before checking).
    #[arg(long)]
    accept_encoding: Option<String>,
    /// Prints a progress line to stderr even when it is not a terminal.
    #[arg(long)]
    progress: bool,
}

/// The data set shapes a server can be started with.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum ShapeArg {
    /// `Shape::small()`, for tests.
    Small,
    /// `Shape::default()`.
    Default,
}

/// A `--phases` list.
#[derive(Clone, Debug)]
struct PhaseList(Vec<Phase>);

impl FromStr for PhaseList {
    type Err = hatch_load::preset::ParseError;

    fn from_str(s: &str) -> Result<PhaseList, Self::Err> {
        Phase::parse_list(s).map(PhaseList)
    }
}

fn parse_seed(s: &str) -> Result<u64, String> {
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
        None => s.replace('_', "").parse(),
    };
    parsed.map_err(|e| format!("{s:?} is not a 64-bit seed: {e}"))
}

fn plan(args: &Args) -> Result<Plan, String> {
    let (host, addr) = resolve_url(&args.url).map_err(|e| e.to_string())?;
    let phases = match &args.phases {
        Some(list) => list.0.clone(),
        None => vec![Phase { preset: args.preset, secs: args.duration }],
    };
    let timeout = Duration::try_from_secs_f64(args.timeout)
        .ok()
        .filter(|t| !t.is_zero())
        .ok_or_else(|| format!("--timeout {}: need a positive number of seconds", args.timeout))?;
    let plan = Plan {
        host,
        connections: args.connections,
        rate: args.rate,
        cost: args.cost,
        shape: match args.shape {
            ShapeArg::Small => Shape::small(),
            ShapeArg::Default => Shape::default(),
        },
        seed: args.seed.unwrap_or(dataset::SEED),
        timeout,
        accept_encoding: args.accept_encoding.clone(),
        ..Plan::new(addr, phases)
    };
    plan.validate().map_err(|e| e.to_string())?;
    Ok(plan)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let plan = match plan(&args) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("hatch-load: {e}");
            return ExitCode::from(2);
        }
    };
    let progress = args.progress || std::io::stderr().is_terminal();
    let report = match run(&plan, progress) {
        Ok(report) => report,
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
            eprintln!("hatch-load: {e}");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("hatch-load: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", report.summary_line());
    if let Some(path) = &args.csv
        && let Err(e) = report.write_csv(path)
    {
        eprintln!("hatch-load: cannot write {}: {e}", path.display());
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
