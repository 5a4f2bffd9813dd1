//! The self-distributing web platform of the Hatch paper (§5, §6): a small, real web stack that
//! serves a generated Wikipedia-like site, built only from Hatch components wired through slots,
//! so that any of its distribution points (the request handler and its sub-tree, the scripts,
//! the memo store, the database) can be swapped, relocated or replicated while it serves.
//!
//! * [`api`]: the interfaces (plain traits compiled by hatch-proxygen).
//! * [`parts`]: their variants, and [`parts::catalog`], the same in the server and its agents.
//! * [`http`]: the HTTP/1.1 layer of the front end, without I/O: parsing and limits, responses.
//! * [`server`]: the front end's sockets and threads.
//! * [`dataset`]: the generated data set.
//! * [`site`]: the whole platform started in one call ([`site::Platform`]).
//! * [`distribution`]: the size of the space of compositions and placements.
//! * [`learn`]: the live learner; [`ground_truth`]: every composition of a set measured and ranked.

pub mod api;
pub mod dataset;
pub mod distribution;
pub mod ground_truth;
pub mod http;
pub mod learn;
pub mod parts;
pub mod server;
pub mod site;
