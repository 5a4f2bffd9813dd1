//! The web platform's benchmark: hatch-web against nginx on the same static files, under the
//! same load and the same CPU pinning, in one run; dynamic pages per Script cost; and the
//! in-process cost of the component machinery per request.
//!
//! Run: `cargo bench -p hatch-webstack --bench web` (about 3 minutes per round). It
//!
//! 1. generates the default data set once under `target/webbench-data`;
//! 2. starts hatch-web (the release binary, the default composition: `CachingCompressingHandler`
//!    with `LruCache` and `Gzip`, all local) and nginx (its own configuration in a temporary
//!    folder) on vCPU 0, both serving that folder;
//! 3. loads each, one after the other, from vCPU 1 with wrk (1 thread, 64 connections, a Lua
//!    script rotating over the 100 files) and with hatch-load (closed loop, 64 connections,
//!    presets `thumbs` and `stubs`), after a short warm-up each time, recording the server's CPU
//!    time per request and the generator's use of its vCPU (a saturated generator measured
//!    itself);
//! 4. loads hatch-web's articles (`/wiki/<title>?cost=N`, N in 0, 20, 100) with wrk, 8
//!    connections;
//! 5. times `Frontend::handle` on cached static requests in process, for each `HttpHandler`
//!    variant, through the assembled system and wired by hand (see `web/micro.rs`);
//! 6. prints a markdown summary and writes it to `target/webbench/summary.md`, with every run
//!    in `target/webbench/results.csv`.
//!
//! Settings (environment): `WEB_BENCH_SECS` seconds per measured run (default 10),
//! `WEB_BENCH_WARMUP_SECS` before each (default 2), `WEB_BENCH_ROUNDS` repetitions of every
//! run, reported as medians (default 1), `WEB_BENCH_MICRO_ROUNDS` (default 15).
//!
//! Run as a test (`cargo test -p hatch-webstack --bench web`), it only checks its output
//! parsers and that every wiring of the micro-benchmark answers correctly.

#[path = "web/generators.rs"]
mod generators;
#[path = "web/micro.rs"]
mod micro;
#[path = "web/process.rs"]
mod process;
#[path = "web/report.rs"]
mod report;
#[path = "web/servers.rs"]
mod servers;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use hatch_webstack::dataset::{self, Kind, Shape};
use hatch_webstack::http::HttpDate;
use hatch_webstack::parts::Settings;
use hatch_webstack::site::DEFAULT_COMPOSITION;

use generators::{Run, Sample, Tool};
use report::{Content, DynamicPoint, Report, StaticPoint};
use servers::Server;

/// Connections of the static runs.
const STATIC_CONNECTIONS: usize = 64;
/// Connections of the dynamic runs.
const DYNAMIC_CONNECTIONS: usize = 8;
/// Script costs of the dynamic runs.
const COSTS: [u32; 3] = [0, 20, 100];
/// Where nginx is installed (Debian's package).
const NGINX: &str = "/usr/sbin/nginx";

type Error = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    let result = if std::env::args().any(|arg| arg == "--bench") { bench() } else { smoke() };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("web bench: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Settings read from the environment.
struct Config {
    secs: u64,
    warmup: u64,
    rounds: usize,
    micro: micro::Budget,
}

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match std::env::var(name) {
        Ok(text) => text.trim().parse().map_err(|_| format!("{name}={text:?} is not a whole number")),
        Err(_) => Ok(default),
    }
}

impl Config {
    fn from_env() -> Result<Config, String> {
        let config = Config {
            secs: env_number("WEB_BENCH_SECS", 10)?,
            warmup: env_number("WEB_BENCH_WARMUP_SECS", 2)?,
            rounds: env_number("WEB_BENCH_ROUNDS", 1)?,
            micro: micro::Budget {
                rounds: env_number("WEB_BENCH_MICRO_ROUNDS", 15)?,
                round: Duration::from_millis(40),
            },
        };
        if config.secs == 0 || config.rounds == 0 || config.micro.rounds == 0 {
            return Err("WEB_BENCH_SECS, WEB_BENCH_ROUNDS and WEB_BENCH_MICRO_ROUNDS must be at least 1".into());
        }
        Ok(config)
    }
}

/// Where things are: the release folder cargo built hatch-web into, and the target folder.
struct Paths {
    hatch_web: PathBuf,
    release: PathBuf,
    data: PathBuf,
    out: PathBuf,
}

