//! The C ABI (`include/ppsd_shm.h`): open, check, timestamp, close, and error strings, over an
//! opaque handle that owns a [`Reader`].
//!
//! Every entry point catches panics, so none can unwind into C; a caught panic becomes
//! `PPSD_SHM_E_PANIC` and a refusal. Null pointers are errors, not crashes. A handle must not
//! be used by two threads at once (open one per thread). This module must never hand C a
//! pointer it does not own or a string that is not NUL-terminated and static.

use crate::error::OpenErrorKind;
use crate::reader::Reader;
use crate::verdict::{Reason, Verdict};
use std::ffi::{c_char, c_int, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

/// Success.
pub const PPSD_SHM_OK: c_int = 0;
/// A null pointer, or a path that is not valid UTF-8.
pub const PPSD_SHM_E_INVALID_ARGUMENT: c_int = -1;
/// No file at the path.
pub const PPSD_SHM_E_NOT_FOUND: c_int = -2;
/// A system call failed (permission denied, ...).
pub const PPSD_SHM_E_IO: c_int = -3;
/// The path is not a regular file.
pub const PPSD_SHM_E_NOT_REGULAR_FILE: c_int = -4;
/// The file is writable by group or others.
pub const PPSD_SHM_E_WRITABLE_BY_OTHERS: c_int = -5;
/// The file is empty or too short.
pub const PPSD_SHM_E_TOO_SMALL: c_int = -6;
/// Not a ppsd state file (wrong magic).
pub const PPSD_SHM_E_BAD_MAGIC: c_int = -7;
/// A layout version this library does not read.
pub const PPSD_SHM_E_UNSUPPORTED_VERSION: c_int = -8;
/// The header's record size does not match its version.
pub const PPSD_SHM_E_SIZE_MISMATCH: c_int = -9;
/// The library panicked (a bug); the call did nothing.
pub const PPSD_SHM_E_PANIC: c_int = -10;

/// Opaque handle (`ppsd_shm` in C).
#[derive(Debug)]
pub struct PpsdShm {
    reader: Reader,
}

/// `ppsd_shm_verdict` in C.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PpsdShmVerdict {
    /// 1 if the caller may sign now, else 0.
    pub may_sign: i32,
    /// `PPSD_SHM_SYNC_*` code.
    pub state: u32,
    /// `PPSD_SHM_LEAP_*` code.
    pub leap: u32,
    /// `PPSD_SHM_REASON_*` code; 0 when `may_sign` is 1.
    pub reason: u32,
    /// Error bound in ns (`UINT64_MAX` when the record could not be read).
    pub error_bound_ns: u64,
}

/// `ppsd_shm_stamp` in C.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PpsdShmStamp {
    /// CLOCK_REALTIME seconds.
    pub realtime_sec: i64,
    /// CLOCK_REALTIME nanoseconds.
    pub realtime_nsec: u32,
    /// Always 0.
    pub reserved: u32,
    /// The verdict that applies to this time.
    pub verdict: PpsdShmVerdict,
}

impl From<Verdict> for PpsdShmVerdict {
    fn from(v: Verdict) -> PpsdShmVerdict {
        PpsdShmVerdict {
            may_sign: i32::from(v.may_sign),
            state: v.state as u32,
            leap: v.leap as u32,
            reason: v.reason.map_or(0, |r| r as u32),
            error_bound_ns: v.error_bound_ns,
        }
    }
}

fn open_error_code(kind: &OpenErrorKind) -> c_int {
    match kind {
        OpenErrorKind::NotFound => PPSD_SHM_E_NOT_FOUND,
        OpenErrorKind::Io { .. } => PPSD_SHM_E_IO,
        OpenErrorKind::NotRegularFile => PPSD_SHM_E_NOT_REGULAR_FILE,
        OpenErrorKind::WritableByOthers { .. } => PPSD_SHM_E_WRITABLE_BY_OTHERS,
        OpenErrorKind::TooSmall { .. } => PPSD_SHM_E_TOO_SMALL,
        OpenErrorKind::BadMagic { .. } => PPSD_SHM_E_BAD_MAGIC,
        OpenErrorKind::UnsupportedVersion { .. } => PPSD_SHM_E_UNSUPPORTED_VERSION,
        OpenErrorKind::SizeMismatch { .. } => PPSD_SHM_E_SIZE_MISMATCH,
    }
}

