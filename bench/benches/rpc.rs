//! Criterion view of the transport: 32-byte round trips (std ping-pong reference, io_uring,
//! tokio) and 64 calls in flight, in one group each so criterion reports them side by side.
//! Percentiles and the peer comparison (tarpc) are in the `transport` bench binary, which records
//! every call; this one gives criterion's confidence intervals and regression tracking.
//!
//! Run: `cargo bench -p hatch-bench --bench rpc`. Client threads are pinned to CPU 0 and servers
//! to CPU 0 as well (same-vCPU placement; see the `transport` bench for split placement).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hatch_bench::pin;
use hatch_transport::uring::{Connection, Server, UringOptions};
use hatch_transport::{AsyncChannel, Config, Echo};

const PAYLOAD: [u8; 32] = [0x5A; 32];
const CPU: usize = 0;

fn std_echo() -> (SocketAddr, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = thread::spawn(move || {
        pin(CPU);
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_nodelay(true).unwrap();
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = stream.read(&mut buf) {
            if stream.write_all(&buf[..n]).is_err() {
                return;
            }
        }
    });
    (addr, handle)
}

fn round_trip(c: &mut Criterion) {
    pin(CPU);
    let mut group = c.benchmark_group("round_trip_32B");
    group.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_millis(500));

    let (addr, server) = std_echo();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut reply = [0u8; 32];
    group.bench_function("std_ping_pong", |b| {
        b.iter(|| {
            stream.write_all(&PAYLOAD).unwrap();
            stream.read_exact(&mut reply).unwrap();
        })
    });
    drop(stream);
    server.join().unwrap();

    let options = UringOptions::default().cpus(vec![CPU]);
    let server =
        Server::bind_with("127.0.0.1:0".parse().unwrap(), Config::default(), Arc::new(Echo), 1, options).unwrap();
    let mut conn = Connection::connect(server.local_addr(), Config::default(), UringOptions::default()).unwrap();
    group.bench_function("hatch_uring_call", |b| b.iter(|| conn.call(1, &PAYLOAD, None).unwrap()));

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = rt.block_on(hatch_transport::tokio::Client::connect(server.local_addr(), Config::default())).unwrap();
    group.bench_function("hatch_tokio_client_uring_server", |b| {
        b.iter(|| rt.block_on(client.call(1, &PAYLOAD, None)).unwrap())
    });
    group.finish();

    let mut group = c.benchmark_group("in_flight");
    group.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_millis(500));
    for depth in [1usize, 16, 64] {
        group.throughput(Throughput::Elements(depth as u64));
        group.bench_with_input(BenchmarkId::new("hatch_uring", depth), &depth, |b, &depth| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    for _ in 0..depth {
                        conn.start_call(1, &PAYLOAD, None).unwrap();
                    }
                    while conn.wait_any().is_some() {}
                }
                start.elapsed()
            })
        });
    }
    group.finish();
    drop(client);
    drop(conn);
    server.shutdown();
}

criterion_group!(benches, round_trip);
criterion_main!(benches);
