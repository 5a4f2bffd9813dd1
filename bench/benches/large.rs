//! Large payloads: echo calls of 1 KiB to 64 MiB over loopback, one at a time and 4 in flight,
//! through Hatch's io_uring and tokio backends, next to a plain `std::net` length-prefixed echo
//! measured in the same run (the reference: what the socket itself does).
//!
//! Run: `cargo bench -p hatch-bench --bench large` (add `-- --quick` for a short run).
//! Client on CPU 0, server on CPU 1 when the machine has two (else both on CPU 0). Times are per
//! call: with 4 in flight, a round of 4 calls started together is timed and divided by 4.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;

use hatch_bench::{Latency, Placement, ServerThread, current_thread_runtime, measure, pin, placements};
use hatch_transport::uring::{Connection, Server, UringOptions};
use hatch_transport::{AsyncChannel, Config, Echo};

const SIZES: [usize; 5] = [1 << 10, 64 << 10, 1 << 20, 16 << 20, 64 << 20];
const IN_FLIGHT: [usize; 2] = [1, 4];

/// Bytes moved per row (each way), which sets the iteration count of each size.
struct Budget {
    bytes_per_row: usize,
    min_iters: usize,
    max_iters: usize,
}

impl Budget {
    fn iters(&self, size: usize, depth: usize) -> usize {
        (self.bytes_per_row / (size * depth)).clamp(self.min_iters, self.max_iters)
    }
}

fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let budget = if quick {
        Budget { bytes_per_row: 256 << 20, min_iters: 5, max_iters: 500 }
    } else {
        Budget { bytes_per_row: 2 << 30, min_iters: 20, max_iters: 5_000 }
    };
    let placement = *placements().last().expect("at least one placement");
    println!("# Hatch large-payload benchmark: echo over loopback, TCP_NODELAY\n");
    println!("{} (client on CPU {}, server on CPU {})\n", placement.name, placement.client_cpu, placement.server_cpu);
    pin(placement.client_cpu);
    let config = Config::default().max_frame(256 << 20);
    let uring_server = Server::bind_with(
        "127.0.0.1:0".parse().unwrap(),
        config.clone(),
        Arc::new(Echo),
        1,
        UringOptions::default().cpus(vec![placement.server_cpu]),
    )
    .unwrap();
    let mut uring = Connection::connect(uring_server.local_addr(), config.clone(), UringOptions::default()).unwrap();
    let tokio_server = tokio_server(placement, config.clone());
    let rt = current_thread_runtime();
    let tokio = rt.block_on(hatch_transport::tokio::Client::connect(tokio_server.addr, config)).unwrap();
    let mut reference = StdEcho::start(placement);

    header();
    for size in SIZES {
        let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        for depth in IN_FLIGHT {
            let iters = budget.iters(size, depth);
            let warmup = (iters / 10).max(1);
            let std = measure(warmup, iters, || reference.round(&payload, depth));
            row(size, depth, "std::net echo (reference)", &std, &std);
            let lat = measure(warmup, iters, || uring_round(&mut uring, &payload, depth));
            row(size, depth, "hatch io_uring", &lat, &std);
            let lat = measure(warmup, iters, || rt.block_on(tokio_round(&tokio, &payload, depth)));
            row(size, depth, "hatch tokio", &lat, &std);
        }
    }
    drop(uring);
    uring_server.shutdown();
    drop(tokio);
    drop(rt);
    drop(tokio_server);
}

fn uring_round(conn: &mut Connection, payload: &[u8], depth: usize) {
    let ids: Vec<_> = (0..depth).map(|_| conn.start_call(1, payload, None).unwrap()).collect();
    for id in ids {
        assert_eq!(conn.wait(id).unwrap().len(), payload.len());
    }
}

async fn tokio_round(client: &hatch_transport::tokio::Client, payload: &[u8], depth: usize) {
    let calls = (0..depth).map(|_| client.call(1, payload, None));
    for reply in futures::future::join_all(calls).await {
        assert_eq!(reply.unwrap().len(), payload.len());
    }
}

fn tokio_server(placement: Placement, config: Config) -> ServerThread {
    ServerThread::spawn(placement.server_cpu, |tx, stop| async move {
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let server = hatch_transport::tokio::Server::bind(addr, config, Arc::new(Echo)).await.unwrap();
        tx.send(server.local_addr()).unwrap();
        stop.wait().await;
        server.shutdown().await;
    })
}

