//! The engine of `cargo xtask cluster-bench`: the Hatch paper's experiments (Figs 8-12) on the
//! web platform, run on a set of hosts and written up as CSV, PNG plots and a markdown summary.
//!
//! * [`rack`]: the emulated rack, one network namespace and CPU cgroup per host (as root), or
//!   pinned processes on loopback.
//! * [`calibrate`]: the script's work sized to the rack's quotas.
//! * [`deploy`]: the platform on a rack: agent daemons, the front end, the cluster key.
//! * [`scenario`]: the experiments.
//! * [`output`]: CSV, PNG, markdown.

pub mod calibrate;
pub mod cluster;
pub mod deploy;
pub mod load_wire;
pub mod output;
pub mod rack;
pub mod scenario;
pub mod ssh;