impl Paths {
    fn find() -> Result<Paths, String> {
        let hatch_web = PathBuf::from(env!("CARGO_BIN_EXE_hatch-web"));
        let release = hatch_web.parent().ok_or("CARGO_BIN_EXE_hatch-web has no folder")?.to_owned();
        let target = release.parent().ok_or("the release folder has no parent")?.to_owned();
        Ok(Paths { hatch_web, release, data: target.join("webbench-data"), out: target.join("webbench") })
    }
}

/// The data set under `paths.data`, generated once.
fn ensure_data(paths: &Paths) -> Result<Settings, Error> {
    let generated = dataset::ensure(&paths.data, &Shape::default(), dataset::SEED)?;
    if generated {
        eprintln!("generated the data set in {}", paths.data.display());
    }
    let data = paths.data.canonicalize()?;
    Ok(Settings::new(data))
}

fn smoke() -> Result<(), Error> {
    generators::self_check()?;
    let paths = Paths::find()?;
    let settings = ensure_data(&paths)?;
    micro::run(&settings, micro::Budget { rounds: 0, round: Duration::ZERO })?;
    println!("web bench: parsers and wirings check out (run `cargo bench -p hatch-webstack --bench web` to measure)");
    Ok(())
}

/// The vCPUs of the servers and of the load generators, when the machine has two.
fn placement(notes: &mut Vec<String>) -> (Option<usize>, Option<usize>) {
    let cpus = process::allowed_cpus();
    if cpus.contains(&0) && cpus.contains(&1) {
        (Some(0), Some(1))
    } else {
        notes.push(format!("vCPUs 0 and 1 are not both available (allowed: {cpus:?}): nothing is pinned"));
        (None, None)
    }
}

fn first_line(command: &mut Command) -> Option<String> {
    let out = command.stdin(Stdio::null()).output().ok()?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    text.lines().next().map(|l| l.trim().to_owned()).filter(|l| !l.is_empty())
}

/// The load average (1, 5, 15 min) and the CPU pressure (the share of the last 10 s in which
/// some runnable task waited for a CPU, `/proc/pressure/cpu`): how busy the machine's other
/// users kept it.
fn loadavg() -> String {
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into());
    let pressure = std::fs::read_to_string("/proc/pressure/cpu").ok().and_then(|text| {
        let some = text.lines().find(|l| l.starts_with("some "))?;
        some.split_whitespace().find_map(|f| f.strip_prefix("avg10=")).map(str::to_owned)
    });
    match pressure {
        Some(p) => format!("{load}, CPU pressure {p}%"),
        None => load,
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, m)| m.trim().to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// Builds hatch-load (release) with the cargo that runs this bench; its path, or why not.
fn build_hatch_load(paths: &Paths) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| option_env!("CARGO").unwrap_or("cargo").into());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    eprintln!("building hatch-load (cargo build --release -p hatch-load)");
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "hatch-load"])
        .current_dir(&workspace)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("running cargo: {e}"))?;
    if !status.success() {
        return Err(format!("`cargo build --release -p hatch-load` failed ({status})"));
    }
    let binary = paths.release.join("hatch-load");
    if binary.is_file() { Ok(binary) } else { Err(format!("{} is missing after the build", binary.display())) }
}

/// The load generators found usable.
struct Tools {
    wrk: Option<PathBuf>,
    hatch_load: Option<PathBuf>,
}

impl Tools {
    fn available(&self) -> Vec<Tool> {
        let mut tools = Vec::new();
        if self.wrk.is_some() {
            tools.push(Tool::Wrk);
        }
        if self.hatch_load.is_some() {
            tools.push(Tool::HatchLoad);
        }
        tools
    }
}

/// wrk's Lua scripts, written once into the temporary folder.
struct Scripts {
    thumbs: PathBuf,
    stubs: PathBuf,
    dynamic: Vec<(u32, PathBuf)>,
}

impl Scripts {
    fn write(dir: &Path) -> Result<Scripts, String> {
        let files = |kind| -> Vec<String> {
            (0..Shape::default().count(kind)).map(|i| dataset::static_path(kind, i)).collect()
        };
        let thumbs = generators::write_script(dir, "thumbs.lua", &generators::wrk_script(&files(Kind::Thumb))?)?;
        let stubs = generators::write_script(dir, "stubs.lua", &generators::wrk_script(&files(Kind::Stub))?)?;
        let mut dynamic = Vec::new();
        for cost in COSTS {
            let pages: Vec<String> = (0..Shape::default().articles)
                .map(|i| format!("/wiki/{}?cost={cost}", dataset::article_title(i)))
                .collect();
            let name = format!("dynamic-{cost}.lua");
            dynamic.push((cost, generators::write_script(dir, &name, &generators::wrk_script(&pages)?)?));
        }
        Ok(Scripts { thumbs, stubs, dynamic })
    }

