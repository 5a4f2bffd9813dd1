//! What the slot synchronises with: std's atomics and parking_lot's locks normally,
//! loom's under `cfg(hatch_loom)` (as the bytes crate does in `src/loom.rs`), behind one
//! small API so that `slot.rs` has a single code path for both.
//!
//! The cell follows loom's access-tracking API: under loom every [`ConstPtr`] and
//! [`MutPtr`] alive at the same time is checked against the others, so a call that
//! reads the implementation while a swapper writes it fails the model.

pub(crate) use imp::*;

#[cfg(not(hatch_loom))]
mod imp {
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};

    /// parking_lot's mutex: `lock` cannot fail (no poisoning).
    pub(crate) type Mutex<T> = parking_lot::Mutex<T>;
    pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;

    /// parking_lot's condition variable, with loom's by-value `wait`.
    pub(crate) struct Condvar(parking_lot::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Self {
            Condvar(parking_lot::Condvar::new())
        }

        /// Unlocks, waits for a notification (or a spurious wake-up), locks again.
        pub(crate) fn wait<'a, T>(&self, mut guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
            self.0.wait(&mut guard);
            guard
        }

        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }

    pub(crate) struct UnsafeCell<T: ?Sized>(std::cell::UnsafeCell<T>);
    pub(crate) struct ConstPtr<T: ?Sized>(*const T);
    pub(crate) struct MutPtr<T: ?Sized>(*mut T);

    impl<T> UnsafeCell<T> {
        pub(crate) fn new(value: T) -> Self {
            UnsafeCell(std::cell::UnsafeCell::new(value))
        }
    }

    impl<T: ?Sized> UnsafeCell<T> {
        /// A pointer for shared access.
        #[inline]
        pub(crate) fn get(&self) -> ConstPtr<T> {
            ConstPtr(self.0.get())
        }

        /// A pointer for exclusive access.
        pub(crate) fn get_mut(&self) -> MutPtr<T> {
            MutPtr(self.0.get())
        }
    }

    impl<T: ?Sized> ConstPtr<T> {
        /// Unlike loom's, the reference is not bounded by `self` (a `ConstPtr` is
        /// a plain pointer here, made afresh for each use).
        ///
        /// # Safety
        ///
        /// The cell is alive, and no `&mut T` to its value exists, while the
        /// returned reference lives.
        #[inline]
        pub(crate) unsafe fn deref<'a>(&self) -> &'a T {
            // SAFETY: both conditions are the caller's.
            unsafe { &*self.0 }
        }
    }

    impl<T: ?Sized> MutPtr<T> {
        /// Runs `f` on the raw pointer (for shared access through it).
        pub(crate) fn with<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0)
        }

        /// # Safety
        ///
        /// The cell is alive, and no other reference to its value exists while the
        /// returned one lives.
        #[allow(clippy::mut_from_ref)]
        pub(crate) unsafe fn deref(&self) -> &mut T {
            // SAFETY: both conditions are the caller's.
            unsafe { &mut *self.0 }
        }
    }
}

#[cfg(hatch_loom)]
mod imp {
    pub(crate) use loom::cell::{ConstPtr, MutPtr, UnsafeCell};
    pub(crate) use loom::sync::MutexGuard;
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};

    /// loom's mutex with parking_lot's infallible `lock` (a poisoned lock means the
    /// model already panicked).
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap()
        }
    }

    pub(crate) struct Condvar(loom::sync::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Self {
            Condvar(loom::sync::Condvar::new())
        }

        pub(crate) fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
            self.0.wait(guard).unwrap()
        }

        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }
}
