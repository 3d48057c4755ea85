//! Opt-in SIGBUS guard: turns a record file that someone truncates under a reader's mapping
//! into a refusal instead of a killed signer.
//!
//! Loading from a mapped page that lies wholly past the end of its file raises SIGBUS. The
//! daemon never truncates (it replaces files by rename), but the file's owner or root can. With
//! the guard installed, a SIGBUS whose fault address lies inside a read-only record mapping of
//! this crate is answered by mapping a zero page over the faulting page (`MAP_FIXED`), marking
//! the mapping as shrunk and returning; the load then reads zeros, which the seqlock reads as
//! "never written", and the reader refuses with [`crate::Reason::FileShrunk`]. Every other
//! SIGBUS goes to the handler that was installed before (or the default action, which kills).
//!
//! A library should not take over a process-wide signal on its own, so nothing happens until
//! the signer calls [`install_sigbus_guard`] (C: `ppsd_shm_install_sigbus_guard`). The handler
//! only loads atomics and calls `mmap`/`sigaction`, both system calls safe in a signal handler;
//! it must never allocate, lock, or touch memory outside the registered mappings.

use crate::layout::RECORD_SIZE;
use std::io;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::OnceLock;

/// How many record mappings the guard can watch at once (one per open reader).
pub const GUARD_SLOTS: usize = 1024;

/// Start addresses of the registered read-only mappings (0: free slot).
static STARTS: [AtomicUsize; GUARD_SLOTS] = [const { AtomicUsize::new(0) }; GUARD_SLOTS];
/// Set by the handler when it replaced a page of the mapping in the same slot.
static SHRUNK: [AtomicBool; GUARD_SLOTS] = [const { AtomicBool::new(false) }; GUARD_SLOTS];
/// The system page size, stored before the handler is installed.
static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);
/// The SIGBUS action that was in place before ours.
static PREVIOUS: OnceLock<libc::sigaction> = OnceLock::new();

/// A mapping's place in the guard's registry; released on drop.
#[derive(Debug)]
pub(crate) struct GuardSlot(usize);

impl GuardSlot {
    /// Registers the read-only mapping starting at `start`; `None` if all slots are taken
    /// (the mapping then works as usual but is not guarded).
    pub(crate) fn register(start: usize) -> Option<GuardSlot> {
        let slot = (0..GUARD_SLOTS).find(|&i| {
            STARTS[i]
                .compare_exchange(0, start, AcqRel, Relaxed)
                .is_ok()
        })?;
        // Nothing has touched the new mapping yet, so the handler cannot have marked it.
        SHRUNK[slot].store(false, Release);
        Some(GuardSlot(slot))
    }

    /// True once the handler has replaced a page of this mapping: the file shrank under it.
    pub(crate) fn shrunk(&self) -> bool {
        SHRUNK[self.0].load(Acquire)
    }
}

impl Drop for GuardSlot {
    fn drop(&mut self) {
        STARTS[self.0].store(0, Release);
    }
}

/// Installs the SIGBUS guard for this process (idempotent).
///
/// # Errors
/// The `sigaction` errno if the handler could not be installed.
pub fn install_sigbus_guard() -> io::Result<()> {
    static RESULT: OnceLock<Result<(), i32>> = OnceLock::new();
    let result = RESULT.get_or_init(|| {
        // SAFETY: sysconf has no memory-safety preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        PAGE_SIZE.store(usize::try_from(page).unwrap_or(4096).max(1), Release);
        // SAFETY: an all-zero sigaction is a valid value (empty mask, no flags) that is then
        // filled in field by field.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = on_sigbus as extern "C" fn(_, _, _) as usize;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        // SAFETY: as above.
        let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers are valid sigaction values for the duration of the call, and
        // the handler is an `extern "C"` function with the SA_SIGINFO signature.
        let rc = unsafe { libc::sigaction(libc::SIGBUS, &action, &mut previous) };
        if rc != 0 {
            return Err(io::Error::last_os_error().raw_os_error().unwrap_or(0));
        }
        let _ = PREVIOUS.set(previous);
        Ok(())
    });
    result.map_err(io::Error::from_raw_os_error)
}

extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo_t for an SA_SIGINFO handler.
    let addr = unsafe { (*info).si_addr() } as usize;
    let page = PAGE_SIZE.load(Acquire);
    for (slot, start) in STARTS.iter().enumerate() {
        let start = start.load(Acquire);
        if start == 0 || addr < start || addr >= start + RECORD_SIZE {
            continue;
        }
        let page_start = addr & !(page - 1);
        // SAFETY: the page belongs to a record mapping of this crate that is still registered
        // (so not yet unmapped); replacing it with a private zero page changes no Rust object's
        // validity, since the record is only read through atomics and zero is a valid value.
        let replaced = unsafe {
            libc::mmap(
                page_start as *mut libc::c_void,
                page,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if replaced != libc::MAP_FAILED {
            SHRUNK[slot].store(true, Release);
            return;
        }
    }
    chain(sig, info, context);
}

/// Hands a SIGBUS that is not ours to the previous action.
fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    let Some(previous) = PREVIOUS.get() else {
        return restore_default(sig);
    };
    let handler = previous.sa_sigaction;
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        // Returning re-executes the faulting load, which now meets the default action.
        return restore_default(sig);
    }
    if previous.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous action was installed with SA_SIGINFO, so its handler has this
        // signature; we pass it the arguments the kernel gave us.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(handler) };
        f(sig, info, context);
    } else {
        // SAFETY: without SA_SIGINFO the previous handler takes the signal number only.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(handler) };
        f(sig);
    }
}

fn restore_default(sig: libc::c_int) {
    // SAFETY: resetting a signal to its default action has no memory-safety preconditions.
    unsafe { libc::signal(sig, libc::SIG_DFL) };
}
