//! Running a [`Plan`]: one thread per connection, each with its own client and random stream,
//! and the calling thread collecting their samples into the [`Report`].
//!
//! Every connection opens its TCP connection first; the run starts when all have tried (so
//! connect time is not part of the first second), and fails at once if none could connect.
//!
//! * Closed loop: a connection sends its next request as soon as the previous one finished.
//!   Latency is counted from the actual send. After a failed connect it waits (10 ms, doubling
//!   to 500 ms) before the next try, so a dead server is not hammered.
//! * Open loop: a connection sends on its [`Schedule`]; latency is counted from the intended
//!   send time, so a server that stalls is charged for every request that should have gone out
//!   meanwhile (no coordinated omission). A connection that falls behind sends at once, never
//!   skipping a request; requests still due when the run ends are reported as
//!   [`Report::unsent`].
//!
//! Any error closes the connection; the next request opens a new one.

use std::io;
use std::net::SocketAddr;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::client::{self, Client, Options};
use crate::errors::ErrorKind;
use crate::plan::{Plan, PlanError};
use crate::preset::Preset;
use crate::progress::Progress;
use crate::report::{Collector, Event, Report, Sample};
use crate::rng::Rng;
use crate::schedule::Schedule;
use crate::site::Site;

/// Stack of a connection thread: its buffers are on the heap.
const STACK: usize = 256 * 1024;
/// First and longest wait after a failed connect, in closed loop.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(10), Duration::from_millis(500));

/// Runs `plan`, printing a progress line to stderr once a second when `progress` is set.
///
/// # Errors
///
/// [`io::ErrorKind::InvalidInput`] for a plan that fails [`Plan::validate`] or whose data set
/// lacks what a preset needs; the connect error when no connection could be opened at the start;
/// a thread spawn error. Errors during the run are not errors of `run`: they are counted in the
/// report.
pub fn run(plan: &Plan, progress: bool) -> io::Result<Report> {
    plan.validate()?;
    let presets: Vec<Preset> = plan.phases.iter().map(|p| p.preset).collect();
    let site = Site::new(&plan.shape, plan.seed, &presets).map_err(PlanError::Site)?;
    let spans = spans(plan);
    let end = plan.duration();
    let options = Options { host: Some(plan.host.clone()), timeout: plan.timeout, ..Options::default() };
    let headers: Vec<(&str, &str)> = plan.accept_encoding.iter().map(|e| ("Accept-Encoding", e.as_str())).collect();
    let gate = Gate::new(plan.connections);
    let shared = Shared { plan, site: &site, spans: &spans, end, options, headers: &headers, gate: &gate };
    let (tx, rx) = mpsc::channel();

    thread::scope(|scope| {
        for index in 0..plan.connections {
            let tx = tx.clone();
            let shared = &shared;
            let spawned = thread::Builder::new()
                .name(format!("load-{index}"))
                .stack_size(STACK)
                .spawn_scoped(scope, move || drive(index, shared, tx));
            if let Err(e) = spawned {
                gate.abort();
                return Err(e);
            }
        }
        drop(tx);
        let start = gate.open().map_err(|e| cannot_connect(plan.addr, e))?;
        Ok(collect(&rx, start, plan, &spans, progress))
    })
}

/// Collects the connections' events until the last one hangs up; settles rows and shows
/// progress once a second meanwhile.
fn collect(rx: &Receiver<Event>, start: Instant, plan: &Plan, spans: &[Span], progress: bool) -> Report {
    let end = plan.duration().as_secs();
    let mut collector = Collector::new(&plan.phases);
    let mut progress = progress.then(|| Progress::new(end));
    let mut tick = Duration::from_secs(1);
    loop {
        match rx.recv_timeout(tick.saturating_sub(start.elapsed())) {
            Ok(event) => collector.record(event),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        let now = start.elapsed();
        if now < tick {
            continue;
        }
        collector.settle(now);
        let second = now.as_secs() - 1;
        let span = spans.iter().rev().find(|s| s.start.as_secs() <= second);
        if let (Some(progress), Some(span), true) = (&mut progress, span, second < end) {
            let (requests, _) = collector.live(second as usize);
            progress.show(second, span.preset, requests, collector.errors().total());
        }
        tick = Duration::from_secs(now.as_secs() + 1);
    }
    let elapsed = start.elapsed();
    if let Some(progress) = &mut progress {
        progress.finish();
    }
    collector.finish(elapsed)
}

fn cannot_connect(addr: SocketAddr, error: Option<io::Error>) -> io::Error {
    match error {
        Some(e) => io::Error::new(e.kind(), format!("could not connect to {addr}: {e}")),
        None => io::Error::other(format!("could not connect to {addr}")),
    }
}

/// One phase, placed on the run's clock.
#[derive(Clone, Copy, Debug)]
struct Span {
    preset: Preset,
    start: Duration,
    end: Duration,
    rate: Option<f64>,
}

fn spans(plan: &Plan) -> Vec<Span> {
    let mut start = Duration::ZERO;
    plan.phases
        .iter()
        .map(|phase| {
            let end = start + Duration::from_secs(phase.secs);
            let span = Span { preset: phase.preset, start, end, rate: plan.rate_of(phase) };
            start = end;
            span
        })
        .collect()
}

/// What every connection thread reads.
struct Shared<'a> {
    plan: &'a Plan,
    site: &'a Site,
    spans: &'a [Span],
    end: Duration,
    options: Options,
    headers: &'a [(&'a str, &'a str)],
    gate: &'a Gate,
}

