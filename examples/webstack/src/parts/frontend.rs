//! `WebFrontend`, the one [`Frontend`] variant and the root of every composition: it counts the
//! workload as the front end sees it (requests, the dynamic share) for the learner's
//! environment classes, and calls the handler through its slot.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hatch::learner::probe::InProcessProbe;
use hatch_components::{Component, Slot};

use crate::api::http::{Connection, Frontend, HttpHandler, Request, Response};

/// What the front end has been asked so far (monotonic counters; a reader takes differences).
#[derive(Debug, Default)]
pub struct Workload {
    requests: AtomicU64,
    dynamic: AtomicU64,
    errors: AtomicU64,
}

impl Workload {
    /// Requests arrived, dynamic ones among them, and 5xx answers.
    pub fn counts(&self) -> (u64, u64, u64) {
        (
            self.requests.load(Ordering::Relaxed),
            self.dynamic.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
        )
    }
}

/// Whether a request path is served by a script.
pub fn is_dynamic(path: &str) -> bool {
    path == "/" || path.starts_with("/wiki/")
}

/// The root component.
pub struct WebFrontend {
    handler: Slot<dyn HttpHandler>,
    workload: Arc<Workload>,
    probe: InProcessProbe,
}

impl WebFrontend {
    /// A front end calling `handler`, counting into `workload` and timing each handler call
    /// into slot 0 of `probe` (the paper's probe at the `HttpHandler`: the learner's reward).
    pub fn new(handler: Slot<dyn HttpHandler>, workload: Arc<Workload>, probe: InProcessProbe) -> Self {
        WebFrontend { handler, workload, probe }
    }
}

impl Component for WebFrontend {}

impl Frontend for WebFrontend {
    fn handle(&self, request: &Request, connection: &dyn Connection) -> Response {
        // Counted on arrival, not on completion: the learner's environment classes come from
        // these counts, and a saturated design completes fewer requests than arrive; counting
        // completions would let the design it runs change the class it learns in.
        self.workload.requests.fetch_add(1, Ordering::Relaxed);
        if is_dynamic(&request.path) {
            self.workload.dynamic.fetch_add(1, Ordering::Relaxed);
        }
        let response = self.probe.time(0, || self.handler.load().handle(request, connection));
        if response.status >= 500 {
            self.workload.errors.fetch_add(1, Ordering::Relaxed);
        }
        response
    }
}
