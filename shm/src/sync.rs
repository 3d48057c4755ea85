//! The atomics the seqlock is written against: `std`'s in every real build, `loom`'s when the
//! crate is built with `--cfg loom` so the model checker can explore every interleaving.
//!
//! Nothing else belongs here. Code that touches memory shared with another process must take
//! its atomics from this module, never from `std` directly, or the loom model would not cover it.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU64};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicU64};

/// Tells the CPU (or, under loom, the scheduler) that this thread is waiting on another one.
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::hint::spin_loop();
}
