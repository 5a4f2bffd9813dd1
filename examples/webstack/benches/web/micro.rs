//! The in-process cost of the component machinery on a cached static request, for each
//! `HttpHandler` variant: the system assembled from the catalog, called through its root
//! `Frontend` slot exactly as the server's connection threads call it, against the same
//! structs wired by hand.
//!
//! Three wirings, the same request, one thread pinned to the server vCPU:
//!
//! * **assembled**: `catalog.registry().space::<dyn Frontend>()` → `space.assemble(…)` →
//!   `system.root::<dyn Frontend>()`, then `root.load().handle(…)` per request.
//! * **frontend by hand**: `WebFrontend::new(Slot::new(Box::new(handler)), …)`, called
//!   directly: no root slot.
//! * **handler direct**: the `Handler` struct called directly: no root slot, no `WebFrontend`
//!   (its probe and workload counters), no `HttpHandler` slot, no dynamic dispatch on either
//!   trait.
//!
//! So *assembled − handler direct* is everything the assembled system adds above the handler:
//! two slot loads (root, `HttpHandler`), two virtual calls, and `WebFrontend`'s bookkeeping
//! (the learner's in-process probe timing the handler call: two clock reads and a record; one
//! relaxed atomic add; the dynamic-path test). *assembled − frontend by hand* is the root
//! slot alone: the registry builds exactly the structs wired by hand. The handler's own dependencies stay
//! behind slots in every wiring (its fields are `Slot<dyn Cache>` and `Slot<dyn Compressor>`):
//! those loads (0-2 per request, listed per row) are priced separately by a `Slot` load
//! against a plain `Box<dyn Trait>` call. No generated proxy is on any of these paths: a local
//! composition puts the component itself in the slot; proxies appear only for components
//! placed on an agent (priced in BENCHMARKS.md, "Generated proxies").

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hatch::learner::probe::InProcessProbe;
use hatch_components::{Composition, Slot, System};
use hatch_webstack::api::articles::Articles;
use hatch_webstack::api::cache::Cache;
use hatch_webstack::api::compress::Compressor;
use hatch_webstack::api::http::{Connection, Frontend, HttpHandler, Method, Request, Response};
use hatch_webstack::api::script::Script;
use hatch_webstack::dataset::{self, Kind};
use hatch_webstack::parts::articles::MemoArticles;
use hatch_webstack::parts::cache::Lru;
use hatch_webstack::parts::compress::Gzip;
use hatch_webstack::parts::database::Sqlite;
use hatch_webstack::parts::frontend::{WebFrontend, Workload};
use hatch_webstack::parts::handler::Handler;
use hatch_webstack::parts::memo::ShardedMemo;
use hatch_webstack::parts::script::{PageScript, Sending};
use hatch_webstack::parts::{Settings, catalog};
use hatch_webstack::site::DEFAULT_COMPOSITION;

/// The four handler variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// Reads every file from disk.
    Disk,
    /// Caches responses (LRU).
    Caching,
    /// Compresses compressible content (gzip) when accepted.
    Compressing,
    /// Both: the default composition.
    CachingCompressing,
}

impl Variant {
    /// Every variant, in the paper's order.
    pub const ALL: [Variant; 4] = [Variant::Disk, Variant::Caching, Variant::Compressing, Variant::CachingCompressing];

