//! Generated proxies against their baselines, side by side in one run: a local `Arc<dyn Primes>`
//! call, the generated proxy over io_uring and over tokio, the raw transport call carrying the
//! very same request bytes to the same generated dispatcher, and tarpc on the same interface.
//!
//! Run: `cargo bench -p hatch-bench --bench proxy` (add `-- --quick` for a short run).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use hatch::codegen::{Bytes, Channel, Config, MethodId, RemoteError};
use hatch_bench::{Latency, Placement, current_thread_runtime, latency_header, latency_row, measure, pin, placements};
use hatch_proxygen_e2e::primes::{LocalPrimes, Primes, PrimesAsyncClient, PrimesProxy, PrimesServer, primes_wire};
use hatch_transport::AsyncChannel;
use hatch_transport::uring::{Client, Server, UringOptions};

/// The argument of every call: a small prime, so the remote work is a few hundred nanoseconds and
/// the figures show the cost of the call path.
const N: u64 = 7_919;

#[path = "common/tarpc_peer.rs"]
mod tarpc_peer;

fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let iters = if quick { 3_000 } else { 20_000 };
    println!("# Generated proxy benchmark: Primes::is_prime({N}) locally and over loopback\n");
    for placement in placements() {
        println!(
            "## {} (client on CPU {}, server on CPU {})\n",
            placement.name, placement.client_cpu, placement.server_cpu
        );
        pin(placement.client_cpu);
        let local: Arc<dyn Primes> = Arc::new(LocalPrimes);
        let local_lat = measure(iters / 10, iters * 10, || assert!(local.is_prime(std::hint::black_box(N))));

        let server = uring_server(placement);
        let config = primes_wire::client_config(Config::default());
        let client = Arc::new(Client::connect(server.local_addr(), config).unwrap());
        let recorder = Arc::new(Recorder { inner: client.clone(), last: Mutex::default() });
        let proxy: Arc<dyn Primes> = Arc::new(PrimesProxy::new(recorder.clone()));
        let proxy_lat = measure(iters / 10, iters, || assert!(proxy.is_prime(N)));
        let (method, request) = recorder.last.lock().unwrap().clone().expect("the proxy made a call");
        let raw_lat = measure(iters / 10, iters, || {
            client.call(method, &request, None).unwrap();
        });
        drop(proxy);
        drop(client);
        server.shutdown();

        let (tokio_proxy_lat, tokio_raw_lat) = tokio_pair(placement, iters, method, &request);
        let tarpc_lat = tarpc_primes::call(placement, iters);

        latency_header();
        latency_row("raw io_uring call, same request bytes (ref)", &raw_lat, &raw_lat);
        latency_row("local Arc<dyn Primes> call", &local_lat, &raw_lat);
        latency_row("generated proxy over io_uring", &proxy_lat, &raw_lat);
        latency_row("raw tokio call, same request bytes", &tokio_raw_lat, &raw_lat);
        latency_row("generated async client over tokio", &tokio_proxy_lat, &raw_lat);
        latency_row("tarpc 0.37, same interface", &tarpc_lat, &raw_lat);
        println!(
            "\nproxy overhead over the raw io_uring call: p50 {:+.2} µs, p99 {:+.2} µs; tarpc / proxy at p50: {:.2}x; local call p50 {:.0} ns\n",
            proxy_lat.p50_us() - raw_lat.p50_us(),
            proxy_lat.p99_us() - raw_lat.p99_us(),
            tarpc_lat.p50_us() / proxy_lat.p50_us(),
            local_lat.p50_us() * 1000.0
        );
    }
}

/// Passes calls through and keeps the last request, so the raw baseline sends identical bytes.
struct Recorder {
    inner: Arc<Client>,
    last: Mutex<Option<(MethodId, Vec<u8>)>>,
}

impl Channel for Recorder {
    fn call(&self, method: MethodId, request: &[u8], deadline: Option<Instant>) -> Result<Bytes, RemoteError> {
        *self.last.lock().unwrap() = Some((method, request.to_vec()));
        self.inner.call(method, request, deadline)
    }

    fn send_one_way(&self, method: MethodId, request: &[u8]) -> Result<(), RemoteError> {
        self.inner.send_one_way(method, request)
    }

    fn flush(&self) -> Result<(), RemoteError> {
        self.inner.flush()
    }
}

fn uring_server(placement: Placement) -> Server {
    let service = Arc::new(PrimesServer::new(Arc::new(LocalPrimes)));
    let options = UringOptions::default().cpus(vec![placement.server_cpu]);
    let config = primes_wire::server_config(Config::default());
    Server::bind_with("127.0.0.1:0".parse().unwrap(), config, service, 1, options).unwrap()
}

/// The generated async client and the raw tokio call, against a tokio server on its own thread.
fn tokio_pair(placement: Placement, iters: usize, method: MethodId, request: &[u8]) -> (Latency, Latency) {
    let (tx, rx) = std::sync::mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let stop_flag = stop.clone();
    let server_cpu = placement.server_cpu;
    let server = thread::spawn(move || {
        pin(server_cpu);
        current_thread_runtime().block_on(async move {
            let service = Arc::new(PrimesServer::new(Arc::new(LocalPrimes)));
            let config = primes_wire::server_config(Config::default());
            let server =
                hatch_transport::tokio::Server::bind("127.0.0.1:0".parse::<SocketAddr>().unwrap(), config, service)
                    .await
                    .unwrap();
            tx.send(server.local_addr()).unwrap();
            while !stop_flag.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            server.shutdown().await;
        });
    });
    let addr = rx.recv().unwrap();
    let rt = current_thread_runtime();
    let config = primes_wire::client_config(Config::default());
    let client = rt.block_on(hatch_transport::tokio::Client::connect(addr, config)).unwrap();
    let proxy = PrimesAsyncClient::new(client.clone());
    let proxy_lat = measure(iters / 10, iters, || assert!(rt.block_on(proxy.is_prime(N))));
    let raw_lat = measure(iters / 10, iters, || {
        rt.block_on(client.call(method, request, None)).unwrap();
    });
    drop(proxy);
    drop(client);
    drop(rt);
    drop(server);
    (proxy_lat, raw_lat)
}

mod tarpc_primes {
    use super::*;
    use tarpc::tokio_serde::formats::Bincode;
    use tarpc::{client, context};

    #[tarpc::service]
    pub trait PrimesService {
        async fn is_prime(n: u64) -> bool;
    }

    #[derive(Clone)]
    struct PrimesServer;

    impl PrimesService for PrimesServer {
        async fn is_prime(self, _: context::Context, n: u64) -> bool {
            LocalPrimes.is_prime(n)
        }
    }

    pub fn call(placement: Placement, iters: usize) -> Latency {
        let server = tarpc_peer::tarpc_server!(placement.server_cpu, PrimesServer);
        let addr = server.addr;
        let rt = current_thread_runtime();
        let client = rt.block_on(async {
            let transport = tarpc::serde_transport::tcp::connect(addr, Bincode::default).await.unwrap();
            transport.get_ref().set_nodelay(true).unwrap();
            PrimesServiceClient::new(client::Config::default(), transport).spawn()
        });
        let lat = measure(iters / 10, iters, || assert!(rt.block_on(client.is_prime(context::current(), N)).unwrap()));
        drop(client);
        drop(rt);
        drop(server);
        lat
    }
}
