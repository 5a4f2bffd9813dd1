//! `hatch-web`: the web platform's binary, in four modes.
//!
//! * `hatch-web serve --listen ADDR --data DIR [--composition ID] [--agents N]` serves the site
//!   (generating the data set on first start), prints `listening on ADDR` once ready and serves
//!   until SIGINT or SIGTERM, then shuts down gracefully. `ID` is a composition identifier
//!   (`{WebFrontend,DiskHandler,…|0:HttpHandler:1,…}`), possibly placed (`DiskHandler_X{@1;@2}`:
//!   `@k` names the k-th agent), or the index of a local composition.
//! * `hatch-web agent --data DIR` serves components for a front end (started as a child by
//!   `serve --agents`, or as a daemon with `--listen ADDR --key-file FILE [--advertise IP]
//!   [--join ADDR]…`).
//! * `hatch-web generate --data DIR` writes the data set.
//! * `hatch-web space [--hosts N]` prints the size of the composition space.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use hatch_components::remote::{Agent, AgentConfig, Key, run_if_agent};
use hatch_webstack::api::http::Frontend;
use hatch_webstack::dataset::{self, Shape};
use hatch_webstack::parts::{Settings, catalog};
use hatch_webstack::{distribution, ground_truth, learn, site};

#[derive(Parser)]
#[command(name = "hatch-web", about = "The self-distributing web platform of the Hatch paper")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum ShapeArg {
    Default,
    Small,
}

impl ShapeArg {
    fn shape(self) -> Shape {
        match self {
            ShapeArg::Default => Shape::default(),
            ShapeArg::Small => Shape::small(),
        }
    }
}

#[derive(clap::Args, Clone)]
struct DataArgs {
    /// The data folder.
    #[arg(long)]
    data: PathBuf,
    /// How much data to generate.
    #[arg(long, value_enum, default_value = "default")]
    shape: ShapeArg,
    /// Script work units per dynamic request when the request names none.
    #[arg(long, default_value_t = 20)]
    cost: u32,
}