    fn statics(&self, content: Content) -> &Path {
        match content {
            Content::Thumbs => &self.thumbs,
            Content::Stubs => &self.stubs,
        }
    }
}

/// One static run of `tool` against `server`: a warm-up, then the measured run, with the
/// server's CPU time per request.
fn static_run(
    tools: &Tools,
    scripts: &Scripts,
    content: Content,
    tool: Tool,
    server: &Server,
    run: &Run,
    warmup: u64,
) -> Result<Sample, String> {
    let go = |run: &Run| match tool {
        Tool::Wrk => generators::wrk(tools.wrk.as_deref().ok_or("no wrk")?, run, scripts.statics(content)),
        Tool::HatchLoad => {
            generators::hatch_load(tools.hatch_load.as_deref().ok_or("no hatch-load")?, run, content.preset())
        }
    };
    if warmup > 0 {
        go(&Run { secs: warmup, ..run.clone() }).map_err(|e| format!("warm-up: {e}"))?;
    }
    with_server_cpu(server, || go(run))
}

/// `go`'s sample, with the CPU time `server` used during it, per request.
fn with_server_cpu(server: &Server, go: impl FnOnce() -> Result<Sample, String>) -> Result<Sample, String> {
    let before = server.cpu();
    let mut sample = go()?;
    if let (Some(before), Some(after)) = (before, server.cpu())
        && sample.requests > 0
    {
        sample.server_cpu_us = Some(after.saturating_sub(before).as_secs_f64() * 1e6 / sample.requests as f64);
    }
    Ok(sample)
}

fn describe(sample: &Result<Sample, String>) -> String {
    match sample {
        Ok(s) => format!(
            "{:>8.0} req/s  p50 {:>7.0} µs  p99 {:>7.0} µs  errors {}  server {:.1} µs CPU/req  generator CPU {:.0}%",
            s.rps,
            s.p50_us,
            s.p99_us,
            s.errors,
            s.server_cpu_us.unwrap_or(f64::NAN),
            100.0 * s.client_cpu.unwrap_or(f64::NAN)
        ),
        Err(e) => format!("failed: {}", e.lines().next().unwrap_or_default()),
    }
}