    /// Its variant name in the catalog.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Disk => "DiskHandler",
            Variant::Caching => "CachingHandler",
            Variant::Compressing => "CompressingHandler",
            Variant::CachingCompressing => "CachingCompressingHandler",
        }
    }

    fn caches(self) -> bool {
        matches!(self, Variant::Caching | Variant::CachingCompressing)
    }

    fn compresses(self) -> bool {
        matches!(self, Variant::Compressing | Variant::CachingCompressing)
    }

    /// The local composition with this handler, an LRU cache and gzip where it takes them,
    /// and the default composition's script sub-tree.
    pub fn composition(self) -> String {
        if self == Variant::CachingCompressing {
            return DEFAULT_COMPOSITION.to_owned();
        }
        let mut variants = vec!["WebFrontend", self.name()];
        let mut wirings = vec!["0:HttpHandler:1".to_owned()];
        if self.caches() {
            wirings.push(format!("1:Cache:{}", variants.len()));
            variants.push("LruCache");
        }
        if self.compresses() {
            wirings.push(format!("1:Compressor:{}", variants.len()));
            variants.push("Gzip");
        }
        let s = variants.len();
        variants.extend(["BatchedScript", "MemoArticles", "ShardedMemo", "Sqlite"]);
        wirings.extend([
            format!("1:Script:{s}"),
            format!("{s}:Articles:{}", s + 1),
            format!("{}:Memo:{}", s + 1, s + 2),
            format!("{}:Database:{}", s + 1, s + 3),
        ]);
        format!("{{{}|{}}}", variants.join(","), wirings.join(","))
    }

    /// Slot loads inside the handler (kept in every wiring) for `request`, on a cache hit.
    fn inner_loads(self, request: &Probe) -> u32 {
        let compressor = match (self.compresses(), request.compressible, request.gzip, self.caches()) {
            (false, ..) | (true, false, ..) => 0,
            // `encoding()`, then `compress()` on every request when nothing caches the result.
            (true, true, true, false) => 2,
            (true, true, ..) => 1,
        };
        compressor + u32::from(self.caches())
    }
}

/// A benchmarked request.
#[derive(Clone, Debug)]
pub struct Probe {
    /// Its name in tables.
    pub name: &'static str,
    request: Request,
    body_len: usize,
    compressible: bool,
    gzip: bool,
}

/// The requests: a 10 KiB thumbnail, a 5 KiB stub without `Accept-Encoding` (as the load
/// runs send them), and the same stub accepting gzip.
pub fn probes() -> Vec<Probe> {
    let get = |kind, accept: &str| Request {
        method: Method::Get,
        path: dataset::static_path(kind, 7),
        query: String::new(),
        accept_encoding: accept.to_owned(),
        if_none_match: None,
        content_type: None,
        body: Vec::new(),
    };
    let thumb = dataset::static_body(Kind::Thumb, 7, dataset::SEED).len();
    let stub = dataset::static_body(Kind::Stub, 7, dataset::SEED).len();
    vec![
        Probe {
            name: "thumb 10 KiB",
            request: get(Kind::Thumb, ""),
            body_len: thumb,
            compressible: false,
            gzip: false,
        },
        Probe { name: "stub 5 KiB", request: get(Kind::Stub, ""), body_len: stub, compressible: true, gzip: false },
        Probe {
            name: "stub 5 KiB (gzip)",
            request: get(Kind::Stub, "gzip"),
            body_len: stub,
            compressible: true,
            gzip: true,
        },
    ]
}

/// Counts what a handler sends, keeps nothing (static responses send nothing through it).
#[derive(Default)]
struct Sink(AtomicU64);

impl Connection for Sink {
    fn send(&self, data: &[u8]) {
        self.0.fetch_add(data.len() as u64, Ordering::Relaxed);
    }

    fn send_sync(&self, data: &[u8]) {
        self.send(data);
    }

    fn peer(&self) -> String {
        "127.0.0.1:1".into()
    }
}

/// The handler of `variant` built by hand, as the catalog builds it.
fn handler_by_hand(variant: Variant, settings: &Settings) -> Result<Handler, String> {
    let db = settings.data.join("articles.db");
    let database = Sqlite::open(&db).map_err(|e| format!("opening {}: {e}", db.display()))?;
    let memo = ShardedMemo::new(settings.memo_bytes);
    let articles: Slot<dyn Articles> =
        Slot::new(Box::new(MemoArticles::new(Slot::new(Box::new(memo)), Slot::new(Box::new(database)))));
    let script: Slot<dyn Script> = Slot::new(Box::new(PageScript::new(articles, Sending::Batched)));
    let cache = variant.caches().then(|| Slot::<dyn Cache>::new(Box::new(Lru::new(settings.cache_bytes))));
    let compressor = variant.compresses().then(|| Slot::<dyn Compressor>::new(Box::new(Gzip)));
    Ok(Handler::new(settings.data.clone(), settings.default_cost, cache, compressor, script))
}

