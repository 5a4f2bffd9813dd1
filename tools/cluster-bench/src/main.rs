//! `cargo xtask cluster-bench --local N --scenario S [--smoke] [--out DIR]`: builds nothing
//! (the xtask builds the binaries first), creates the rack, starts the agents, runs the
//! scenarios and writes `DIR/<scenario>.csv`, `DIR/<scenario>.png` and `DIR/summary.md`.
//! `--hosts FILE` runs on real servers over ssh instead (see [`hatch_cluster_bench::ssh`]).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use hatch_cluster_bench::calibrate;
use hatch_cluster_bench::cluster::{Binaries, Cluster, RackCluster};
use hatch_cluster_bench::deploy::{self, Setup};
use hatch_cluster_bench::rack::{Rack, RackConfig};
use hatch_cluster_bench::scenario::{self, Context};
use hatch_cluster_bench::ssh::SshCluster;
use hatch_cluster_bench::ssh::hosts_file::HostsFile;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// Fig. 6: the Primes component local, relocated, replicated, by concurrency.
    Primes,
    /// Fig. 7: sync against batched `send` from a local or replicated handler.
    HttpHandler,
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
    /// Run on the servers of this hosts file over ssh instead of an emulated rack (the format:
    /// `hatch_cluster_bench::ssh::hosts_file`); `--local`, `--quota` and `--subnet` are ignored.
    #[arg(long)]
    hosts: Option<PathBuf>,
    /// The `cluster-bench-primes` executable (`cluster-bench-load` is taken from beside it); by
    /// default the one beside this executable.
    #[arg(long)]
    primes: Option<PathBuf>,
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
    let binaries = binaries(cli)?;
    let shape = if cli.smoke { "small" } else { "default" };
    let data = out.join(format!("data-{shape}"));
    hatch_webstack::dataset::ensure(
        &data,
        &hatch_cluster_bench::scenario::ground_truth::shape(shape),
        hatch_webstack::dataset::SEED,
    )?;
    let setup = Setup::new(data, shape, cli.cost.unwrap_or(1), &out)?;
    let prefix = cli.prefix.clone();
    hatch_cluster_bench::rack::install_signal_teardown(&prefix);
    if let Some(hosts) = &cli.hosts {
        let file = HostsFile::read(hosts)?;
        let cluster = SshCluster::connect(
            &file,
            binaries,
            setup.data.clone(),
            setup.key_file.clone(),
            &out,
            format!("{prefix}-h0"),
        )?;
        let result = run_scenarios(cli, &cluster, setup, &out);
        cluster.teardown();
        return result;
    }
    let subnet: Vec<u8> = cli.subnet.split('.').map(str::parse).collect::<Result<_, _>>()?;
    let subnet: [u8; 3] = subnet.try_into().map_err(|_| format!("--subnet {}: three numbers", cli.subnet))?;
    let config = RackConfig { hosts: cli.local.max(2), cpu_quota: cli.quota, prefix, subnet, ..RackConfig::default() };
    let rack = Rack::create(&config)?;
    let cluster = RackCluster { rack: &rack, binaries, data: setup.data.clone(), key_file: setup.key_file.clone() };
    let result = run_scenarios(cli, &cluster, setup, &out);
    rack.teardown();
    result
}

/// The executables, checked.
fn binaries(cli: &Cli) -> Result<Binaries, Box<dyn std::error::Error>> {
    let web = cli.web.canonicalize().map_err(|e| format!("{}: {e} (build it first)", cli.web.display()))?;
    let primes = match &cli.primes {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("cluster-bench-primes"),
    };
    let primes = primes.canonicalize().map_err(|e| format!("{}: {e} (build it first)", primes.display()))?;
    let load = primes.with_file_name("cluster-bench-load");
    let load = load.canonicalize().map_err(|e| format!("{}: {e} (build it first)", load.display()))?;
    Ok(Binaries { web, primes, load })
}

/// Starts the agents, calibrates the script's cost, runs the scenarios and writes the summary.
fn run_scenarios(
    cli: &Cli,
    cluster: &dyn Cluster,
    setup: Setup,
    out: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let description = cluster.description();
    println!("{description}");
    let window = Duration::from_secs_f64(cli.window.unwrap_or(if cli.smoke { 1.0 } else { 5.0 }).max(0.2));
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let web = !matches!(cli.scenario, Scenario::Primes);
    let agents = if web { deploy::start_agents(cluster, &setup)? } else { Vec::new() };
    let quota = cluster.cpu_quota().unwrap_or(1.0);
    let cost = match cli.cost {
        Some(cost) => cost,
        None if web => calibrate::cost_for(cluster, &setup, &agents, Duration::from_secs_f64(0.06 * quota))?,
        None => setup.cost,
    };
    let setup = Setup { cost, ..setup };
    let shape = setup.shape.clone();
    let ctx = Context { setup, out: out.to_path_buf(), window, smoke: cli.smoke, progress, rate: None };
    let mut summary = format!(
        "# cluster-bench results\n\n{}\n\nWindow {:.1} s, script cost {} units per dynamic page, data set `{shape}`{}.\n\n",
        description.trim_end(),
        window.as_secs_f64(),
        ctx.setup.cost,
        if cli.smoke { " (smoke run: a few seconds per point)" } else { "" }
    );
    let all = cli.scenario == Scenario::All;
    if matches!(cli.scenario, Scenario::HttpHandler) || all {
        summary.push_str(&scenario::http_handler::run(cluster, &agents, &ctx)?);
    }
    if matches!(cli.scenario, Scenario::GroundTruth) || all {
        summary.push_str(&scenario::ground_truth::run(cluster, &agents, &ctx)?);
    }
    if matches!(cli.scenario, Scenario::Learn) || all {
        summary.push_str(&scenario::learn::run(cluster, &agents, &ctx)?);
    }
    if cli.scenario == Scenario::Demo {
        summary.push_str(&scenario::demo::run(cluster, &agents, &ctx, cli.phase_secs)?);
    }
    drop(agents);
    if matches!(cli.scenario, Scenario::Primes) || all {
        summary.push_str(&scenario::primes::run(cluster, &ctx)?);
    }
    std::fs::write(out.join("summary.md"), &summary)?;
    println!("{summary}");
    println!("results in {}", out.display());
    Ok(())
}
