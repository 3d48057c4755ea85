//! `clock_gettime(2)` on the system clocks and on PTP hardware clocks (PHC).
//!
//! [`ClockId`] holds only the clocks every kernel ppsd supports (Linux 3.10+) provides, so
//! reading one cannot fail for a bad id; [`PhcClock`] owns an open `/dev/ptpN` and reads its
//! dynamic clock id (`FD_TO_CLOCKID`), which can fail (device unplugged) and says so.
//!
//! This module only reads clocks: it must never set one (`clock_settime`, `settimeofday`).
//! Every read goes through libc so an LD_PRELOAD clock simulator sees it.

use super::bindings::ptp_clock_caps;
use super::{ioctl, last_error, open_char_device};
use crate::io::{DeviceError, DeviceErrorCause};
use crate::time::Timestamp;
use std::os::unix::io::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

/// A system clock `clock_gettime` always accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClockId {
    /// `CLOCK_REALTIME`: UTC as the kernel keeps it; the clock ppsd disciplines.
    Realtime,
    /// `CLOCK_MONOTONIC`: never steps; slewed by adjtimex frequency changes.
    Monotonic,
    /// `CLOCK_MONOTONIC_RAW`: the raw oscillator, untouched by adjtimex.
    MonotonicRaw,
    /// `CLOCK_TAI`: `CLOCK_REALTIME` plus the kernel's TAI offset (adjtimex `tai`).
    Tai,
}

impl ClockId {
    /// The libc clock id.
    pub fn raw(self) -> libc::clockid_t {
        match self {
            ClockId::Realtime => libc::CLOCK_REALTIME,
            ClockId::Monotonic => libc::CLOCK_MONOTONIC,
            ClockId::MonotonicRaw => libc::CLOCK_MONOTONIC_RAW,
            ClockId::Tai => libc::CLOCK_TAI,
        }
    }

    /// The clock's name as in `<time.h>`.
    pub fn name(self) -> &'static str {
        match self {
            ClockId::Realtime => "CLOCK_REALTIME",
            ClockId::Monotonic => "CLOCK_MONOTONIC",
            ClockId::MonotonicRaw => "CLOCK_MONOTONIC_RAW",
            ClockId::Tai => "CLOCK_TAI",
        }
    }

    /// `clock_gettime(2)`: the clock's current time. See
    /// <https://man7.org/linux/man-pages/man2/clock_gettime.2.html>.
    ///
    /// Cannot fail: the id is valid on every supported kernel and the buffer is ours. Should a
    /// broken clock simulator report an error anyway, the process aborts with a message naming
    /// the clock rather than carry on with a made-up time (fail closed).
    pub fn now(self) -> Timestamp {
        match gettime(self.raw()) {
            Ok(t) => t,
            Err(errno) => {
                eprintln!(
                    "ppsd: {}: clock_gettime: {}; aborting",
                    self.name(),
                    std::io::Error::from_raw_os_error(errno)
                );
                std::process::abort()
            }
        }
    }
}

/// `clock_gettime` on any clock id; the error is the `errno`.
#[allow(clippy::useless_conversion)] // time_t and c_long are i32 on 32-bit targets
fn gettime(id: libc::clockid_t) -> Result<Timestamp, i32> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(id, &mut ts) };
    if rc == 0 {
        Ok(Timestamp::new(i64::from(ts.tv_sec), i64::from(ts.tv_nsec)))
    } else {
        Err(nix::errno::Errno::last_raw())
    }
}

/// The dynamic clock id of an open posix-clock character device: the kernel's
/// `FD_TO_CLOCKID(fd)`, `((~fd) << 3) | CLOCKFD` with `CLOCKFD = 3`.
pub fn fd_to_clockid(fd: RawFd) -> libc::clockid_t {
    const CLOCKFD: libc::clockid_t = 3;
    ((!fd) << 3) | CLOCKFD
}

