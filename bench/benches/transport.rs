//! Transport round trips and throughput, side by side in one run, for each thread placement:
//! a raw `std::net` ping-pong (the machine's reference), Hatch over io_uring and tokio, and tarpc.
//!
//! Run: `cargo bench -p hatch-bench --bench transport` (add `-- --quick` for a short run).
//! Every payload is 32 bytes; every socket has TCP_NODELAY.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use hatch_bench::{
    Latency, Placement, ServerThread, current_thread_runtime, latency_header, latency_row, measure, pin, placements,
    rate, rate_header, rate_row,
};
use hatch_transport::uring::{Connection, Server, UringOptions};
use hatch_transport::{Config, Echo};

const PAYLOAD: [u8; 32] = [0x5A; 32];

struct Budget {
    iters: usize,
    rate_time: Duration,
}

#[path = "common/tarpc_peer.rs"]
mod tarpc_peer;

fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let budget = if quick {
        Budget { iters: 3_000, rate_time: Duration::from_millis(300) }
    } else {
        Budget { iters: 20_000, rate_time: Duration::from_secs(2) }
    };
    println!("# Hatch transport benchmark: 32-byte payloads over loopback, TCP_NODELAY\n");
    for placement in placements() {
        println!(
            "## {} (client on CPU {}, server on CPU {})\n",
            placement.name, placement.client_cpu, placement.server_cpu
        );
        latency_table(placement, &budget);
        println!();
        throughput_table(placement, &budget);
        println!();
    }
}

fn latency_table(placement: Placement, budget: &Budget) {
    pin(placement.client_cpu);
    let reference = std_ping_pong(placement, budget);
    latency_header();
    latency_row("std::net blocking ping-pong (reference)", &reference, &reference);
    let uring = uring_call(placement, budget, UringOptions::default());
    latency_row("hatch io_uring sync call", &uring, &reference);
    if placement.client_cpu != placement.server_cpu {
        let spin = uring_call(placement, budget, UringOptions::default().spin(Duration::from_micros(50)));
        latency_row("hatch io_uring sync call, spin 50 µs", &spin, &reference);
    }
    let tokio = tokio_call(placement, budget);
    latency_row("hatch tokio call (current-thread runtimes)", &tokio, &reference);
    let tarpc = tarpc_bench::call(placement, budget.iters);
    latency_row("tarpc 0.37 call (bincode, current-thread)", &tarpc, &reference);
}

fn throughput_table(placement: Placement, budget: &Budget) {
    pin(placement.client_cpu);
    let reference = std_pipelined(placement, budget, 64);
    rate_header();
    rate_row("raw TCP echo, 64 messages in flight (ref)", reference, reference);
    let core = rate(budget.rate_time, 64, core_only_batch);
    rate_row("protocol core only (no I/O), 64 in flight", core, reference);
    let server = uring_server(placement);
    let mut conn = Connection::connect(server.local_addr(), Config::default(), UringOptions::default()).unwrap();
    let in_flight = sliding_window(&mut conn, budget.rate_time, 64);
    rate_row("hatch io_uring, 64 calls in flight", in_flight, reference);
    if placement.client_cpu != placement.server_cpu {
        let options = UringOptions::default().spin(Duration::from_micros(50));
        let mut spinning = Connection::connect(server.local_addr(), Config::default(), options).unwrap();
        let in_flight = sliding_window(&mut spinning, budget.rate_time, 64);
        rate_row("hatch io_uring, 64 in flight, spin 50 µs", in_flight, reference);
    }
    for batch in [1usize, 16, 256] {
        let one_way = rate(budget.rate_time, batch, || {
            for _ in 0..batch {
                conn.send_one_way(1, &PAYLOAD).unwrap();
            }
            conn.flush().unwrap();
        });
        rate_row(&format!("hatch io_uring one-way, flush every {batch}"), one_way, reference);
    }
    let streamed = rate(budget.rate_time, 4096, || {
        for _ in 0..4096 {
            conn.send_one_way(1, &PAYLOAD).unwrap();
        }
    });
    conn.flush().unwrap();
    rate_row("hatch io_uring one-way, no flush (bursting)", streamed, reference);
    let (frames, writes) = conn.batching_stats();
    println!(
        "\n(io_uring client wrote {frames} frames in {writes} writes: {:.1} frames per write)",
        frames as f64 / writes as f64
    );
    drop(conn);
    server.shutdown();
    let tarpc = tarpc_bench::in_flight(placement, budget.rate_time, 64);
    println!();
    rate_header();
    rate_row("tarpc, 64 calls in flight", tarpc, reference);
    let tokio = tokio_in_flight(placement, budget.rate_time, 64);
    rate_row("hatch tokio, 64 calls in flight", tokio, reference);
}