impl DataArgs {
    fn settings(&self) -> Settings {
        Settings { default_cost: self.cost, ..Settings::new(self.data.clone()) }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Serves the site.
    Serve {
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        #[command(flatten)]
        data: DataArgs,
        /// The composition to run (identifier, placed identifier or local index).
        #[arg(long)]
        composition: Option<String>,
        /// Agents to start as child processes (named `@1`, `@2`, … in placed identifiers).
        #[arg(long, default_value_t = 0)]
        agents: usize,
        /// Agents already running (daemons), by control address; they follow the child agents
        /// in the `@k` numbering.
        #[arg(long = "agent")]
        remote_agents: Vec<SocketAddr>,
        /// The cluster key, for daemon agents (children get a fresh one).
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// Let the learner distribute the system while it serves.
        #[arg(long)]
        learn: bool,
        /// The learner's observation window, in seconds.
        #[arg(long, default_value_t = 5.0)]
        window: f64,
        /// Placement changes per window at most.
        #[arg(long, default_value_t = 1)]
        max_moves: usize,
        /// Seconds after a switch during which the learner measures nothing (default: half
        /// the window).
        #[arg(long)]
        settle: Option<f64>,
        /// Where the learner writes its decision log (JSON lines).
        #[arg(long)]
        decision_log: Option<PathBuf>,
        /// Pin the front end to vCPU 0 and the child agents to vCPU 1, so that replicating to
        /// the agents buys CPU on a two-vCPU machine.
        #[arg(long)]
        pin: bool,
        /// Measure every composition listed in this file (one per line, as `--composition`
        /// takes them) for a warm-up window and `--ground-truth-windows` windows each, print
        /// the ranking, then serve the best one (the paper's Figs 8-9 method).
        #[arg(long, conflicts_with = "learn")]
        ground_truth: Option<PathBuf>,
        /// Measured windows per composition of `--ground-truth`.
        #[arg(long, default_value_t = 6)]
        ground_truth_windows: u32,
        /// Where to write the ground truth's windows as CSV.
        #[arg(long)]
        ground_truth_csv: Option<PathBuf>,
    },
    /// Serves components for a front end.
    Agent {
        #[command(flatten)]
        data: DataArgs,
        /// The control address (daemon mode).
        #[arg(long, default_value = "0.0.0.0:7000")]
        listen: SocketAddr,
        /// The cluster key (daemon mode); refused when group- or world-readable.
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// The IP other hosts reach this agent at (daemon mode). Default: the listen IP, or
        /// for `--listen 0.0.0.0:PORT` the local address of the route towards the first
        /// `--join` member (the default route's without one); never 0.0.0.0.
        #[arg(long)]
        advertise: Option<std::net::IpAddr>,
        /// Gossip members to join (daemon mode), by address; repeatable.
        #[arg(long = "join")]
        join: Vec<SocketAddr>,
    },
    /// Writes the data set.
    Generate {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Prints the size of the composition space.
    Space {
        /// Hosts to place components on, besides the front end's.
        #[arg(long, default_value_t = 10)]
        hosts: u32,
    },
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Agent { data, listen, key_file, advertise, join } => {
            // A child agent (started by `serve --agents`) never returns from this.
            run_if_agent(|| catalog(&data.settings()));
            // Before any thread starts, so that SIGTERM reaches `wait_for_termination`.
            site::block_termination_signals();
            let key_file = key_file.ok_or("a daemon agent needs --key-file")?;
            dataset::ensure(&data.data, &data.shape.shape(), dataset::SEED)?;
            let config = AgentConfig { advertise, seeds: join, ..AgentConfig::new(listen) };
            // The message, not the Debug form `main` would print: it says what to do.
            let key = Key::from_file(&key_file).map_err(|e| e.to_string())?;
            let agent = Agent::start_with(&config, Arc::new(catalog(&data.settings())), key)?;
            println!("agent listening on {}", agent.addr());
            site::wait_for_termination();
            agent.shutdown();
            Ok(())
        }
        Command::Generate { data } => {
            let generated = dataset::ensure(&data.data, &data.shape.shape(), dataset::SEED)?;
            println!("{} {}", if generated { "generated" } else { "up to date:" }, data.data.display());
            Ok(())
        }
        Command::Space { hosts } => {
            let settings = Settings::new(std::env::temp_dir());
            let catalog = catalog(&settings);
            let space = catalog.registry().space::<dyn Frontend>()?;
            println!("local compositions: {}", space.count());
            for balancers in [1, 2] {
                println!(
                    "with distribution over {hosts} hosts ({balancers} balancer choice{}): {}",
                    if balancers > 1 { "s" } else { "" },
                    distribution::count(&space, &catalog, hosts, balancers)
                );
            }
            Ok(())
        }
        Command::Serve {
            listen,
            data,
            composition,
            agents,
            remote_agents,
            key_file,
            learn,
            window,
            max_moves,
            settle,
            decision_log,
            pin,
            ground_truth: ground_truth_set,
            ground_truth_windows,
            ground_truth_csv,
        } => {
            site::block_termination_signals();
            if pin {
                site::pin_to(0)?;
            }
            let key = key_file.map(|path| Key::from_file(&path)).transpose()?;
            let options = site::Options {
                listen,
                shape: data.shape.shape(),
                default_cost: data.cost,
                composition,
                agents,
                remote_agents,
                key,
                agent_cpu: pin.then_some(1),
                ..site::Options::new(data.data.clone())
            };
            let mut platform = site::Platform::start(options).map_err(|e| e.to_string())?;
            eprintln!("composition {}", platform.placed());
            if learn {
                let config = learn::LearnConfig {
                    window: std::time::Duration::from_secs_f64(window.max(0.1)),
                    max_moves,
                    settle: settle.map(|s| std::time::Duration::from_secs_f64(s.max(0.0))),
                    log: decision_log,
                    ..learn::LearnConfig::default()
                };
                platform.learn(config).map_err(|e| e.to_string())?;
            }
            println!("listening on {}", platform.addr());
            let window = std::time::Duration::from_secs_f64(window.max(0.1));
            match ground_truth_set {
                Some(path) => {
                    let set = ground_truth::read_set(&path)?;
                    let config = ground_truth::GroundTruthConfig {
                        windows: ground_truth_windows,
                        window,
                        ..ground_truth::GroundTruthConfig::new(set)
                    };
                    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
                    let signals = {
                        let stop = stop.clone();
                        std::thread::spawn(move || {
                            site::wait_for_termination();
                            stop.store(true, std::sync::atomic::Ordering::SeqCst);
                        })
                    };
                    let ranked = ground_truth::measure(&mut platform, &config, &stop).map_err(|e| e.to_string())?;
                    println!(
                        "ground truth ({} windows of {:.1} s each):\n{}",
                        ground_truth_windows,
                        window.as_secs_f64(),
                        ground_truth::table(&ranked)
                    );
                    if let Some(csv) = ground_truth_csv {
                        ground_truth::write_csv(&csv, &ranked)?;
                    }
                    let _ = signals.join();
                }
                None => site::wait_for_termination(),
            }
            eprintln!("shutting down");
            platform.stop_learning();
            eprintln!("final composition {}", platform.placed());
            platform.shutdown();
            Ok(())
        }
    }
}
