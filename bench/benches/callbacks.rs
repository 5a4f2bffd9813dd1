//! What a call with interface arguments costs: the generated proxy of `Handler` (e2e crate) over
//! io_uring, with 0, 1 and 2 callbacks into the caller's `&dyn Socket`, next to a plain call to
//! the same server and the local call. Each callback is one more round trip plus two hand-offs
//! between the server thread and the conversation's worker thread.
//!
//! Run: `cargo bench -p hatch-bench --bench callbacks` (add `-- --quick` for a short run).

use std::sync::Arc;

use hatch::codegen::Config;
use hatch_bench::{Placement, latency_header, latency_row, measure, pin, placements};
use hatch_proxygen_e2e::socket::{Handler, HandlerProxy, HandlerServer, MemorySocket, UpperHandler, handler_wire};
use hatch_transport::uring::{Client, Server, UringOptions};

fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let iters = if quick { 2_000 } else { 10_000 };
    println!("# Interface arguments: calls that call back into the caller\n");
    for placement in placements() {
        println!(
            "## {} (client on CPU {}, server on CPU {})\n",
            placement.name, placement.client_cpu, placement.server_cpu
        );
        pin(placement.client_cpu);
        let local: Arc<dyn Handler> = Arc::new(UpperHandler::default());
        let empty = MemorySocket::new("peer", b"");
        let local_lat = measure(iters / 10, iters * 10, || assert_eq!(local.handle(&empty, 1), 0));

        let server = uring_server(placement);
        let config = handler_wire::client_config(Config::default());
        let client = Arc::new(Client::connect(server.local_addr(), config).unwrap());
        let proxy = HandlerProxy::new(client);
        let plain = measure(iters / 10, iters, || {
            std::hint::black_box(proxy.calls());
        });
        let one = measure(iters / 10, iters, || assert_eq!(proxy.handle(&empty, 1), 0));
        let sink = MemorySocket::new("peer", b"");
        let two = measure(iters / 10, iters, || proxy.greet(&sink, "hi"));
        drop(proxy);
        server.shutdown();

        latency_header();
        latency_row("plain call, no interface argument (ref)", &plain, &plain);
        latency_row("local Arc<dyn Handler>, 1 callback", &local_lat, &plain);
        latency_row("proxy, 1 callback (2 round trips)", &one, &plain);
        latency_row("proxy, 2 callbacks (3 round trips)", &two, &plain);
        println!(
            "\nper callback at p50: {:.1} µs (1 callback) and {:.1} µs (2 callbacks)\n",
            one.p50_us() - plain.p50_us(),
            (two.p50_us() - plain.p50_us()) / 2.0
        );
    }
}

fn uring_server(placement: Placement) -> Server {
    let service = Arc::new(HandlerServer::new(Arc::new(UpperHandler::default())));
    let options = UringOptions::default().cpus(vec![placement.server_cpu]);
    let config = handler_wire::server_config(Config::default());
    Server::bind_with("127.0.0.1:0".parse().unwrap(), config, service, 1, options).unwrap()
}
