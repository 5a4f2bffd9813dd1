//! The scenarios (the paper's experiments), each writing `<name>.csv`, `<name>.png` and its
//! section of `summary.md` into the results folder.

pub mod demo;
pub mod ground_truth;
pub mod http_handler;
pub mod learn;
pub mod primes;

use std::path::PathBuf;
use std::time::Duration;

use std::net::SocketAddr;

use hatch_load::{Phase, Plan, Preset, SecondRow};

use crate::cluster::Cluster;
use crate::deploy::{self, Front, Process, Setup};

/// What every scenario runs with.
#[derive(Clone, Debug)]
pub struct Context {
    /// Binaries, data, key.
    pub setup: Setup,
    /// The results folder.
    pub out: PathBuf,
    /// The observation window (5 s by default, as the paper).
    pub window: Duration,
    /// A few seconds per point instead of minutes.
    pub smoke: bool,
    /// Whether to draw progress bars.
    pub progress: bool,
    /// An offered load (requests/s, open loop) for every phase instead of the presets' own.
    pub rate: Option<f64>,
}

impl Context {
    /// The load plan every scenario runs against the front end at `addr`: the shared
    /// connection count, the calibrated script cost, the data set's shape.
    pub fn plan(&self, addr: SocketAddr, phases: Vec<Phase>) -> Plan {
        Plan {
            connections: CONNECTIONS,
            cost: self.setup.cost,
            shape: ground_truth::shape(&self.setup.shape),
            rate: self.rate,
            ..Plan::new(addr, phases)
        }
    }
}

/// Starts the front end all local, with the live learner (windows of `ctx.window`) writing its
/// decision log to `log` in the results folder; returns it and the log's path.
///
/// # Errors
///
/// Starting the front end.
pub fn learning_front(
    cluster: &dyn Cluster,
    agents: &[Process],
    ctx: &Context,
    log: &str,
) -> std::io::Result<(Process, PathBuf)> {
    let log = ctx.out.join(log);
    let front = Front { composition: None, learn: Some((ctx.window, log.clone())) };
    Ok((deploy::start_front(cluster, &ctx.setup, agents, &front)?, log))
}

/// The mean response time (ms) over per-second rows, weighted by their requests; NaN when
/// none finished.
pub fn mean_ms(rows: &[&SecondRow]) -> f64 {
    let requests: u64 = rows.iter().map(|r| r.requests).sum();
    let total: f64 = rows.iter().map(|r| r.mean_us as f64 * r.requests as f64).sum();
    if requests == 0 { f64::NAN } else { total / requests as f64 / 1e3 }
}

/// The composition set of the ground truth (Figs 8-9): the default variants, everything local,
/// and the request handler or the script moved to the agents.
pub fn candidates(agents: usize) -> Vec<(&'static str, String)> {
    let all = on_all(agents);
    let id = |h: &str, s: &str| site_id(h, "BatchedScript", s);
    let mut set = vec![("all local", id("", ""))];
    if agents >= 1 {
        set.push(("handler relocated", id("_X{@1}", "")));
        set.push(("script relocated", id("", "_X{@1}")));
    }
    if agents >= 2 {
        set.push(("handler replicated", id(&all, "")));
        set.push(("script replicated", id("", &all)));
    }
    set
}

/// The site's composition with the handler placed as `handler` says (`""` for local,
/// `_X{@1}`, ...), the script variant `script` (`BatchedScript` or `SyncScript`) placed as
/// `script_place` says.
pub fn site_id(handler: &str, script: &str, script_place: &str) -> String {
    const TREE: &str = "{WebFrontend,CachingCompressingHandlerH,LruCache,Gzip,ScriptS,MemoArticles,ShardedMemo,Sqlite|\
                        0:HttpHandler:1,1:Cache:2,1:Compressor:3,1:Script:4,4:Articles:5,5:Memo:6,5:Database:7}";
    TREE.replace("HandlerH", &format!("Handler{handler}")).replace("ScriptS", &format!("{script}{script_place}"))
}

/// The placement on every one of `agents` agents: `_X{@1;@2;...}`.
pub fn on_all(agents: usize) -> String {
    let all: Vec<String> = (1..=agents).map(|a| format!("@{a}")).collect();
    format!("_X{{{}}}", all.join(";"))
}

/// The presets a ground truth is measured under.
pub fn presets(smoke: bool) -> Vec<Preset> {
    if smoke {
        vec![Preset::Dynamic5, Preset::Dynamic20]
    } else {
        vec![Preset::Dynamic5, Preset::Dynamic20, Preset::Wikipedia, Preset::WikipediaHeavy]
    }
}

/// Connections of the load generator: enough for the open-loop presets' rates, and the
/// closed-loop presets' (`wikipedia`) concurrency: 16 users. More is not better: a closed-loop
/// preset's load grows with them (64 saturated the demo's hosts), and every call in flight is one
/// that a slot swap waits for while it holds new calls (with 256, a saturated front end's
/// transitions took 20-40 s). The price: under a saturated design the arrivals the front end
/// counts are capped at 16 per response time.
pub const CONNECTIONS: usize = 16;