/// The three wirings of one variant.
struct Wirings {
    // Kept alive: the root slot's components belong to it.
    _system: System,
    root: Slot<dyn Frontend>,
    frontend: WebFrontend,
    handler: Handler,
}

impl Wirings {
    fn build(variant: Variant, settings: &Settings) -> Result<Wirings, String> {
        let catalog = catalog(settings);
        let space = catalog.registry().space::<dyn Frontend>().map_err(|e| e.to_string())?;
        let id = variant.composition();
        let composition: Composition = id.parse().map_err(|e| format!("{id}: {e}"))?;
        let system = space.assemble(&composition).map_err(|e| format!("assembling {id}: {e}"))?;
        let root = system.root::<dyn Frontend>().map_err(|e| e.to_string())?;
        let by_hand: Slot<dyn HttpHandler> = Slot::new(Box::new(handler_by_hand(variant, settings)?));
        let frontend = WebFrontend::new(by_hand, Arc::new(Workload::default()), InProcessProbe::new(1));
        let handler = handler_by_hand(variant, settings)?;
        Ok(Wirings { _system: system, root, frontend, handler })
    }

    fn call(&self, wiring: usize, request: &Request, sink: &Sink) -> Response {
        match wiring {
            0 => self.root.load().handle(request, sink),
            1 => self.frontend.handle(request, sink),
            _ => self.handler.handle(request, sink),
        }
    }
}

/// The wirings' names, in [`Wirings::call`]'s order.
pub const WIRINGS: [&str; 3] = ["assembled", "frontend by hand", "handler direct"];

/// One variant × request: median ns per request of each wiring over the rounds.
#[derive(Clone, Debug)]
pub struct Row {
    /// The variant.
    pub variant: Variant,
    /// The request's name.
    pub probe: &'static str,
    /// Median ns/request per wiring ([`WIRINGS`] order).
    pub median_ns: [f64; 3],
    /// Lowest round's ns/request per wiring.
    pub min_ns: [f64; 3],
    /// Slot loads inside the handler, in every wiring.
    pub inner_loads: u32,
}

/// The micro-benchmark's results.
pub struct Micro {
    /// One row per variant and request.
    pub rows: Vec<Row>,
    /// A `Slot<dyn Trait>` load + call, ns (median of rounds).
    pub slot_call_ns: f64,
    /// The same call on a `Box<dyn Trait>`, ns.
    pub box_call_ns: f64,
    /// Rounds per measurement and the time of one round.
    pub rounds: usize,
    /// Target length of a round.
    pub round: Duration,
}

/// How long the measurement takes.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Rounds per wiring (the three wirings alternate, round by round).
    pub rounds: usize,
    /// Time of one round of one wiring.
    pub round: Duration,
}

