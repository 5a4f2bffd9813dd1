//! The store-load barrier between "count me in" and "is the slot held?", split in
//! two halves: a light one that every call runs and a heavy one that every swap runs.
//!
//! Where Linux's `membarrier(2)` is available, the light half is a compiler fence
//! and the heavy half is `MEMBARRIER_CMD_PRIVATE_EXPEDITED`, which makes every CPU
//! currently running a thread of this process execute a full memory barrier before
//! it returns (the asymmetric fence of liburcu's `urcu-memb` flavour and folly's
//! `asymmetricHeavyBarrier`). Elsewhere, under miri and loom, or when
//! `HATCH_SLOT_BARRIER=fence` is set, both halves are `fence(SeqCst)`. See
//! [`docs::slot`](crate::docs::slot) for why either pair orders the two sides.

#[cfg(not(all(target_os = "linux", not(miri), not(hatch_loom))))]
mod imp {
    use super::super::sync::{Ordering, fence};

    pub(crate) fn init() {}

    #[inline(always)]
    pub(crate) fn light() {
        fence(Ordering::SeqCst);
    }

    pub(crate) fn heavy() {
        fence(Ordering::SeqCst);
    }

    pub(crate) fn name() -> &'static str {
        "fence"
    }
}

#[cfg(all(target_os = "linux", not(miri), not(hatch_loom)))]
mod imp {
    use std::sync::Once;
    use std::sync::atomic::{AtomicU8, compiler_fence};

    use super::super::sync::{Ordering, fence};

    // The kernel's ABI (include/uapi/linux/membarrier.h).
    const MEMBARRIER_CMD_QUERY: libc::c_long = 0;
    const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
    const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

    const FENCE: u8 = 1;
    const MEMBARRIER: u8 = 2;

    /// Chosen once, by the first `Slot::new`, before any slot exists; never changes.
    static MODE: AtomicU8 = AtomicU8::new(FENCE);
    static INIT: Once = Once::new();

    fn membarrier(cmd: libc::c_long) -> libc::c_long {
        // SAFETY: membarrier takes three integers and reads or writes no memory of
        // this process; an unsupported command returns -1 with EINVAL.
        unsafe { libc::syscall(libc::SYS_membarrier, cmd, 0 as libc::c_long, 0 as libc::c_long) }
    }

    /// Chooses the mode. Must run before any slot is created: a caller reads the
    /// mode without synchronising, which is sound only because every slot it can
    /// reach was created after `INIT` completed (and handed to the caller through
    /// some synchronisation, which carries that completion along).
    pub(crate) fn init() {
        INIT.call_once(|| {
            if std::env::var_os("HATCH_SLOT_BARRIER").is_some_and(|v| v == "fence") {
                return;
            }
            let wanted = MEMBARRIER_CMD_PRIVATE_EXPEDITED | MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED;
            let supported = membarrier(MEMBARRIER_CMD_QUERY);
            if supported < 0 || supported & wanted != wanted {
                return;
            }
            // Registration is per process and needed once before the first
            // expedited barrier; a trial barrier proves the call works here (a
            // seccomp filter could refuse it).
            if membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) != 0
                || membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0
            {
                return;
            }
            MODE.store(MEMBARRIER, Ordering::Relaxed);
        });
    }

    #[inline(always)]
    fn asymmetric() -> bool {
        MODE.load(Ordering::Relaxed) == MEMBARRIER
    }

    /// The caller's half, run between its store and its load.
    #[inline(always)]
    pub(crate) fn light() {
        if asymmetric() {
            // Keeps the compiler from moving the load above the store; the CPU is
            // ordered by the swapper's `membarrier`.
            compiler_fence(Ordering::SeqCst);
        } else {
            fence(Ordering::SeqCst);
        }
    }

    /// The swapper's half, run between its store and its loads.
    pub(crate) fn heavy() {
        fence(Ordering::SeqCst);
        if asymmetric() {
            if membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 {
                // Registered and tried in `init`; the kernel documents no failure
                // after that. Continuing would let a call run uncounted.
                eprintln!("hatch-components: membarrier failed after registration; aborting");
                std::process::abort();
            }
            fence(Ordering::SeqCst);
        }
    }

    pub(crate) fn name() -> &'static str {
        if asymmetric() { "membarrier" } else { "fence" }
    }
}

pub(crate) use imp::{heavy, init, light, name};
