//! The probe's clock: cheap monotonic ticks, converted to nanoseconds only
//! when a window is read.
//!
//! On x86_64 with an invariant TSC, a tick is one `rdtsc`; elsewhere it is
//! nanoseconds since first use from `Instant`. On the 2-vCPU development VM a
//! pair of tick reads around a call cost 26 ns against 70 ns for a pair of
//! `Instant::now` (`probe/clock_ticks_pair` and `probe/instant_now_pair` in
//! `cargo bench -p hatch-bench --bench learner`).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

struct Calibration {
    /// Nanoseconds per tick.
    ns_per_tick: f64,
    use_tsc: bool,
    epoch: Instant,
}

fn calibration() -> &'static Calibration {
    static CAL: OnceLock<Calibration> = OnceLock::new();
    CAL.get_or_init(|| {
        let epoch = Instant::now();
        if tsc::available() {
            let (t0, i0) = (tsc::read(), Instant::now());
            std::thread::sleep(Duration::from_millis(20));
            let (t1, i1) = (tsc::read(), Instant::now());
            let ticks = t1.wrapping_sub(t0) as f64;
            if ticks > 0.0 {
                return Calibration { ns_per_tick: (i1 - i0).as_nanos() as f64 / ticks, use_tsc: true, epoch };
            }
        }
        Calibration { ns_per_tick: 1.0, use_tsc: false, epoch }
    })
}

/// Current tick count.
#[inline]
pub fn now_ticks() -> u64 {
    let cal = calibration();
    if cal.use_tsc { tsc::read() } else { cal.epoch.elapsed().as_nanos() as u64 }
}

/// Nanoseconds per tick of [`now_ticks`].
pub fn ns_per_tick() -> f64 {
    calibration().ns_per_tick
}

/// Whether ticks come from the TSC.
pub fn uses_tsc() -> bool {
    calibration().use_tsc
}

#[cfg(target_arch = "x86_64")]
mod tsc {
    use std::arch::x86_64::{__cpuid, _rdtsc};

    /// Invariant TSC: CPUID leaf 0x8000_0007, EDX bit 8.
    pub(super) fn available() -> bool {
        let max_ext = __cpuid(0x8000_0000).eax;
        max_ext >= 0x8000_0007 && __cpuid(0x8000_0007).edx & (1 << 8) != 0
    }

    #[inline]
    pub(super) fn read() -> u64 {
        // SAFETY: `rdtsc` is part of the x86_64 baseline, reads a counter and
        // has no memory effects.
        unsafe { _rdtsc() }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod tsc {
    pub(super) fn available() -> bool {
        false
    }
    pub(super) fn read() -> u64 {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_measure_a_sleep_to_within_a_few_milliseconds() {
        let t0 = now_ticks();
        let i0 = Instant::now();
        std::thread::sleep(Duration::from_millis(30));
        let ns = now_ticks().wrapping_sub(t0) as f64 * ns_per_tick();
        let real = i0.elapsed().as_nanos() as f64;
        assert!((ns - real).abs() < 3e6, "ticks say {ns} ns, Instant {real} ns");
    }
}
