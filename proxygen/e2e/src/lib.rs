//! Interfaces whose proxies `build.rs` generates with hatch-proxygen, with local implementations,
//! for the end-to-end tests in `tests/` and for benchmarks: [`primes`] is the paper's best case
//! for implicit proxies (§6.1), [`kv`] exercises every supported argument and return form,
//! [`socket`] interface arguments (`&dyn Socket`) answered by reverse proxies.

pub mod kv;
pub mod primes;
pub mod primes_v2;
pub mod socket;
