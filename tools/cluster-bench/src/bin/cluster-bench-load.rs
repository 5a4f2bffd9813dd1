//! `cluster-bench-load PLAN...`: the load generator of a load-client host. Runs the plan that
//! `hatch_cluster_bench::load_wire::plan_args` wrote with `hatch_load::run` and prints its whole
//! report in `load_wire`'s line format on standard output (`end` last).

use std::io::Write;
use std::process::ExitCode;

use hatch_cluster_bench::load_wire;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let report = load_wire::parse_plan(&args).and_then(|plan| hatch_load::run(&plan, false));
    match report {
        Ok(report) => {
            let mut out = std::io::stdout().lock();
            if out.write_all(load_wire::encode(&report).as_bytes()).and_then(|()| out.flush()).is_err() {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("cluster-bench-load: {error}");
            ExitCode::FAILURE
        }
    }
}
