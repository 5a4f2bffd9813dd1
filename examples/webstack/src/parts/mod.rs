//! The variants of every interface in [`crate::api`], and the [`catalog`] that registers them:
//! the same function in the server and in its agents, so an agent can build any of them.

pub mod articles;
pub mod cache;
pub mod compress;
pub mod database;
pub mod frontend;
pub mod handler;
pub mod memo;
pub mod remotable;
pub mod script;

use std::path::PathBuf;
use std::sync::Arc;

use hatch::learner::probe::InProcessProbe;
use hatch_components::{Catalog, Registry};

use crate::api::articles::Articles;
use crate::api::cache::Cache;
use crate::api::compress::Compressor;
use crate::api::database::Database;
use crate::api::http::{Frontend, HttpHandler};
use crate::api::memo::Memo;
use crate::api::script::Script;
use frontend::Workload;
use script::Sending;

/// What the variants are built with.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The data folder (static files under `static/`, the articles in `articles.db`).
    pub data: PathBuf,
    /// Body bytes a cache holds.
    pub cache_bytes: usize,
    /// Bytes a memo holds.
    pub memo_bytes: usize,
    /// Script work units per dynamic request when the request names none (`?cost=`).
    pub default_cost: u32,
    /// Where the front end counts what it serves.
    pub workload: Arc<Workload>,
    /// Where the front end times every request's handler call (slot 0).
    pub probe: InProcessProbe,
}

impl Settings {
    /// Defaults for the data folder `data`: 64 MiB of cache, 64 MiB of memo, cost 20.
    pub fn new(data: PathBuf) -> Self {
        Settings {
            data,
            cache_bytes: 64 << 20,
            memo_bytes: 64 << 20,
            default_cost: 20,
            workload: Arc::default(),
            probe: InProcessProbe::new(1),
        }
    }
}

/// Every variant of every interface, registered by name.
///
/// # Panics
///
/// Never in practice: the names are valid and unique (a test builds it).
pub fn register(registry: &mut Registry, settings: &Settings) {
    const UNIQUE: &str = "valid, unique variant name";
    let (workload, probe) = (settings.workload.clone(), settings.probe.clone());
    registry
        .variant::<dyn Frontend>("WebFrontend")
        .requires::<dyn HttpHandler>()
        .build(move |deps| Box::new(frontend::WebFrontend::new(deps.slot(), workload.clone(), probe.clone())))
        .expect(UNIQUE);

    for (name, caches, compresses) in [
        ("DiskHandler", false, false),
        ("CachingHandler", true, false),
        ("CompressingHandler", false, true),
        ("CachingCompressingHandler", true, true),
    ] {
        let (files, cost) = (settings.data.clone(), settings.default_cost);
        let mut variant = registry.variant::<dyn HttpHandler>(name);
        if caches {
            variant = variant.requires::<dyn Cache>();
        }
        if compresses {
            variant = variant.requires::<dyn Compressor>();
        }
        variant
            .requires::<dyn Script>()
            .build(move |deps| {
                let cache = caches.then(|| deps.slot());
                let compressor = compresses.then(|| deps.slot());
                Box::new(handler::Handler::new(files.clone(), cost, cache, compressor, deps.slot()))
            })
            .expect(UNIQUE);
    }

    let bytes = settings.cache_bytes;
    registry.variant::<dyn Cache>("LruCache").build(move |_| Box::new(cache::Lru::new(bytes))).expect(UNIQUE);
    registry.variant::<dyn Cache>("S3FifoCache").build(move |_| Box::new(cache::S3Fifo::new(bytes))).expect(UNIQUE);
    registry.variant::<dyn Cache>("NoCache").build(|_| Box::new(cache::NoCache::default())).expect(UNIQUE);

    registry.variant::<dyn Compressor>("Identity").build(|_| Box::new(compress::Identity)).expect(UNIQUE);
    registry.variant::<dyn Compressor>("Gzip").build(|_| Box::new(compress::Gzip)).expect(UNIQUE);
    registry.variant::<dyn Compressor>("Brotli").build(|_| Box::new(compress::Brotli)).expect(UNIQUE);

    for (name, sending) in [("BatchedScript", Sending::Batched), ("SyncScript", Sending::Sync)] {
        registry
            .variant::<dyn Script>(name)
            .requires::<dyn Articles>()
            .build(move |deps| Box::new(script::PageScript::new(deps.slot(), sending)))
            .expect(UNIQUE);
    }

    registry
        .variant::<dyn Articles>("MemoArticles")
        .requires::<dyn Memo>()
        .requires::<dyn Database>()
        .build(|deps| Box::new(articles::MemoArticles::new(deps.slot(), deps.slot())))
        .expect(UNIQUE);
    registry
        .variant::<dyn Articles>("DirectArticles")
        .requires::<dyn Database>()
        .build(|deps| Box::new(articles::DirectArticles::new(deps.slot())))
        .expect(UNIQUE);

    let bytes = settings.memo_bytes;
    registry.variant::<dyn Memo>("ShardedMemo").build(move |_| Box::new(memo::ShardedMemo::new(bytes))).expect(UNIQUE);
    registry.variant::<dyn Memo>("LockedMemo").build(move |_| Box::new(memo::LockedMemo::new(bytes))).expect(UNIQUE);

    let db = settings.data.join("articles.db");
    registry
        .variant::<dyn Database>("Sqlite")
        .build(move |_| {
            // A database that cannot be opened is a broken installation, not a runtime
            // condition a component could answer for.
            Box::new(database::Sqlite::open(&db).unwrap_or_else(|e| panic!("opening {}: {e}", db.display())))
        })
        .expect(UNIQUE);
}

/// The catalog of this binary: every variant, and the distribution points (the interfaces an
/// agent may serve): `HttpHandler` with its sub-tree, `Script`, `Memo` and `Database`.
pub fn catalog(settings: &Settings) -> Catalog {
    let mut registry = Registry::new();
    register(&mut registry, settings);
    Catalog::new(registry)
        .remotable::<dyn HttpHandler>()
        .remotable::<dyn Script>()
        .remotable::<dyn Memo>()
        .remotable::<dyn Database>()
}