/// One connection's state during the run.
struct Connection<'a> {
    shared: &'a Shared<'a>,
    index: usize,
    client: Client,
    rng: Rng,
    tx: Sender<Event>,
    start: Instant,
    unsent: u64,
}

fn drive(index: usize, shared: &Shared<'_>, tx: Sender<Event>) {
    let mut client = Client::new(shared.plan.addr, shared.options.clone());
    let opened = client.open().map_err(|e| match e {
        client::Error::Connect(e) => e,
        other => other.into(),
    });
    let Some(start) = shared.gate.arrive(opened) else { return };
    let rng = Rng::new(shared.plan.seed, index as u64);
    let mut conn = Connection { shared, index, client, rng, tx, start, unsent: 0 };
    for span in shared.spans {
        match span.rate {
            Some(rate) => conn.open_loop(span, rate),
            None => conn.closed_loop(span),
        }
    }
    let finished = Event::Finished { connects: conn.client.connects(), unsent: conn.unsent };
    // The collector only hangs up once every connection has, so this cannot fail.
    let _ = conn.tx.send(finished);
}

impl Connection<'_> {
    fn closed_loop(&mut self, span: &Span) {
        let mut backoff = BACKOFF.0;
        loop {
            let now = self.start.elapsed();
            if now >= span.end {
                return;
            }
            if self.issue(span.preset, now) == Some(ErrorKind::Connect) {
                thread::sleep(backoff.min(span.end.saturating_sub(self.start.elapsed())));
                backoff = (backoff * 2).min(BACKOFF.1);
            } else {
                backoff = BACKOFF.0;
            }
        }
    }

    fn open_loop(&mut self, span: &Span, rate: f64) {
        let mut schedule = Schedule::new(span.start, span.end, rate, self.shared.plan.connections, self.index);
        while let Some(at) = schedule.next() {
            let now = self.start.elapsed();
            if now >= self.shared.end {
                self.unsent += 1 + schedule.remaining();
                return;
            }
            if at > now {
                thread::sleep(at - now);
            }
            self.issue(span.preset, at);
        }
    }

    /// Sends one request of `preset` meant to go out at `intended`, checks the response and
    /// reports the sample. Returns the error, if any.
    fn issue(&mut self, preset: Preset, intended: Duration) -> Option<ErrorKind> {
        let target = self.shared.site.pick(preset, self.shared.plan.cost, &mut self.rng);
        let result = self.client.get(&target.path(), self.shared.headers);
        let at = self.start.elapsed();
        let latency_us = u64::try_from(at.saturating_sub(intended).as_micros()).unwrap_or(u64::MAX);
        let (latency_us, error) = match &result {
            Ok(response) => (Some(latency_us), target.check(response).err()),
            Err(e) => (None, Some(ErrorKind::from(e))),
        };
        if error.is_some() {
            self.client.close();
        }
        // See `drive`: the collector outlives every sender.
        let _ = self.tx.send(Event::Done(Sample { at, latency_us, error }));
        error
    }
}

/// The start line: connections report in once they have tried to connect; the run starts when
/// all have (or never, when none could connect or the run is abandoned).
struct Gate {
    parties: usize,
    state: Mutex<GateState>,
    changed: Condvar,
}

struct GateState {
    arrived: usize,
    connected: usize,
    first_error: Option<io::Error>,
    start: Start,
}

#[derive(Clone, Copy)]
enum Start {
    Waiting,
    Go(Instant),
    Abort,
}

impl Gate {
    fn new(parties: usize) -> Gate {
        let state = GateState { arrived: 0, connected: 0, first_error: None, start: Start::Waiting };
        Gate { parties, state: Mutex::new(state), changed: Condvar::new() }
    }

    /// A connection reports how its first connect went, then waits for the start: `None` if
    /// the run was abandoned.
    fn arrive(&self, opened: io::Result<()>) -> Option<Instant> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.arrived += 1;
        match opened {
            Ok(()) => state.connected += 1,
            Err(e) => {
                state.first_error.get_or_insert(e);
            }
        }
        self.changed.notify_all();
        loop {
            match state.start {
                Start::Go(at) => return Some(at),
                Start::Abort => return None,
                Start::Waiting => state = self.changed.wait(state).unwrap_or_else(PoisonError::into_inner),
            }
        }
    }

    /// Waits until every connection has arrived, then starts the run, or abandons it (returning
    /// the first connect error) if none is connected.
    fn open(&self) -> Result<Instant, Option<io::Error>> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        while state.arrived < self.parties {
            state = self.changed.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
        let result = if state.connected == 0 {
            state.start = Start::Abort;
            Err(state.first_error.take())
        } else {
            let now = Instant::now();
            state.start = Start::Go(now);
            Ok(now)
        };
        self.changed.notify_all();
        result
    }

    /// Abandons the run: every waiting connection returns.
    fn abort(&self) {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).start = Start::Abort;
        self.changed.notify_all();
    }
}