/// Copies `message` into the caller's buffer, truncated and NUL-terminated.
///
/// # Safety
/// `buf` is null or valid for writes of `len` bytes.
unsafe fn fill_message(buf: *mut c_char, len: usize, message: &str) {
    if buf.is_null() || len == 0 {
        return;
    }
    let n = message.len().min(len - 1);
    // SAFETY: the caller guarantees `buf` is writable for `len` bytes and `n + 1 <= len`;
    // `message` is a separate Rust allocation, so the ranges do not overlap.
    unsafe {
        ptr::copy_nonoverlapping(message.as_ptr().cast::<c_char>(), buf, n);
        *buf.add(n) = 0;
    }
}

/// Opens the record at `path`. Returns a handle, or null with `*err` (if `err` is not null)
/// set to a `PPSD_SHM_E_*` code and a one-line message naming the path in `errbuf`.
///
/// # Safety
/// `path` is null or a NUL-terminated string; `err` is null or valid for one `int` write;
/// `errbuf` is null or valid for `errbuf_len` bytes of writes.
#[no_mangle]
pub unsafe extern "C" fn ppsd_shm_open(
    path: *const c_char,
    err: *mut c_int,
    errbuf: *mut c_char,
    errbuf_len: usize,
) -> *mut PpsdShm {
    let result = catch_unwind(|| {
        if path.is_null() {
            return Err((PPSD_SHM_E_INVALID_ARGUMENT, "path is null".to_owned()));
        }
        // SAFETY: non-null and NUL-terminated by the caller's contract.
        let c_path = unsafe { CStr::from_ptr(path) };
        let Ok(text) = c_path.to_str() else {
            return Err((PPSD_SHM_E_INVALID_ARGUMENT, "path is not UTF-8".to_owned()));
        };
        Reader::open(text)
            .map(|reader| Box::into_raw(Box::new(PpsdShm { reader })))
            .map_err(|e| (open_error_code(&e.kind), e.to_string()))
    });
    let (code, handle, message) = match result {
        Ok(Ok(handle)) => (PPSD_SHM_OK, handle, String::new()),
        Ok(Err((code, message))) => (code, ptr::null_mut(), message),
        Err(_) => (
            PPSD_SHM_E_PANIC,
            ptr::null_mut(),
            "ppsd-shm panicked".to_owned(),
        ),
    };
    if !err.is_null() {
        // SAFETY: non-null and writable by the caller's contract.
        unsafe { *err = code };
    }
    // SAFETY: `errbuf`/`errbuf_len` as the caller's contract states.
    unsafe { fill_message(errbuf, errbuf_len, &message) };
    handle
}

/// May the caller sign now? Fills `*out` and returns `PPSD_SHM_OK`, or returns a negative
/// `PPSD_SHM_E_*` code (then `*out`, if not null, holds a refusal).
///
/// # Safety
/// `handle` is null or a live handle from `ppsd_shm_open` not used by another thread during
/// the call; `out` is null or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn ppsd_shm_check(handle: *mut PpsdShm, out: *mut PpsdShmVerdict) -> c_int {
    if handle.is_null() || out.is_null() {
        return PPSD_SHM_E_INVALID_ARGUMENT;
    }
    // SAFETY: a live handle, exclusively ours for this call (caller's contract).
    let shm = unsafe { &mut *handle };
    let (code, verdict) = match catch_unwind(AssertUnwindSafe(|| shm.reader.check())) {
        Ok(v) => (PPSD_SHM_OK, v),
        Err(_) => (PPSD_SHM_E_PANIC, Verdict::refused(Reason::Inconsistent)),
    };
    // SAFETY: non-null and writable (caller's contract).
    unsafe { out.write(verdict.into()) };
    code
}

