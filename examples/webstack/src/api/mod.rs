//! The platform's interfaces: plain traits that hatch-proxygen compiles into proxies, async
//! clients and server dispatchers. One file per interface (proxygen reads these files); the
//! variants live in [`crate::parts`].
//!
//! The tree, from the front end down (a composition picks one variant per interface):
//!
//! ```text
//! Frontend ─ HttpHandler ─┬─ Cache          (handlers that cache)
//!                         ├─ Compressor     (handlers that compress)
//!                         └─ Script ─ Articles ─┬─ Memo   (reads through the memo)
//!                                               └─ Database
//! ```

pub mod articles;
pub mod cache;
pub mod compress;
pub mod database;
pub mod http;
pub mod memo;
pub mod script;
