//! The workload generator of the Hatch web platform (`hatch-web`, in `examples/webstack`): HTTP/1.1
//! load in closed or open loop, with the request mixes of the paper's experiments, checking every
//! response against the data set the server generated from the same seed.
//!
//! * [`client`]: a minimal, strict HTTP/1.1 client with keep-alive (also a plain client for
//!   tests elsewhere in the workspace).
//! * [`preset`]: the request mixes ([`Preset`]) and phase lists ([`Phase`]).
//! * [`site`]: what the server serves and how a response is checked.
//! * [`schedule`]: open-loop send times (evenly spaced, as wrk2).
//! * [`plan`]: what a run does ([`Plan`]).
//! * [`run()`]: running a plan, one thread per connection.
//! * [`report`]: rows per second, per phase and overall; the summary line and CSV.
//!
//! Latency is measured from each request's intended send time in open loop, so a stalled server
//! shows in the percentiles instead of slowing the load down (coordinated omission).
//!
//! # Examples
//!
//! ```no_run
//! use hatch_load::{Phase, Plan, Preset, run};
//!
//! let mut plan = Plan::new("127.0.0.1:8080".parse()?, Phase::parse_list("dynamic-5:30,dynamic-20:30")?);
//! plan.connections = 8;
//! let report = run(&plan, false)?;
//! println!("{}", report.summary_line());
//! report.write_csv("fig8.csv")?;
//! # let _ = Preset::Wikipedia;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod client;
pub mod errors;
pub mod plan;
pub mod preset;
mod progress;
pub mod report;
pub mod rng;
mod run;
pub mod schedule;
pub mod site;

pub use errors::{ErrorCounts, ErrorKind};
pub use plan::{Plan, PlanError, resolve_url};
pub use preset::{Phase, Preset};
pub use report::{Report, SecondRow};
pub use run::run;