/// 64 calls through the client and server state machines joined in memory: the protocol's own
/// cost per call, both ends together, with no system call.
fn core_only_batch() {
    use hatch_transport::proto::{ClientConnection, ServerConnection};
    thread_local! {
        static PAIR: std::cell::RefCell<(ClientConnection<()>, ServerConnection, Vec<u8>)> =
            std::cell::RefCell::new((ClientConnection::new(Config::default()), ServerConnection::new(Config::default()), Vec::new()));
    }
    PAIR.with(|pair| {
        let (client, server, scratch) = &mut *pair.borrow_mut();
        for _ in 0..64 {
            client.start_call(1, &PAYLOAD, None, ()).unwrap();
        }
        let out = client.poll_transmit().unwrap();
        server.recv_buf().extend_from_slice(&out);
        client.recycle(out);
        while let Some(request) = server.poll_request().unwrap() {
            hatch_transport::dispatch(server, &Echo, request, scratch);
        }
        let back = server.poll_transmit().unwrap();
        client.recv_buf().extend_from_slice(&back);
        server.recycle(back);
        client.handle_received().unwrap();
        while client.poll_completion().is_some() {}
    });
}

/// Keeps `depth` calls in flight on `conn`, replacing each completed call at once; calls/s.
fn sliding_window(conn: &mut Connection, duration: Duration, depth: usize) -> f64 {
    for _ in 0..depth {
        conn.start_call(1, &PAYLOAD, None).unwrap();
    }
    let calls = rate(duration, depth, || {
        for _ in 0..depth {
            let (_, reply) = conn.wait_any().unwrap();
            assert_eq!(reply.unwrap().len(), PAYLOAD.len());
            conn.start_call(1, &PAYLOAD, None).unwrap();
        }
    });
    while conn.wait_any().is_some() {}
    calls
}

fn uring_server(placement: Placement) -> Server {
    let options = UringOptions::default().cpus(vec![placement.server_cpu]);
    Server::bind_with("127.0.0.1:0".parse().unwrap(), Config::default(), Arc::new(Echo), 1, options).unwrap()
}

fn uring_call(placement: Placement, budget: &Budget, options: UringOptions) -> Latency {
    let server = uring_server(placement);
    let mut conn = Connection::connect(server.local_addr(), Config::default(), options).unwrap();
    let lat = measure(budget.iters / 10, budget.iters, || {
        let reply = conn.call(1, &PAYLOAD, None).unwrap();
        assert_eq!(reply.len(), PAYLOAD.len());
    });
    drop(conn);
    server.shutdown();
    lat
}

/// A blocking echo server thread for the raw references.
fn std_echo_server(placement: Placement, message: usize) -> (SocketAddr, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server_cpu = placement.server_cpu;
    let handle = thread::spawn(move || {
        pin(server_cpu);
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_nodelay(true).unwrap();
        let mut buf = vec![0u8; message * 64];
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if stream.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            }
        }
    });
    (addr, handle)
}

fn std_ping_pong(placement: Placement, budget: &Budget) -> Latency {
    let (addr, server) = std_echo_server(placement, PAYLOAD.len());
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut reply = [0u8; 32];
    let lat = measure(budget.iters / 10, budget.iters, || {
        stream.write_all(&PAYLOAD).unwrap();
        stream.read_exact(&mut reply).unwrap();
    });
    drop(stream);
    server.join().unwrap();
    lat
}

fn std_pipelined(placement: Placement, budget: &Budget, depth: usize) -> f64 {
    let (addr, server) = std_echo_server(placement, PAYLOAD.len());
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    let burst: Vec<u8> = PAYLOAD.iter().copied().cycle().take(PAYLOAD.len() * depth).collect();
    let mut reply = vec![0u8; burst.len()];
    let calls = rate(budget.rate_time, depth, || {
        stream.write_all(&burst).unwrap();
        stream.read_exact(&mut reply).unwrap();
    });
    drop(stream);
    server.join().unwrap();
    calls
}

