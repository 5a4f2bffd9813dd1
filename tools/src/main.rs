//! `cargo xtask <command>`: the project's automation, in Rust, with no dependencies.
//!
//! - `demo`: Hatch's main job on this machine with nothing to set up: the web platform on a
//!   4-host emulated rack (pinned processes without root), all local at first, distributed live
//!   by the learner while the workload moves from a static-heavy mix to heavy dynamic pages and
//!   back (`tools/cluster-bench`, scenario `demo`).
//! - `demo primes`: the `Primes` component run locally, relocated to an agent process,
//!   replicated on two, and recovered after agents are killed, under steady load
//!   (`components/demo`).
//! - `pingpong [ARGS]`: the RPC layer alone, an io_uring echo on loopback (`examples/pingpong.rs`).
//! - `bench [--quick]`: the transport benchmark table (`bench/benches/transport.rs`).
//! - `cluster-bench [ARGS]`: the paper's experiments on the web platform on an emulated rack
//!   (`tools/cluster-bench`; `--local N --scenario primes|http-handler|ground-truth|learn|all --smoke
//!   --out DIR`), or on real servers over ssh (`--hosts hosts.toml`).
//! - `test`: the CI test command (`ci/test`).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tools/ has a parent").to_path_buf()
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(project_root());
    cmd
}

fn run(mut cmd: Command) -> ExitCode {
    match cmd.status() {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("xtask: {cmd:?} failed: {status}");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("xtask: could not run {cmd:?}: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Builds `hatch-web` and the engine's binaries (`cluster-bench`, `cluster-bench-primes`) and
/// runs the engine with `args`.
fn cluster_bench(args: Vec<String>) -> ExitCode {
    let mut build = cargo();
    build.args([
        "build",
        "--release",
        "-p",
        "hatch-webstack",
        "--bin",
        "hatch-web",
        "-p",
        "hatch-cluster-bench",
        "--bins",
    ]);
    if run(build) != ExitCode::SUCCESS {
        return ExitCode::FAILURE;
    }
    let web = project_root().join("target/release/hatch-web");
    let mut cmd = cargo();
    cmd.args(["run", "--release", "-p", "hatch-cluster-bench", "--", "--web"]).arg(web).args(args);
    run(cmd)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    match command.as_str() {
        "demo" if rest.first().map(String::as_str) == Some("primes") => {
            let mut cmd = cargo();
            cmd.args(["run", "--release", "-p", "hatch-demo", "--"]).args(&rest[1..]);
            run(cmd)
        }
        "demo" => {
            // The web platform on a 4-host rack, the learner distributing it as the workload
            // changes; HATCH_DEMO_SECS sets the phase length (default 50 s: about 3 minutes).
            let secs = std::env::var("HATCH_DEMO_SECS").unwrap_or_else(|_| "50".into());
            let mut args = vec!["--scenario", "demo", "--local", "4", "--window", "2", "--phase-secs", &secs];
            args.extend(["--out", "target/demo"]);
            cluster_bench(args.into_iter().map(String::from).chain(rest.iter().cloned()).collect())
        }
        "pingpong" => {
            let mut cmd = cargo();
            cmd.args(["run", "--release", "--example", "pingpong", "--"]).args(&rest);
            run(cmd)
        }
        "bench" => {
            let mut cmd = cargo();
            cmd.args(["bench", "-p", "hatch-bench", "--bench", "transport", "--"]).args(&rest);
            run(cmd)
        }
        "cluster-bench" => cluster_bench(rest),
        "test" => {
            let mut cmd = Command::new("bash");
            cmd.current_dir(project_root()).arg("ci/test").args(&rest);
            run(cmd)
        }
        _ => {
            eprintln!(
                "usage: cargo xtask <demo [primes] | pingpong [ARGS] | bench [--quick] | cluster-bench [ARGS] | test>"
            );
            ExitCode::from(2)
        }
    }
}