/// A blocking length-prefixed echo: the server thread reads a `u32` length and that many bytes
/// into a reused buffer and writes both back; the client writes from a second thread (so 4
/// requests can be on their way while the replies come back without either side blocking the
/// other) and reads on the calling thread. `read_exact` and `write_all` retry on `EINTR`, which a
/// thread that has called through an io_uring client can see (ring task work).
struct StdEcho {
    reader: TcpStream,
    requests: Option<mpsc::Sender<(Arc<Vec<u8>>, usize)>>,
    writer: Option<thread::JoinHandle<()>>,
    server: Option<thread::JoinHandle<()>>,
    reply: Vec<u8>,
    last: Option<(usize, Arc<Vec<u8>>)>,
}

impl StdEcho {
    fn start(placement: Placement) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server_cpu = placement.server_cpu;
        let server = thread::spawn(move || {
            pin(server_cpu);
            let (mut stream, _) = listener.accept().unwrap();
            stream.set_nodelay(true).unwrap();
            let mut buf = Vec::new();
            loop {
                let mut len = [0u8; 4];
                if stream.read_exact(&mut len).is_err() {
                    return;
                }
                buf.resize(u32::from_le_bytes(len) as usize, 0);
                if stream.read_exact(&mut buf).is_err()
                    || stream.write_all(&len).is_err()
                    || stream.write_all(&buf).is_err()
                {
                    return;
                }
            }
        });
        let reader = TcpStream::connect(addr).unwrap();
        reader.set_nodelay(true).unwrap();
        let mut write_half = reader.try_clone().unwrap();
        let (requests, rx) = mpsc::channel::<(Arc<Vec<u8>>, usize)>();
        let client_cpu = placement.client_cpu;
        let writer = thread::spawn(move || {
            pin(client_cpu);
            while let Ok((payload, depth)) = rx.recv() {
                for _ in 0..depth {
                    write_half.write_all(&(payload.len() as u32).to_le_bytes()).unwrap();
                    write_half.write_all(&payload).unwrap();
                }
            }
        });
        Self {
            reader,
            requests: Some(requests),
            writer: Some(writer),
            server: Some(server),
            reply: Vec::new(),
            last: None,
        }
    }

    /// Sends `depth` copies of `payload` and reads the `depth` replies.
    fn round(&mut self, payload: &[u8], depth: usize) {
        // The writer thread needs its own handle on the payload; share one per size, made once.
        let shared = match &self.last {
            Some((len, shared)) if *len == payload.len() => shared.clone(),
            _ => {
                let shared = Arc::new(payload.to_vec());
                self.last = Some((payload.len(), shared.clone()));
                shared
            }
        };
        self.requests.as_ref().unwrap().send((shared, depth)).unwrap();
        for _ in 0..depth {
            let mut len = [0u8; 4];
            self.reader.read_exact(&mut len).unwrap();
            self.reply.resize(u32::from_le_bytes(len) as usize, 0);
            self.reader.read_exact(&mut self.reply).unwrap();
            assert_eq!(self.reply.len(), payload.len());
        }
    }
}

impl Drop for StdEcho {
    fn drop(&mut self) {
        drop(self.requests.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
        let _ = self.reader.shutdown(std::net::Shutdown::Both);
        if let Some(server) = self.server.take() {
            let _ = server.join();
        }
    }
}

fn header() {
    println!(
        "| {:>8} | {:>2} | {:<26} | {:>10} | {:>10} | {:>8} | {:>8} | {:>9} |",
        "payload", "in", "system", "p50 ms", "p99 ms", "p50 ×std", "p99 ×std", "GB/s p50"
    );
    println!("|{:->10}|{:->4}|{:-<28}|{:->12}|{:->12}|{:->10}|{:->10}|{:->11}|", "", "", "", "", "", "", "", "");
}

/// One row; `lat` timed rounds of `depth` calls, so per-call figures divide by `depth`.
fn row(size: usize, depth: usize, name: &str, lat: &Latency, reference: &Latency) {
    let per_call = |us: f64| us / depth as f64 / 1000.0;
    let (p50, p99) = (per_call(lat.p50_us()), per_call(lat.p99_us()));
    let (ref50, ref99) = (per_call(reference.p50_us()), per_call(reference.p99_us()));
    println!(
        "| {:>8} | {:>2} | {:<26} | {:>10.3} | {:>10.3} | {:>8.2} | {:>8.2} | {:>9.2} |",
        human(size),
        depth,
        name,
        p50,
        p99,
        p50 / ref50,
        p99 / ref99,
        size as f64 / (p50 / 1000.0) / 1e9
    );
}

fn human(size: usize) -> String {
    if size >= 1 << 20 { format!("{} MiB", size >> 20) } else { format!("{} KiB", size >> 10) }
}
