//! The tarpc peer of the benchmarks: one server, as both benches run it.

/// Starts a tarpc server of `$service` (a value whose `.serve()` tarpc generated) on its own
/// thread pinned to `$cpu`: bincode over TCP with `TCP_NODELAY`, every request answered on its own
/// task. Evaluates to a [`hatch_bench::ServerThread`]. A macro, because tarpc's generated `serve`
/// types carry bounds a generic function would have to restate.
macro_rules! tarpc_server {
    ($cpu:expr, $service:expr) => {
        hatch_bench::ServerThread::spawn($cpu, |tx, stop| async move {
            use futures::StreamExt as _;
            use tarpc::server::Channel as _;
            let mut listener =
                tarpc::serde_transport::tcp::listen("127.0.0.1:0", tarpc::tokio_serde::formats::Bincode::default)
                    .await
                    .unwrap();
            tx.send(listener.local_addr()).unwrap();
            let accept = async {
                while let Some(Ok(transport)) = listener.next().await {
                    let _ = transport.get_ref().set_nodelay(true);
                    let channel = tarpc::server::BaseChannel::with_defaults(transport);
                    tokio::spawn(channel.execute($service.serve()).for_each(|response| async move {
                        tokio::spawn(response);
                    }));
                }
            };
            tokio::select! { _ = accept => {}, _ = stop.wait() => {} }
        })
    };
}

pub(crate) use tarpc_server;
