//! Shared helpers for Hatch's benchmarks: thread pinning, latency histograms, and the report
//! format (every figure printed next to its ratio to the run's reference).

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Where the client and server threads run.
#[derive(Clone, Copy, Debug)]
pub struct Placement {
    /// Printed name.
    pub name: &'static str,
    /// CPU of the calling thread.
    pub client_cpu: usize,
    /// CPU of the serving thread.
    pub server_cpu: usize,
}

/// Both threads on CPU 0, then client on 0 and server on 1 (when the machine has two CPUs).
pub fn placements() -> Vec<Placement> {
    let cpus = core_affinity::get_core_ids().map(|ids| ids.len()).unwrap_or(1);
    let mut out = vec![Placement { name: "same vCPU", client_cpu: 0, server_cpu: 0 }];
    if cpus > 1 {
        out.push(Placement { name: "split vCPUs", client_cpu: 0, server_cpu: 1 });
    }
    out
}

/// Pins the calling thread to `cpu` (ignored when the CPU does not exist).
pub fn pin(cpu: usize) {
    if let Some(id) = core_affinity::get_core_ids().and_then(|ids| ids.into_iter().find(|id| id.id == cpu)) {
        core_affinity::set_for_current(id);
    }
}

/// Latency samples in nanoseconds.
pub struct Latency {
    hist: Histogram<u64>,
    /// Wall time of the whole run.
    pub wall: Duration,
    /// CPU time the calling thread used during the run.
    pub cpu: Duration,
}

impl Latency {
    /// Median in microseconds.
    pub fn p50_us(&self) -> f64 {
        self.hist.value_at_quantile(0.5) as f64 / 1000.0
    }

    /// 99th percentile in microseconds.
    pub fn p99_us(&self) -> f64 {
        self.hist.value_at_quantile(0.99) as f64 / 1000.0
    }

    /// Round trips per second over the run.
    pub fn rate(&self) -> f64 {
        self.hist.len() as f64 / self.wall.as_secs_f64()
    }

    /// Share of one core the calling thread kept busy.
    pub fn cpu_share(&self) -> f64 {
        self.cpu.as_secs_f64() / self.wall.as_secs_f64()
    }
}

/// Runs `call` `warmup` times unmeasured, then `iters` times, timing each.
pub fn measure(warmup: usize, iters: usize, mut call: impl FnMut()) -> Latency {
    for _ in 0..warmup {
        call();
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).expect("histogram bounds");
    let cpu_start = thread_cpu_time();
    let start = Instant::now();
    for _ in 0..iters {
        let t = Instant::now();
        call();
        hist.saturating_record(t.elapsed().as_nanos() as u64);
    }
    let wall = start.elapsed();
    Latency { hist, wall, cpu: thread_cpu_time().saturating_sub(cpu_start) }
}

/// CPU time consumed by the calling thread.
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc_timespec();
    // SAFETY: clock_gettime writes a timespec into the valid pointer given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn libc_timespec() -> libc::timespec {
    libc::timespec { tv_sec: 0, tv_nsec: 0 }
}

/// Prints the header of a latency table.
pub fn latency_header() {
    println!(
        "| {:<44} | {:>9} | {:>9} | {:>8} | {:>8} | {:>10} |",
        "system", "p50 µs", "p99 µs", "p50 ×ref", "p99 ×ref", "client CPU"
    );
    println!("|{:-<46}|{:->11}|{:->11}|{:->10}|{:->10}|{:->12}|", "", "", "", "", "", "");
}

/// Prints one latency row with its ratios to `reference`.
pub fn latency_row(name: &str, lat: &Latency, reference: &Latency) {
    println!(
        "| {:<44} | {:>9.1} | {:>9.1} | {:>8.2} | {:>8.2} | {:>9.0}% |",
        name,
        lat.p50_us(),
        lat.p99_us(),
        lat.p50_us() / reference.p50_us(),
        lat.p99_us() / reference.p99_us(),
        lat.cpu_share() * 100.0
    );
}

/// Prints the header of a throughput table.
pub fn rate_header() {
    println!("| {:<44} | {:>14} | {:>10} |", "system", "calls/s", "×ref");
    println!("|{:-<46}|{:->16}|{:->12}|", "", "", "");
}

/// Prints one throughput row with its ratio to `reference`.
pub fn rate_row(name: &str, rate: f64, reference: f64) {
    println!("| {:<44} | {:>14.0} | {:>10.2} |", name, rate, rate / reference);
}

/// Runs `step` (which performs `per_step` calls) until `duration` passes; returns calls/s.
pub fn rate(duration: Duration, per_step: usize, mut step: impl FnMut()) -> f64 {
    // Warm up for a tenth of the time.
    let warm = Instant::now();
    while warm.elapsed() < duration / 10 {
        step();
    }
    let start = Instant::now();
    let mut calls = 0usize;
    while start.elapsed() < duration {
        step();
        calls += per_step;
    }
    calls as f64 / start.elapsed().as_secs_f64()
}

/// A server running on its own thread, pinned to one CPU, on a current-thread tokio runtime: the
/// peer side of the tokio and tarpc measurements. Stops (and is joined) on drop.
pub struct ServerThread {
    /// Where the server listens.
    pub addr: std::net::SocketAddr,
    stop: std::sync::Arc<tokio::sync::Notify>,
    handle: Option<std::thread::JoinHandle<()>>,
}

/// Handed to a server started by [`ServerThread::spawn`]: resolves when the server must stop.
pub struct StopSignal(std::sync::Arc<tokio::sync::Notify>);

impl StopSignal {
    /// Waits for the stop request.
    pub async fn wait(&self) {
        self.0.notified().await;
    }
}

impl ServerThread {
    /// Runs `serve` on a new thread pinned to `cpu`. `serve` binds, reports its address through
    /// the sender, serves until the [`StopSignal`] fires, and returns.
    pub fn spawn<F, Fut>(cpu: usize, serve: F) -> Self
    where
        F: FnOnce(std::sync::mpsc::Sender<std::net::SocketAddr>, StopSignal) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()>,
    {
        let (tx, rx) = std::sync::mpsc::channel();
        let stop = std::sync::Arc::new(tokio::sync::Notify::new());
        let signal = StopSignal(stop.clone());
        let handle = std::thread::spawn(move || {
            pin(cpu);
            current_thread_runtime().block_on(serve(tx, signal));
        });
        let addr = rx.recv().expect("the server reports its address");
        Self { addr, stop, handle: Some(handle) }
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        // `notify_one` stores a permit, so a server not yet waiting still sees it.
        self.stop.notify_one();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// A current-thread tokio runtime with I/O and timers.
pub fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}
