//! `cargo xtask cluster-bench --local N --scenario S [--smoke] [--out DIR]`: builds nothing
//! (the xtask builds the binaries first), creates the rack, starts the agents, runs the
//! scenarios and writes `DIR/<scenario>.csv`, `DIR/<scenario>.png` and `DIR/summary.md`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use hatch_cluster_bench::calibrate;
use hatch_cluster_bench::deploy::{self, Setup};
use hatch_cluster_bench::rack::{Rack, RackConfig};
use hatch_cluster_bench::scenario::{self, Context};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    GroundTruth,
    Learn,
    /// The README's main job: the learner distributes the site under a changing workload.
    Demo,
    All,
}

#[derive(Parser)]
#[command(name = "cluster-bench", about = "The Hatch paper's experiments on an emulated rack")]
struct Cli {
    /// Hosts of the emulated rack on this machine (the front end's and the agents').
    #[arg(long, default_value_t = 4)]
    local: usize,
    /// The scenario.
    #[arg(long, value_enum, default_value = "all")]
    scenario: Scenario,
    /// A few seconds per point instead of minutes.
    #[arg(long)]
    smoke: bool,
    /// The results folder.
    #[arg(long, default_value = "target/cluster-bench")]
    out: PathBuf,
    /// The observation window in seconds (5 as the paper; smoke runs default to 1).
    #[arg(long)]
    window: Option<f64>,
    /// CPUs per host (a cgroup quota); by default a share that leaves one CPU for the load.
    #[arg(long)]
    quota: Option<f64>,
    /// Script work units per dynamic page; by default calibrated so that a page costs 6% of a
    /// host's quota in CPU time (the heavy phase's 20 pages/s then need 1.2 hosts).
    #[arg(long)]
    cost: Option<u32>,
    /// Seconds per phase of the demo.
    #[arg(long, default_value_t = 50)]
    phase_secs: u64,
    /// Name prefix of the rack's namespaces, links and cgroups (a second run with the same
    /// prefix clears what a crashed one left).
    #[arg(long, default_value = "hatchrk")]
    prefix: String,
    /// The rack's /24 subnet, as its first three numbers.
    #[arg(long, default_value = "10.77.0")]
    subnet: String,
    /// The `hatch-web` executable.
    #[arg(long, default_value = "target/release/hatch-web")]
    web: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("cluster-bench: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(&cli.out)?;
    let out = cli.out.canonicalize()?;
    let web = cli.web.canonicalize().map_err(|e| format!("{}: {e} (build it first)", cli.web.display()))?;
    let shape = if cli.smoke { "small" } else { "default" };
    let data = out.join(format!("data-{shape}"));
    hatch_webstack::dataset::ensure(
        &data,
        &hatch_cluster_bench::scenario::ground_truth::shape(shape),
        hatch_webstack::dataset::SEED,
    )?;
    let setup = Setup::new(web, data, shape, cli.cost.unwrap_or(1), &out)?;
    let prefix = cli.prefix.clone();
    hatch_cluster_bench::rack::install_signal_teardown(&prefix);
    let subnet: Vec<u8> = cli.subnet.split('.').map(str::parse).collect::<Result<_, _>>()?;
    let subnet: [u8; 3] = subnet.try_into().map_err(|_| format!("--subnet {}: three numbers", cli.subnet))?;
    let config = RackConfig { hosts: cli.local.max(2), cpu_quota: cli.quota, prefix, subnet, ..RackConfig::default() };
    let rack = Rack::create(&config)?;
    let description = rack.description();
    println!("{description}");
    let agents = deploy::start_agents(&rack, &setup)?;
    let quota = rack.cpu_quota().unwrap_or(1.0);
    let cost = match cli.cost {
        Some(cost) => cost,
        None => calibrate::cost_for(&rack, &setup, &agents, Duration::from_secs_f64(0.06 * quota))?,
    };
    let setup = Setup { cost, ..setup };
    let window = Duration::from_secs_f64(cli.window.unwrap_or(if cli.smoke { 1.0 } else { 5.0 }).max(0.2));
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let ctx = Context { setup, out: out.clone(), window, smoke: cli.smoke, progress };
    let mut summary = format!(
        "# cluster-bench results\n\n{}\n\nWindow {:.1} s, script cost {} units per dynamic page, data set `{shape}`{}.\n\n",
        description.trim_end(),
        window.as_secs_f64(),
        ctx.setup.cost,
        if cli.smoke { " (smoke run: a few seconds per point)" } else { "" }
    );
    if matches!(cli.scenario, Scenario::GroundTruth | Scenario::All) {
        summary.push_str(&scenario::ground_truth::run(&rack, &agents, &ctx)?);
    }
    if matches!(cli.scenario, Scenario::Learn | Scenario::All) {
        summary.push_str(&scenario::learn::run(&rack, &agents, &ctx)?);
    }
    if cli.scenario == Scenario::Demo {
        summary.push_str(&scenario::demo::run(&rack, &agents, &ctx, cli.phase_secs)?);
    }
    std::fs::write(out.join("summary.md"), &summary)?;
    println!("{summary}");
    println!("results in {}", out.display());
    drop(agents);
    rack.teardown();
    Ok(())
}