/// Runs every variant × request on the data set in `settings`.
///
/// # Errors
///
/// Assembling or wiring a variant, or a response that is not the expected `200` with the
/// file's bytes (checked once per wiring before timing).
pub fn run(settings: &Settings, budget: Budget) -> Result<Micro, String> {
    let probes = probes();
    let sink = Sink::default();
    let mut rows = Vec::new();
    for variant in Variant::ALL {
        let wirings = Wirings::build(variant, settings)?;
        for probe in &probes {
            for (wiring, name) in WIRINGS.iter().enumerate() {
                // Twice: the first fills the cache, the second must be the cached answer.
                for _ in 0..2 {
                    let response = wirings.call(wiring, &probe.request, &sink);
                    check(&response, probe, variant.compresses())
                        .map_err(|e| format!("{} {name} {}: {e}", variant.name(), probe.name))?;
                }
            }
            if budget.rounds == 0 {
                continue;
            }
            let per_round: Vec<[f64; 3]> = rounds(budget, |wiring, iterations| {
                let started = Instant::now();
                for _ in 0..iterations {
                    black_box(wirings.call(wiring, black_box(&probe.request), &sink));
                }
                started.elapsed()
            });
            rows.push(Row {
                variant,
                probe: probe.name,
                median_ns: per_wiring(&per_round, median),
                min_ns: per_wiring(&per_round, |v| v.iter().copied().fold(f64::INFINITY, f64::min)),
                inner_loads: variant.inner_loads(probe),
            });
        }
    }
    let (slot_call_ns, box_call_ns) = if budget.rounds == 0 { (0.0, 0.0) } else { slot_floor(budget) };
    Ok(Micro { rows, slot_call_ns, box_call_ns, rounds: budget.rounds, round: budget.round })
}

/// A `200`, gzip-encoded when the request accepts gzip and the handler compresses, otherwise
/// with the file's length.
fn check(response: &Response, probe: &Probe, compresses: bool) -> Result<(), String> {
    if response.status != 200 {
        return Err(format!("status {}", response.status));
    }
    match probe.gzip && compresses {
        true if response.content_encoding.as_deref() != Some("gzip") => {
            Err(format!("encoding {:?}, wanted gzip", response.content_encoding))
        }
        false if response.body.len() != probe.body_len => {
            Err(format!("{} body bytes, wanted {}", response.body.len(), probe.body_len))
        }
        _ => Ok(()),
    }
}

/// Times `budget.rounds` rounds of each of `N` alternatives, rotating which goes first, with
/// the iteration count calibrated once so that a round of the first takes about
/// `budget.round`. Returns ns per iteration, one array per round.
fn rounds<const N: usize>(budget: Budget, mut time: impl FnMut(usize, u64) -> Duration) -> Vec<[f64; N]> {
    let mut iterations = 1u64;
    while time(0, iterations) < budget.round / 4 && iterations < 1 << 30 {
        iterations *= 2;
    }
    let iterations = (iterations * 4).max(1);
    (0..budget.rounds)
        .map(|round| {
            let mut ns = [0.0; N];
            for k in 0..N {
                let which = (round + k) % N;
                ns[which] = time(which, iterations).as_nanos() as f64 / iterations as f64;
            }
            ns
        })
        .collect()
}

fn per_wiring<const N: usize>(rounds: &[[f64; N]], f: impl Fn(&[f64]) -> f64) -> [f64; N] {
    std::array::from_fn(|w| f(&rounds.iter().map(|r| r[w]).collect::<Vec<_>>()))
}

/// The median of `values` (0 for none).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

trait Probed: Send + Sync {
    fn value(&self, x: u64) -> u64;
}

struct Add(u64);

impl Probed for Add {
    fn value(&self, x: u64) -> u64 {
        x.wrapping_add(self.0)
    }
}

/// ns per call of a trivial method through a `Slot` (load, call, guard drop) and through a
/// `Box<dyn Trait>`: the price of each slot load left inside the handler.
fn slot_floor(budget: Budget) -> (f64, f64) {
    let slot: Slot<dyn Probed> = Slot::new(Box::new(Add(3)));
    let boxed: Box<dyn Probed> = Box::new(Add(3));
    let per_round: Vec<[f64; 2]> = rounds(budget, |which, iterations| {
        let started = Instant::now();
        let mut acc = 0u64;
        for i in 0..iterations {
            acc = match which {
                0 => black_box(&slot).load().value(acc ^ i),
                _ => black_box(&boxed).value(acc ^ i),
            };
        }
        black_box(acc);
        started.elapsed()
    });
    let ns = per_wiring(&per_round, median);
    (ns[0], ns[1])
}
