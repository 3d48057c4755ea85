//! The only code in this crate that talks to the kernel through raw pointers: clock reads and
//! the memory mapping of the record. Every `unsafe` block here carries its `// SAFETY:` proof.
//!
//! Under Miri, which cannot map files, [`Region::heap`] stands in for a mapping so the unit
//! tests still exercise the reader and writer logic. This module must never install signal
//! handlers, change a clock, or write to a read-only mapping.

use crate::layout::Record;
#[cfg(not(miri))]
use crate::layout::RECORD_SIZE;
use std::fs::File;
use std::io;
use std::ptr::NonNull;
use std::sync::Arc;

/// A record in memory: mapped from a file, or (tests, Miri) on the heap.
#[derive(Debug)]
pub(crate) struct Region {
    /// Points at a live `Record` for as long as `self` lives (mapping or `heap`).
    ptr: NonNull<Record>,
    /// True when `ptr` came from `mmap` and must be unmapped on drop.
    #[cfg_attr(miri, allow(dead_code))]
    mapped: bool,
    /// Keeps a heap record alive; `None` for mappings.
    _heap: Option<Arc<Record>>,
    /// The SIGBUS guard's registration of a read-only mapping.
    #[cfg(not(miri))]
    guard: Option<crate::sigbus::GuardSlot>,
}

// SAFETY: a `Region` only hands out `&Record`, and `Record` is made of atomics only (it is
// `Sync`); the mapping belongs to the process, not to a thread, so it may be used and unmapped
// from any thread.
unsafe impl Send for Region {}
// SAFETY: as above: shared access goes through atomics only.
unsafe impl Sync for Region {}

impl Region {
    /// A region backed by a shared heap record (several regions may share one record).
    #[cfg(test)]
    pub(crate) fn heap(record: Arc<Record>) -> Region {
        let ptr = NonNull::from(&*record);
        Region {
            ptr,
            mapped: false,
            _heap: Some(record),
            #[cfg(not(miri))]
            guard: None,
        }
    }

    /// `mmap` the first [`RECORD_SIZE`] bytes of `file`, `MAP_SHARED`, read-only or
    /// read-write. See mmap(2).
    ///
    /// The caller must have checked that the file holds at least `RECORD_SIZE` bytes:
    /// touching a mapped page that lies wholly past the end of the file raises SIGBUS.
    ///
    /// # Errors
    /// The `mmap` errno, or `Unsupported` under Miri.
    pub(crate) fn map(file: &File, writable: bool) -> io::Result<Region> {
        #[cfg(miri)]
        {
            let _ = (file, writable);
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "mmap under Miri",
            ))
        }
        #[cfg(not(miri))]
        {
            use std::os::fd::AsRawFd;
            let prot = if writable {
                libc::PROT_READ | libc::PROT_WRITE
            } else {
                libc::PROT_READ
            };
            // SAFETY: a fresh mapping (null hint, no MAP_FIXED) cannot alias any Rust object;
            // the fd is open for the duration of the call; length and offset are valid.
            let addr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    RECORD_SIZE,
                    prot,
                    libc::MAP_SHARED,
                    file.as_raw_fd(),
                    0,
                )
            };
            if addr == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            let ptr = NonNull::new(addr.cast::<Record>()).ok_or_else(io::Error::last_os_error)?;
            let guard = (!writable)
                .then(|| crate::sigbus::GuardSlot::register(ptr.as_ptr() as usize))
                .flatten();
            Ok(Region {
                ptr,
                mapped: true,
                _heap: None,
                guard,
            })
        }
    }

    /// True if the SIGBUS guard found the file shrunk under this mapping (see `sigbus.rs`).
    pub(crate) fn shrunk(&self) -> bool {
        #[cfg(not(miri))]
        {
            self.guard.as_ref().is_some_and(|g| g.shrunk())
        }
        #[cfg(miri)]
        {
            false
        }
    }

    /// The record. Other processes may change it at any moment; it is only read through
    /// atomics.
    #[inline]
    pub(crate) fn record(&self) -> &Record {
        // SAFETY: `ptr` is page-aligned (mmap) or a live heap `Record`, so it is aligned and
        // points at RECORD_SIZE readable bytes that stay mapped until `self` drops. `Record`
        // consists only of atomics, for which every bit pattern is valid and concurrent
        // modification by another thread or process is allowed. A read-only mapping is only
        // ever loaded with `Relaxed` loads of at most 8 bytes, which Rust defines on read-only
        // memory on the supported targets.
        unsafe { self.ptr.as_ref() }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // Leave the SIGBUS guard's registry before the address range can be reused.
        #[cfg(not(miri))]
        drop(self.guard.take());
        #[cfg(not(miri))]
        if self.mapped {
            // SAFETY: `ptr` came from our own successful mmap of RECORD_SIZE bytes and no
            // reference derived from it outlives `self`.
            let rc = unsafe { libc::munmap(self.ptr.as_ptr().cast(), RECORD_SIZE) };
            debug_assert_eq!(rc, 0, "munmap failed");
        }
    }
}

/// `clock_gettime(2)` for `clock`, or `None` if the call failed (a seccomp filter, say).
#[inline]
fn clock_gettime(clock: libc::clockid_t) -> Option<libc::timespec> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    (rc == 0).then_some(ts)
}

/// CLOCK_MONOTONIC in ns. A failed read returns `i64::MAX`, which makes every state expired:
/// a reader that cannot read its clock must not sign.
///
/// The kernel keeps CLOCK_MONOTONIC (time-namespace offset included) as a signed 64-bit count
/// of nanoseconds, so the conversion cannot overflow; it is written wrapping to stay cheap.
#[inline]
pub fn monotonic_ns() -> i64 {
    match clock_gettime(libc::CLOCK_MONOTONIC) {
        Some(ts) => ts
            .tv_sec
            .wrapping_mul(1_000_000_000)
            .wrapping_add(ts.tv_nsec),
        None => i64::MAX,
    }
}

/// CLOCK_REALTIME as (seconds, nanoseconds), or `None` if the clock could not be read.
#[inline]
pub fn realtime() -> Option<(i64, u32)> {
    clock_gettime(libc::CLOCK_REALTIME).map(|ts| (ts.tv_sec, ts.tv_nsec as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_clock_reads_and_does_not_go_back() {
        let a = monotonic_ns();
        let b = monotonic_ns();
        assert!(a > 0 && a < i64::MAX && b >= a);
    }

    #[test]
    fn realtime_is_after_2020() {
        let (sec, nsec) = realtime().expect("CLOCK_REALTIME readable");
        assert!(sec > 1_577_836_800 && nsec < 1_000_000_000);
    }
}