/// CLOCK_REALTIME now and the verdict that applies to it. Returns as `ppsd_shm_check`.
///
/// # Safety
/// As [`ppsd_shm_check`].
#[no_mangle]
pub unsafe extern "C" fn ppsd_shm_timestamp(handle: *mut PpsdShm, out: *mut PpsdShmStamp) -> c_int {
    if handle.is_null() || out.is_null() {
        return PPSD_SHM_E_INVALID_ARGUMENT;
    }
    // SAFETY: a live handle, exclusively ours for this call (caller's contract).
    let shm = unsafe { &mut *handle };
    let (code, stamp) = match catch_unwind(AssertUnwindSafe(|| shm.reader.timestamp())) {
        Ok(s) => (
            PPSD_SHM_OK,
            PpsdShmStamp {
                realtime_sec: s.realtime_sec,
                realtime_nsec: s.realtime_nsec,
                reserved: 0,
                verdict: s.verdict.into(),
            },
        ),
        Err(_) => (
            PPSD_SHM_E_PANIC,
            PpsdShmStamp {
                verdict: Verdict::refused(Reason::Inconsistent).into(),
                ..PpsdShmStamp::default()
            },
        ),
    };
    // SAFETY: non-null and writable (caller's contract).
    unsafe { out.write(stamp) };
    code
}

/// Closes a handle (unmaps the record). Null is ignored.
///
/// # Safety
/// `handle` is null or a live handle from `ppsd_shm_open`, not used again afterwards.
#[no_mangle]
pub unsafe extern "C" fn ppsd_shm_close(handle: *mut PpsdShm) {
    if handle.is_null() {
        return;
    }
    // SAFETY: the handle came from Box::into_raw in ppsd_shm_open and is closed only once.
    let boxed = unsafe { Box::from_raw(handle) };
    // Dropping unmaps; a panic here must not unwind into C.
    let _ = catch_unwind(AssertUnwindSafe(move || drop(boxed)));
}

/// A static, NUL-terminated description of a `PPSD_SHM_E_*` code (or of 0).
#[no_mangle]
pub extern "C" fn ppsd_shm_strerror(code: c_int) -> *const c_char {
    let text: &'static CStr = match code {
        PPSD_SHM_OK => c"success",
        PPSD_SHM_E_INVALID_ARGUMENT => c"invalid argument",
        PPSD_SHM_E_NOT_FOUND => c"no such file (is ppsd running?)",
        PPSD_SHM_E_IO => c"system call failed",
        PPSD_SHM_E_NOT_REGULAR_FILE => c"not a regular file",
        PPSD_SHM_E_WRITABLE_BY_OTHERS => c"file writable by group or others",
        PPSD_SHM_E_TOO_SMALL => c"file empty or too short",
        PPSD_SHM_E_BAD_MAGIC => c"not a ppsd state file",
        PPSD_SHM_E_UNSUPPORTED_VERSION => c"unsupported layout version",
        PPSD_SHM_E_SIZE_MISMATCH => c"record size does not match layout version",
        PPSD_SHM_E_PANIC => c"internal error in ppsd-shm",
        _ => c"unknown error code",
    };
    text.as_ptr()
}

/// A static, NUL-terminated description of a `PPSD_SHM_REASON_*` code (0: may sign).
#[no_mangle]
pub extern "C" fn ppsd_shm_reason_str(reason: u32) -> *const c_char {
    let text: &'static CStr = match Reason::ALL.iter().find(|r| **r as u32 == reason) {
        None if reason == 0 => c"may sign",
        None => c"unknown reason code",
        Some(Reason::Expired) => c"trust state expired (daemon not renewing it)",
        Some(Reason::OutOfSync) => c"clock out of sync",
        Some(Reason::Unknown) => c"sync state unknown",
        Some(Reason::InLeapWindow) => c"inside leap second window",
        Some(Reason::WriterGone) => c"writer has gone",
        Some(Reason::LayoutMismatch) => c"record layout not understood",
        Some(Reason::Busy) => c"record busy (no consistent read)",
        Some(Reason::Checksum) => c"record checksum mismatch",
        Some(Reason::ClockNamespace) => c"reader's monotonic clock differs from the writer's",
        Some(Reason::LeapUnknown) => c"leap second state unknown",
        Some(Reason::Inconsistent) => c"record contradicts itself",
        Some(Reason::ClockUnreadable) => c"CLOCK_REALTIME could not be read",
        Some(Reason::FileShrunk) => c"record file truncated under the mapping",
    };
    text.as_ptr()
}

