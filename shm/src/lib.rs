//! ppsd-shm: the shared-memory record in which ppsd publishes the clock's trust state, the
//! lock-free reader that time-stamp signers call before every signature, and the writer the
//! daemon uses.
//!
//! ```no_run
//! let mut reader = ppsd_shm::Reader::open(ppsd_shm::DEFAULT_PATH)?;
//! let stamp = reader.timestamp();
//! if stamp.verdict.may_sign {
//!     // sign with stamp.realtime_sec / stamp.realtime_nsec,
//!     // accuracy stamp.verdict.error_bound_ns
//! } else {
//!     eprintln!("not signing: {}", stamp.verdict.reason.unwrap());
//! }
//! # Ok::<(), ppsd_shm::OpenError>(())
//! ```
//!
//! The layout is specified in `LAYOUT.md` for readers in other languages; `include/ppsd_shm.h`
//! is the C API, `python/ppsd_shm.py` the Python one. This crate must never depend on the
//! daemon crate, never block a reader or the writer, and never report "may sign" for a record
//! it could not fully verify.

#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64",
    target_arch = "powerpc64",
    target_arch = "s390x",
    target_arch = "loongarch64"
)))]
compile_error!(
    "ppsd-shm needs a 64-bit target on which relaxed 8-byte atomic loads work on read-only memory"
);

pub mod seqlock;
mod sync;

#[cfg(not(loom))]
mod error;
#[cfg(not(loom))]
pub mod ffi;
#[cfg(not(loom))]
pub mod layout;
#[cfg(not(loom))]
mod reader;
#[cfg(not(any(loom, miri)))]
mod sigbus;
#[cfg(not(loom))]
mod state;
#[cfg(not(loom))]
mod sys;
#[cfg(not(loom))]
mod timens;
#[cfg(not(loom))]
mod verdict;
#[cfg(not(loom))]
mod writer;

#[cfg(not(loom))]
pub use error::{CreateError, OpenError, OpenErrorKind};
#[cfg(not(loom))]
pub use layout::{LAYOUT_VERSION, RECORD_SIZE};
#[cfg(not(loom))]
pub use reader::{Reader, Snapshot, Stamp, PATH_CHECK_INTERVAL_NS};
#[cfg(not(any(loom, miri)))]
pub use sigbus::{install_sigbus_guard, GUARD_SLOTS};
#[cfg(not(loom))]
pub use state::{Ident, IdentError, LeapState, LeapWindow, State, SyncState, IDENT_LEN};
#[cfg(not(loom))]
pub use sys::{monotonic_ns, realtime};
#[cfg(not(loom))]
pub use verdict::{Reason, Verdict, MAX_VALIDITY_NS};
#[cfg(not(loom))]
pub use writer::{Writer, RECORD_FILE_MODE};

/// Where ppsd publishes its state unless configured otherwise.
pub const DEFAULT_PATH: &str = "/run/ppsd/state";
