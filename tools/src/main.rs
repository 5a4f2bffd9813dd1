//! `cargo xtask <command>`: the project's automation, in Rust, with no dependencies.
//!
//! - `demo`: Hatch's main job on this machine with nothing to set up: the `Primes` component run
//!   locally, relocated to an agent process, replicated on two, and recovered after agents are
//!   killed, under steady load (`components/demo`).
//! - `pingpong [ARGS]`: the RPC layer alone, an io_uring echo on loopback (`examples/pingpong.rs`).
//! - `bench [--quick]`: the transport benchmark table (`bench/benches/transport.rs`).
//! - `cluster-bench [ARGS]`: the paper's experiments on the web platform on an emulated rack
//!   (`tools/cluster-bench`; `--local N --scenario ground-truth|learn|all --smoke --out DIR`).
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

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    match command.as_str() {
        "demo" => {
            let mut cmd = cargo();
            cmd.args(["run", "--release", "-p", "hatch-demo", "--"]).args(&rest);
            run(cmd)
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
        "cluster-bench" => {
            let mut build = cargo();
            build.args(["build", "--release", "-p", "hatch-webstack", "--bin", "hatch-web"]);
            if run(build) != ExitCode::SUCCESS {
                return ExitCode::FAILURE;
            }
            let web = project_root().join("target/release/hatch-web");
            let mut cmd = cargo();
            cmd.args(["run", "--release", "-p", "hatch-cluster-bench", "--", "--web"]).arg(web).args(&rest);
            run(cmd)
        }
        "test" => {
            let mut cmd = Command::new("bash");
            cmd.current_dir(project_root()).arg("ci/test").args(&rest);
            run(cmd)
        }
        _ => {
            eprintln!("usage: cargo xtask <demo | pingpong [ARGS] | bench [--quick] | cluster-bench [ARGS] | test>");
            ExitCode::from(2)
        }
    }
}