/// Installs the process-wide SIGBUS guard (see `ppsd_shm.h`). Returns `PPSD_SHM_OK`, or
/// `PPSD_SHM_E_IO` if `sigaction` failed.
#[cfg(not(miri))]
#[no_mangle]
pub extern "C" fn ppsd_shm_install_sigbus_guard() -> c_int {
    match catch_unwind(crate::sigbus::install_sigbus_guard) {
        Ok(Ok(())) => PPSD_SHM_OK,
        Ok(Err(_)) => PPSD_SHM_E_IO,
        Err(_) => PPSD_SHM_E_PANIC,
    }
}

/// The layout version this library reads.
#[no_mangle]
pub extern "C" fn ppsd_shm_layout_version() -> u32 {
    crate::layout::LAYOUT_VERSION
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c_str(p: *const c_char) -> String {
        // SAFETY: the functions under test return static NUL-terminated strings.
        unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned()
    }

    #[test]
    fn null_arguments_are_errors_not_crashes() {
        let mut err = 0;
        // SAFETY: null path is allowed by the contract; `err` is a valid int.
        let h = unsafe { ppsd_shm_open(ptr::null(), &mut err, ptr::null_mut(), 0) };
        assert!(h.is_null());
        assert_eq!(err, PPSD_SHM_E_INVALID_ARGUMENT);
        let mut v = PpsdShmVerdict::default();
        // SAFETY: null handle is allowed by the contract.
        assert_eq!(unsafe { ppsd_shm_check(ptr::null_mut(), &mut v) }, -1);
        // SAFETY: null handle and null output are allowed by the contract.
        let rc = unsafe { ppsd_shm_timestamp(ptr::null_mut(), ptr::null_mut()) };
        assert_eq!(rc, -1);
        // SAFETY: closing null is a no-op by contract.
        unsafe { ppsd_shm_close(ptr::null_mut()) };
    }

    #[test]
    fn missing_file_reports_code_and_path() {
        let mut err = 0;
        let mut buf = [0 as c_char; 64];
        let path = c"/nonexistent/ppsd/state";
        // SAFETY: valid C string, int and buffer of the stated length.
        let h = unsafe { ppsd_shm_open(path.as_ptr(), &mut err, buf.as_mut_ptr(), buf.len()) };
        assert!(h.is_null());
        assert_eq!(err, PPSD_SHM_E_NOT_FOUND);
        let message = c_str(buf.as_ptr());
        assert!(
            message.starts_with("/nonexistent/ppsd/state: no such file"),
            "{message}"
        );
        let mut tiny = [0x55 as c_char; 4];
        // SAFETY: as above, with a 4-byte buffer.
        unsafe { ppsd_shm_open(path.as_ptr(), &mut err, tiny.as_mut_ptr(), 4) };
        assert_eq!(c_str(tiny.as_ptr()), "/no", "truncated and NUL-terminated");
    }

    #[test]
    fn every_code_has_a_message() {
        for code in PPSD_SHM_E_PANIC..=PPSD_SHM_OK {
            assert_ne!(c_str(ppsd_shm_strerror(code)), "unknown error code");
        }
        assert_eq!(c_str(ppsd_shm_strerror(-99)), "unknown error code");
        for reason in Reason::ALL {
            assert_eq!(c_str(ppsd_shm_reason_str(reason as u32)), reason.describe());
        }
        assert_eq!(c_str(ppsd_shm_reason_str(0)), "may sign");
        assert_eq!(c_str(ppsd_shm_reason_str(99)), "unknown reason code");
    }

    #[test]
    fn c_structs_have_the_header_sizes() {
        assert_eq!(std::mem::size_of::<PpsdShmVerdict>(), 24);
        assert_eq!(std::mem::size_of::<PpsdShmStamp>(), 40);
    }
}
