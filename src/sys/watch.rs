//! A clock-change watcher: a timerfd on CLOCK_REALTIME armed with `TFD_TIMER_ABSTIME |
//! TFD_TIMER_CANCEL_ON_SET` far in the future, whose read fails with `ECANCELED` when the
//! clock is set discontinuously.
//!
//! What counts as "set": `clock_settime`, `settimeofday`, an `ADJ_SETOFFSET` step (ppsd's own
//! steps included: the caller must expect those), a leap second being applied, and the clock
//! being corrected after resume from suspend. Slewing (frequency or offset through adjtimex)
//! does not count: ppsd finds foreign slews by reading adjtimex. This module only watches; it
//! must never set the clock. It is non-blocking: [`ClockWatch::check`] never waits, and the fd
//! (see [`AsFd`]) goes into the daemon's event loop.

use crate::io::DeviceError;
use nix::errno::Errno;
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use std::os::unix::io::{AsFd, AsRawFd, BorrowedFd, RawFd};

const TARGET: &str = "CLOCK_REALTIME";

/// Seconds past now at which the watch timer is armed: far enough never to expire.
const ARM_AHEAD_S: i64 = 100 * 365 * 86_400;

/// What [`ClockWatch::check`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockWatchEvent {
    /// Nothing happened since the last check.
    Quiet,
    /// CLOCK_REALTIME was set (stepped) since the last check; the watch is re-armed.
    ClockChanged,
}

/// The timerfd that reports CLOCK_REALTIME being set.
#[derive(Debug)]
pub struct ClockWatch {
    timer: TimerFd,
}

impl ClockWatch {
    /// `timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC)`, armed with
    /// `timerfd_settime(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET)` about a century ahead.
    /// See <https://man7.org/linux/man-pages/man2/timerfd_create.2.html>.
    ///
    /// # Errors
    /// The `errno` of `timerfd_create` or `timerfd_settime`.
    pub fn new() -> Result<ClockWatch, DeviceError> {
        let flags = TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC;
        let timer = TimerFd::new(ClockId::CLOCK_REALTIME, flags)
            .map_err(|e| DeviceError::os(TARGET, "timerfd_create", e as i32))?;
        let watch = ClockWatch { timer };
        watch.arm()?;
        Ok(watch)
    }

    fn arm(&self) -> Result<(), DeviceError> {
        let now = super::clock::ClockId::Realtime.now();
        // A 32-bit time_t caps this at 2038, still years ahead of any clock that works.
        let at_s = now.sec().saturating_add(ARM_AHEAD_S);
        let at = TimeSpec::new(libc::time_t::try_from(at_s).unwrap_or(libc::time_t::MAX), 0);
        let flags =
            TimerSetTimeFlags::TFD_TIMER_ABSTIME | TimerSetTimeFlags::TFD_TIMER_CANCEL_ON_SET;
        self.timer
            .set(Expiration::OneShot(at), flags)
            .map_err(|e| DeviceError::os(TARGET, "timerfd_settime", e as i32))
    }

    /// Reads the timerfd without blocking: `ECANCELED` (or, absurdly, an expiry) means the
    /// clock was set; `EAGAIN` means nothing happened. Re-arms after a change.
    ///
    /// # Errors
    /// Any other `read` or re-arm `errno`.
    pub fn check(&self) -> Result<ClockWatchEvent, DeviceError> {
        let mut buf = [0u8; 8];
        loop {
            return match nix::unistd::read(self.timer.as_fd().as_raw_fd(), &mut buf) {
                Err(Errno::EAGAIN) => Ok(ClockWatchEvent::Quiet),
                Err(Errno::EINTR) => continue,
                // The expiry a century ahead can only be reached by setting the clock.
                Err(Errno::ECANCELED) | Ok(_) => {
                    self.arm()?;
                    Ok(ClockWatchEvent::ClockChanged)
                }
                Err(e) => Err(DeviceError::os(TARGET, "read timerfd", e as i32)),
            };
        }
    }
}

impl AsFd for ClockWatch {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.timer.as_fd()
    }
}

impl AsRawFd for ClockWatch {
    fn as_raw_fd(&self) -> RawFd {
        self.timer.as_fd().as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_watch_reports_nothing_and_stays_armed() {
        let watch = ClockWatch::new().unwrap();
        assert_eq!(watch.check().unwrap(), ClockWatchEvent::Quiet);
        assert_eq!(watch.check().unwrap(), ClockWatchEvent::Quiet);
        match watch.timer.get().unwrap() {
            Some(Expiration::OneShot(left)) => assert!(left.tv_sec() > 50 * 365 * 86_400),
            other => panic!("timer not armed one-shot: {other:?}"),
        }
        assert!(watch.as_raw_fd() >= 0);
    }
}