/// A PTP hardware clock (`/dev/ptpN`) opened read-only: enough to read its time, its
/// capabilities and its external timestamps. Setting or adjusting a PHC needs write access and
/// is not offered here.
#[derive(Debug)]
pub struct PhcClock {
    fd: OwnedFd,
    path: String,
}

impl PhcClock {
    /// Opens `path` and checks it is a PTP clock by reading its time once.
    ///
    /// # Errors
    /// `open` errors (`ENOENT`, `EACCES`), "not a PTP clock device" for anything but a
    /// character device, and `clock_gettime` errors (`EINVAL`) for a character device that is
    /// not a posix clock (`/dev/null`).
    pub fn open(path: impl AsRef<Path>) -> Result<PhcClock, DeviceError> {
        let path = path.as_ref();
        let file = open_char_device(path, "a PTP clock device")?;
        let phc = PhcClock {
            fd: file.into(),
            path: path.display().to_string(),
        };
        match gettime(phc.clock_id()) {
            Ok(_) => Ok(phc),
            Err(libc::EINVAL) => Err(DeviceError::new(
                phc.path,
                "clock_gettime",
                DeviceErrorCause::Other(format!(
                    "not a PTP clock device ({})",
                    super::errno_text(libc::EINVAL)
                )),
            )),
            Err(errno) => Err(DeviceError::os(phc.path, "clock_gettime", errno)),
        }
    }

    /// The clock id to pass to `clock_gettime` / `clock_adjtime`; valid while `self` lives.
    pub fn clock_id(&self) -> libc::clockid_t {
        fd_to_clockid(self.fd.as_raw_fd())
    }

    /// `clock_gettime(2)` on the PHC.
    ///
    /// # Errors
    /// The `errno`, e.g. `ENODEV` once the device is gone.
    pub fn now(&self) -> Result<Timestamp, DeviceError> {
        gettime(self.clock_id()).map_err(|e| DeviceError::os(&self.path, "clock_gettime", e))
    }

    /// `PTP_CLOCK_GETCAPS`: the clock's capabilities (external timestamp channels, pins,
    /// PPS output, cross-timestamping).
    ///
    /// # Errors
    /// The ioctl's `errno`.
    pub fn caps(&self) -> Result<ptp_clock_caps, DeviceError> {
        let mut caps = ptp_clock_caps::default();
        // SAFETY: PTP_CLOCK_GETCAPS writes one `struct ptp_clock_caps`, which `caps` is (its
        // size is encoded in the request number); the fd is open for the call.
        let rc = unsafe { libc::ioctl(self.fd.as_raw_fd(), ioctl::PTP_CLOCK_GETCAPS, &mut caps) };
        if rc < 0 {
            return Err(last_error(&self.path, "PTP_CLOCK_GETCAPS"));
        }
        Ok(caps)
    }
}

impl AsFd for PhcClock {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_to_clockid_matches_the_kernel_macro() {
        // FD_TO_CLOCKID(3) = (~3 << 3) | 3 = -32 + 3 = -29; the kernel decodes fd = ~(id >> 3).
        assert_eq!(fd_to_clockid(3), -29);
        for fd in [0, 1, 7, 1000] {
            let id = fd_to_clockid(fd);
            assert_eq!(id & 7, 3, "CLOCKFD tag");
            assert_eq!(!(id >> 3), fd, "round trip of fd {fd}");
        }
    }

    #[test]
    fn system_clocks_read_and_order_as_expected() {
        let mono1 = ClockId::Monotonic.now();
        let real = ClockId::Realtime.now();
        let tai = ClockId::Tai.now();
        let raw = ClockId::MonotonicRaw.now();
        let mono2 = ClockId::Monotonic.now();
        assert!(mono2 >= mono1, "CLOCK_MONOTONIC went back");
        // After 2017 and before 2262: a sane REALTIME, TAI within a minute of it.
        assert!(real.sec() > 1_483_228_800);
        assert!(tai.diff_ns(real).abs() < 60_000_000_000);
        assert!(raw.sec() >= 0);
    }
}