/// A tokio echo server on its own pinned thread.
fn tokio_server(placement: Placement) -> ServerThread {
    ServerThread::spawn(placement.server_cpu, |tx, stop| async move {
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let server = hatch_transport::tokio::Server::bind(addr, Config::default(), Arc::new(Echo)).await.unwrap();
        tx.send(server.local_addr()).unwrap();
        stop.wait().await;
        server.shutdown().await;
    })
}

fn tokio_call(placement: Placement, budget: &Budget) -> Latency {
    use hatch_transport::AsyncChannel;
    let server = tokio_server(placement);
    let rt = current_thread_runtime();
    let client = rt.block_on(hatch_transport::tokio::Client::connect(server.addr, Config::default())).unwrap();
    let lat = measure(budget.iters / 10, budget.iters, || {
        let reply = rt.block_on(client.call(1, &PAYLOAD, None)).unwrap();
        assert_eq!(reply.len(), PAYLOAD.len());
    });
    drop(client);
    drop(rt);
    drop(server);
    lat
}

fn tokio_in_flight(placement: Placement, duration: Duration, depth: usize) -> f64 {
    use hatch_transport::AsyncChannel;
    let server = tokio_server(placement);
    let rt = current_thread_runtime();
    let client = rt.block_on(hatch_transport::tokio::Client::connect(server.addr, Config::default())).unwrap();
    let mut window = futures::stream::FuturesUnordered::new();
    for _ in 0..depth {
        window.push(client.call(1, &PAYLOAD, None));
    }
    let calls = rate(duration, depth, || {
        rt.block_on(async {
            for _ in 0..depth {
                futures::StreamExt::next(&mut window).await.unwrap().unwrap();
                window.push(client.call(1, &PAYLOAD, None));
            }
        })
    });
    rt.block_on(async { while futures::StreamExt::next(&mut window).await.is_some() {} });
    drop(client);
    drop(rt);
    drop(server);
    calls
}

mod tarpc_bench {
    use super::*;
    use futures::StreamExt;
    use tarpc::tokio_serde::formats::Bincode;
    use tarpc::{client, context};

    #[tarpc::service]
    pub trait EchoService {
        async fn echo(data: Vec<u8>) -> Vec<u8>;
    }

    #[derive(Clone)]
    struct EchoServer;

    impl EchoService for EchoServer {
        async fn echo(self, _: context::Context, data: Vec<u8>) -> Vec<u8> {
            data
        }
    }

    fn serve(placement: Placement) -> ServerThread {
        tarpc_peer::tarpc_server!(placement.server_cpu, EchoServer)
    }

    fn connect(rt: &tokio::runtime::Runtime, addr: SocketAddr) -> EchoServiceClient {
        rt.block_on(async {
            let transport = tarpc::serde_transport::tcp::connect(addr, Bincode::default).await.unwrap();
            transport.get_ref().set_nodelay(true).unwrap();
            EchoServiceClient::new(client::Config::default(), transport).spawn()
        })
    }

    pub fn call(placement: Placement, iters: usize) -> Latency {
        let server = serve(placement);
        let rt = current_thread_runtime();
        let client = connect(&rt, server.addr);
        let lat = measure(iters / 10, iters, || {
            let reply = rt.block_on(client.echo(context::current(), PAYLOAD.to_vec())).unwrap();
            assert_eq!(reply.len(), PAYLOAD.len());
        });
        drop(client);
        drop(rt);
        drop(server);
        lat
    }

    pub fn in_flight(placement: Placement, duration: Duration, depth: usize) -> f64 {
        let server = serve(placement);
        let rt = current_thread_runtime();
        let client = connect(&rt, server.addr);
        let calls = rt.block_on(async {
            let mut window = futures::stream::FuturesUnordered::new();
            for _ in 0..depth {
                window.push(client.echo(context::current(), PAYLOAD.to_vec()));
            }
            // `rate` is synchronous; drive the window inside one future for the whole run.
            let start = std::time::Instant::now();
            let mut done = 0usize;
            while start.elapsed() < duration {
                window.next().await.unwrap().unwrap();
                done += 1;
                window.push(client.echo(context::current(), PAYLOAD.to_vec()));
            }
            while window.next().await.is_some() {}
            done as f64 / start.elapsed().as_secs_f64()
        });
        drop(client);
        drop(rt);
        drop(server);
        calls
    }
}
