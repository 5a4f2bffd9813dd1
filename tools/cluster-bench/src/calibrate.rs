//! Sizing the script's work to the rack: a dynamic page should cost the CPU time that makes the
//! heavy phase (20 pages/s) overload one host's quota and the light phase (5 pages/s) leave it
//! mostly idle, whatever this machine's speed, so the ground truth can flip with the load as in
//! the paper. Measured as the front end's CPU time per page (the quota does not change it).

use std::time::Duration;

use hatch_load::client::Client;

use crate::cluster::Cluster;
use crate::deploy::{self, Front, Process, Setup};

/// Script work units that make a dynamic page cost `target` of CPU on host 0.
///
/// # Errors
///
/// A front end that does not start, or pages that fail.
pub fn cost_for(cluster: &dyn Cluster, setup: &Setup, agents: &[Process], target: Duration) -> std::io::Result<u32> {
    const PROBE_COST: u32 = 200;
    const PAGES: u32 = 40;
    let probe = Setup { cost: PROBE_COST, ..setup.clone() };
    let front = deploy::start_front(cluster, &probe, agents, &Front::default())?;
    let mut client = Client::connect(front.addr).map_err(std::io::Error::from)?;
    let shape = crate::scenario::ground_truth::shape(&setup.shape);
    let page =
        |i: u32| format!("/wiki/{}?cost={PROBE_COST}", hatch_webstack::dataset::article_title(i % shape.articles));
    for i in 0..5 {
        client.get(&page(i), &[]).map_err(std::io::Error::from)?;
    }
    let before = front.cpu_seconds().unwrap_or(0.0);
    for i in 0..PAGES {
        let response = client.get(&page(i), &[]).map_err(std::io::Error::from)?;
        if response.status != 200 {
            return Err(std::io::Error::other(format!("calibration page: status {}", response.status)));
        }
    }
    let per_page = (front.cpu_seconds().unwrap_or(0.0) - before) / f64::from(PAGES);
    front.stop(Duration::from_secs(10));
    if per_page <= 0.0 {
        return Err(std::io::Error::other("calibration measured no CPU time"));
    }
    let cost = f64::from(PROBE_COST) * target.as_secs_f64() / per_page;
    Ok(cost.clamp(1.0, f64::from(hatch_webstack::parts::script::MAX_COST)) as u32)
}
