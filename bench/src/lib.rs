//! Shared helpers for Hatch's benchmarks: thread pinning and latency percentiles.