fn bench() -> Result<(), Error> {
    let config = Config::from_env()?;
    let paths = Paths::find()?;
    let mut notes = Vec::new();
    let start_load = loadavg();
    let settings = ensure_data(&paths)?;
    let cpus = process::allowed_cpus().len();
    let (server_cpu, load_cpu) = placement(&mut notes);
    let tmp = process::TempDir::new("hatch-webbench")?;

    let wrk = first_line(Command::new("wrk").arg("-v"));
    let nginx_version = first_line(Command::new(NGINX).arg("-v"));
    let tools = Tools {
        wrk: wrk.as_ref().map(|_| PathBuf::from("wrk")),
        hatch_load: build_hatch_load(&paths).map_err(|e| notes.push(format!("hatch-load not used: {e}"))).ok(),
    };
    if tools.wrk.is_none() {
        notes.push("wrk not found on PATH: its rows are missing".into());
    }
    let scripts = Scripts::write(tmp.path())?;

    let hatch =
        servers::start_hatch_web(&paths.hatch_web, &settings.data, DEFAULT_COMPOSITION, server_cpu, tmp.path())?;
    let nginx = match &nginx_version {
        Some(_) => servers::start_nginx(Path::new(NGINX), &settings.data, server_cpu, tmp.path())
            .map_err(|e| notes.push(format!("nginx not used: {e}")))
            .ok(),
        None => {
            notes.push(format!("{NGINX} not found: no nginx columns"));
            None
        }
    };
    eprintln!("hatch-web on {}, nginx on {}", hatch.addr, nginx.as_ref().map_or("-".into(), |n| n.addr.to_string()));

    let mut statics = Vec::new();
    let mut point = 0usize;
    for round in 1..=config.rounds {
        for content in Content::ALL {
            for tool in tools.available() {
                // Alternate which server goes first, so that a drift in the machine's load
                // does not always favour the same one.
                let mut order: Vec<&Server> = [Some(&hatch), nginx.as_ref()].into_iter().flatten().collect();
                if point % 2 == 1 {
                    order.reverse();
                }
                point += 1;
                for server in order {
                    let run =
                        Run { addr: server.addr, connections: STATIC_CONNECTIONS, secs: config.secs, cpu: load_cpu };
                    let load = loadavg();
                    let result = static_run(&tools, &scripts, content, tool, server, &run, config.warmup);
                    eprintln!(
                        "round {round} {:<7} {:<10} {:<9} {} (load {load})",
                        content.preset(),
                        tool.name(),
                        server.kind.name(),
                        describe(&result)
                    );
                    if let Err(e) = &result {
                        notes.push(format!(
                            "{} {} {}: {e}\n{}",
                            content.preset(),
                            tool.name(),
                            server.kind.name(),
                            server.log_tail()
                        ));
                    }
                    statics.push(StaticPoint { content, tool, server: server.kind, round, load, result });
                }
            }
        }
    }
    if let Some(nginx) = nginx {
        notes.push(nginx.stop());
    }

    let mut dynamics = Vec::new();
    if let Some(wrk) = &tools.wrk {
        let run = Run { addr: hatch.addr, connections: DYNAMIC_CONNECTIONS, secs: config.secs, cpu: load_cpu };
        // Every article once through the memo, cheaply, before any measured run.
        if let Some((_, cheapest)) = scripts.dynamic.first() {
            let warm = Run { secs: config.warmup.max(2), ..run.clone() };
            if let Err(e) = generators::wrk(wrk, &warm, cheapest) {
                notes.push(format!("dynamic warm-up: {e}"));
            }
        }
        for round in 1..=config.rounds {
            for (cost, script) in &scripts.dynamic {
                let warm = Run { secs: config.warmup, ..run.clone() };
                let load = loadavg();
                let result = if config.warmup > 0 { generators::wrk(wrk, &warm, script).map(|_| ()) } else { Ok(()) }
                    .map_err(|e| format!("warm-up: {e}"))
                    .and_then(|()| with_server_cpu(&hatch, || generators::wrk(wrk, &run, script)));
                eprintln!("round {round} cost={cost:<4} wrk        hatch-web {} (load {load})", describe(&result));
                dynamics.push(DynamicPoint { cost: *cost, round, load, result });
            }
        }
    } else {
        notes.push("no dynamic runs: they need wrk".into());
    }
    notes.push(hatch.stop());

    eprintln!("micro-benchmark: {} handler variants × 3 requests × 3 wirings", micro::Variant::ALL.len());
    let micro = match server_cpu.map(process::pin_current_thread).transpose() {
        Ok(_) => micro::run(&settings, config.micro),
        Err(e) => Err(format!("pinning the micro-benchmark to vCPU 0: {e}")),
    };
    let end_load = loadavg();

    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let pinning = match (server_cpu, load_cpu) {
        (Some(s), Some(l)) => {
            format!("servers pinned to vCPU {s}, load generators to vCPU {l} (sched_setaffinity before exec)")
        }
        _ => "nothing pinned".into(),
    };
    let context = vec![
        format!(
            "{}; {} vCPUs ({}), kernel {}",
            HttpDate::from_unix_secs(now),
            cpus,
            cpu_model(),
            std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim()
        ),
        format!("load average (1, 5, 15 min) at the start: {start_load}; at the end: {end_load}"),
        pinning,
        format!(
            "command: `cargo bench -p hatch-webstack --bench web`; {} s per run after {} s of warm-up, {} round(s) (medians over rounds)",
            config.secs, config.warmup, config.rounds
        ),
        format!("hatch-web: release binary, composition `{DEFAULT_COMPOSITION}`"),
        format!(
            "nginx: {} — master_process off, 1 worker, sendfile, tcp_nopush, access_log off, keepalive_requests 1000000 (no open_file_cache)",
            nginx_version.as_deref().unwrap_or("not found")
        ),
        format!(
            "wrk: {} — 1 thread, {STATIC_CONNECTIONS} connections, --latency, a Lua script rotating over the 100 files; hatch-load: closed loop, {STATIC_CONNECTIONS} connections (one thread each), presets thumbs and stubs, bodies checked",
            wrk.as_deref().unwrap_or("not found")
        ),
        "no request carries Accept-Encoding: both servers send the files as they are".into(),
    ];
    let report = Report {
        context,
        statics,
        dynamics,
        static_connections: STATIC_CONNECTIONS,
        dynamic_connections: DYNAMIC_CONNECTIONS,
        secs: config.secs,
        micro,
        notes,
    };
    let markdown = report.markdown();
    println!("{markdown}");
    std::fs::create_dir_all(&paths.out)?;
    std::fs::write(paths.out.join("summary.md"), &markdown)?;
    std::fs::write(paths.out.join("results.csv"), report.csv())?;
    eprintln!("wrote {} and results.csv", paths.out.join("summary.md").display());
    Ok(())
}
