//! A kernel PPS source (`/dev/ppsN`) through the RFC 2783 ioctls: `PPS_GETCAP`,
//! `PPS_GETPARAMS`, `PPS_SETPARAMS`, `PPS_FETCH`, `PPS_KC_BIND`.
//!
//! [`PpsDevice`] hands on what the kernel stamped (assert/clear time and sequence numbers) and
//! nothing else: no de-duplication, filtering or trust. It must never change a device setting
//! unless a caller asks ([`PpsDevice::set_params`]), and never wait without a bound unless the
//! caller passes `None`.
//!
//! Kernel facts this code meets:
//! - Opening read-only is enough for everything but the settings: `PPS_FETCH`, `PPS_GETCAP`
//!   and `PPS_GETPARAMS` need only an open fd. `PPS_SETPARAMS` and `PPS_KC_BIND` need
//!   CAP_SYS_TIME; the kernel checks that capability, not the fd's access mode, so a read-only
//!   fd suffices (pps-tools open read-write by habit). Settings are per device, shared by
//!   every process that has it open.
//! - `PPS_FETCH` with a timeout waits for the next event *after the call starts* (on either
//!   edge being captured) and returns `ETIMEDOUT` if none came; with a zero timeout it returns
//!   the latest event at once, new or not. The kernel rounds the timeout down to whole jiffies,
//!   so a non-zero timeout shorter than one tick would not wait at all: such timeouts are
//!   raised to 10 ms (one tick at the lowest HZ). A signal makes it fail with `EINTR`, which
//!   is retried here with the time left.
//! - `PPS_CANWAIT` in the capabilities says a fetch can block. The in-tree drivers (gpio,
//!   ldisc, ptp, ktimer) set it, and the kernel's fetch waits whether or not it is set.
//! - poll/epoll: on most deployed kernels a PPS fd always reports itself readable; a 2025 fix
//!   ("pps: fix poll support") makes it wait for an event this fd has not fetched. Callers must
//!   not rely on readiness: time the fetch after the expected edge and fetch with timeout 0.
//! - `PPS_KC_BIND` binds an edge to the kernel's hardpps consumer; kernels built without
//!   CONFIG_NTP_PPS (most distributions) answer `EOPNOTSUPP`, reported as unsupported.

use super::bindings::{self, pps_bind_args, pps_fdata, pps_kparams, pps_ktime};
use super::clock::ClockId;
use super::{ioctl, last_error, open_char_device};
use crate::io::{DeviceError, DeviceErrorCause, Edge, PpsFetch, PulseSource};
use crate::time::{Timestamp, NANOS_PER_SEC};
use std::fs::File;
use std::os::raw::c_int;
use std::os::unix::io::{AsFd, AsRawFd, BorrowedFd};
use std::path::Path;
use std::time::Duration;

bitflags::bitflags! {
    /// PPS mode bits (`PPS_*` in `<linux/pps.h>`): what a device can do (`PPS_GETCAP`) or is
    /// set to do (`PPS_GETPARAMS`).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct PpsMode: c_int {
        /// Captures assert (usually rising) edges.
        const CAPTUREASSERT = bindings::PPS_CAPTUREASSERT as c_int;
        /// Captures clear (usually falling) edges.
        const CAPTURECLEAR = bindings::PPS_CAPTURECLEAR as c_int;
        /// Adds the configured offset to assert timestamps.
        const OFFSETASSERT = bindings::PPS_OFFSETASSERT as c_int;
        /// Adds the configured offset to clear timestamps.
        const OFFSETCLEAR = bindings::PPS_OFFSETCLEAR as c_int;
        /// Echoes assert events to an output line.
        const ECHOASSERT = bindings::PPS_ECHOASSERT as c_int;
        /// Echoes clear events to an output line.
        const ECHOCLEAR = bindings::PPS_ECHOCLEAR as c_int;
        /// `PPS_FETCH` can wait for an event.
        const CANWAIT = bindings::PPS_CANWAIT as c_int;
        /// Reserved by the kernel; no driver sets it.
        const CANPOLL = bindings::PPS_CANPOLL as c_int;
        /// Timestamps as `struct timespec`.
        const TSFMT_TSPEC = bindings::PPS_TSFMT_TSPEC as c_int;
        /// Timestamps in NTP format (not supported by Linux drivers).
        const TSFMT_NTPFP = bindings::PPS_TSFMT_NTPFP as c_int;
    }
}

impl PpsMode {
    /// The capture bit for `edge`.
    pub fn capture(edge: Edge) -> PpsMode {
        match edge {
            Edge::Assert => PpsMode::CAPTUREASSERT,
            Edge::Clear => PpsMode::CAPTURECLEAR,
        }
    }

    /// The set bits' names, space-separated, in bit order (`CAPTUREASSERT CANWAIT`).
    pub fn names(self) -> String {
        let names: Vec<&str> = self.iter_names().map(|(name, _)| name).collect();
        if names.is_empty() {
            "(none)".to_owned()
        } else {
            names.join(" ")
        }
    }
}

/// A device's settings (`struct pps_kparams`), offsets as signed nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PpsParams {
    /// API version the kernel reports (1).
    pub api_version: c_int,
    /// Enabled mode bits.
    pub mode: PpsMode,
    /// Offset added to assert timestamps when `OFFSETASSERT` is set.
    pub assert_offset_ns: i64,
    /// Offset added to clear timestamps when `OFFSETCLEAR` is set.
    pub clear_offset_ns: i64,
}

/// An open kernel PPS device.
#[derive(Debug)]
pub struct PpsDevice {
    file: File,
    path: String,
    caps: PpsMode,
}

impl PpsDevice {
    /// Opens `path` read-only and reads its capabilities (`PPS_GETCAP`).
    ///
    /// # Errors
    /// `open` errors (`ENOENT`, `EACCES`); "not a PPS device" for anything but a character
    /// device, or for a character device that does not answer `PPS_GETCAP` (`/dev/null`).
    pub fn open(path: impl AsRef<Path>) -> Result<PpsDevice, DeviceError> {
        let path = path.as_ref();
        let file = open_char_device(path, "a PPS device")?;
        let mut dev = PpsDevice {
            file,
            path: path.display().to_string(),
            caps: PpsMode::empty(),
        };
        let mut caps: c_int = 0;
        // SAFETY: PPS_GETCAP writes one `int` through the pointer; `caps` is one and outlives
        // the call, and the fd is open.
        let rc = unsafe { libc::ioctl(dev.file.as_raw_fd(), ioctl::PPS_GETCAP, &mut caps) };
        if rc < 0 {
            let errno = nix::errno::Errno::last_raw();
            return Err(if errno == libc::ENOTTY || errno == libc::EINVAL {
                let why = format!("not a PPS device ({})", super::errno_text(errno));
                DeviceError::new(dev.path, "PPS_GETCAP", DeviceErrorCause::Other(why))
            } else {
                DeviceError::os(dev.path, "PPS_GETCAP", errno)
            });
        }
        dev.caps = PpsMode::from_bits_retain(caps);
        Ok(dev)
    }

    /// The path the device was opened by.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What the device can do, as `PPS_GETCAP` reported at open.
    pub fn capabilities(&self) -> PpsMode {
        self.caps
    }

    /// Checks the device can capture `edge`.
    ///
    /// # Errors
    /// A one-line error naming the device, the edge and its capabilities.
    pub fn require_edge(&self, edge: Edge) -> Result<(), DeviceError> {
        require_edge(&self.path, self.caps, edge)
    }

    /// `PPS_GETPARAMS`: the current settings.
    ///
    /// # Errors
    /// The ioctl's `errno`.
    pub fn params(&self) -> Result<PpsParams, DeviceError> {
        let mut raw = pps_kparams::default();
        // SAFETY: PPS_GETPARAMS writes one `struct pps_kparams`, which `raw` is; fd is open.
        let rc = unsafe { libc::ioctl(self.file.as_raw_fd(), ioctl::PPS_GETPARAMS, &mut raw) };
        if rc < 0 {
            return Err(last_error(&self.path, "PPS_GETPARAMS"));
        }
        Ok(params_from_raw(&raw))
    }

    /// `PPS_SETPARAMS`: changes the device's settings for every user of the device. Needs
    /// CAP_SYS_TIME; the kernel rejects modes without a capture bit or with bits the device
    /// lacks, which this checks first to say which.
    ///
    /// # Errors
    /// Unsupported mode bits; `EPERM` (reported with the missing capability) and other
    /// `errno`s.
    pub fn set_params(&self, params: &PpsParams) -> Result<(), DeviceError> {
        let op = "PPS_SETPARAMS";
        let missing = params.mode - self.caps;
        if !missing.is_empty() {
            let why = format!("device cannot do {}", missing.names());
            return Err(DeviceError::new(
                &self.path,
                op,
                DeviceErrorCause::Unsupported(why),
            ));
        }
        if !params
            .mode
            .intersects(PpsMode::CAPTUREASSERT | PpsMode::CAPTURECLEAR)
        {
            let why = "mode must capture at least one edge".to_owned();
            return Err(DeviceError::new(
                &self.path,
                op,
                DeviceErrorCause::Other(why),
            ));
        }
        let raw = params_to_raw(params);
        // SAFETY: PPS_SETPARAMS reads one `struct pps_kparams`, which `raw` is; fd is open.
        let rc = unsafe { libc::ioctl(self.file.as_raw_fd(), ioctl::PPS_SETPARAMS, &raw) };
        if rc < 0 {
            return Err(with_cap_hint(last_error(&self.path, op)));
        }
        Ok(())
    }

    /// `PPS_FETCH`: the latest assert and clear events. `Some(ZERO)` returns at once; a
    /// positive timeout waits for the next event (raised to 10 ms if shorter, see the module
    /// doc); `None` waits without bound.
    ///
    /// # Errors
    /// [`DeviceErrorCause::TimedOut`] when no event came in time; other `errno`s.
    pub fn fetch(&self, timeout: Option<Duration>) -> Result<PpsFetch, DeviceError> {
        let timeout = timeout.map(|t| if t.is_zero() { t } else { t.max(MIN_WAIT) });
        let deadline = timeout.map(|t| ClockId::Monotonic.now().add_ns(duration_ns(t)));
        let mut left = timeout;
        loop {
            let mut data = pps_fdata {
                timeout: timeout_to_ktime(left),
                ..pps_fdata::default()
            };
            // SAFETY: PPS_FETCH reads and writes one `struct pps_fdata`, which `data` is; the
            // fd is open for the call.
            let rc = unsafe { libc::ioctl(self.file.as_raw_fd(), ioctl::PPS_FETCH, &mut data) };
            if rc == 0 {
                return Ok(fetch_from_raw(&data));
            }
            let errno = nix::errno::Errno::last_raw();
            match (errno, timeout, deadline) {
                (libc::EINTR, _, None) => continue,
                (libc::EINTR, Some(t), Some(deadline)) => {
                    let rest = deadline.diff_ns(ClockId::Monotonic.now());
                    if rest <= 0 {
                        return Err(self.timed_out(t));
                    }
                    left = Some(Duration::from_nanos(rest as u64).max(MIN_WAIT));
                }
                (libc::ETIMEDOUT, Some(t), _) => return Err(self.timed_out(t)),
                _ => return Err(DeviceError::os(&self.path, "PPS_FETCH", errno)),
            }
        }
    }

    /// `PPS_KC_BIND`: hands `edge` to the kernel's hardpps consumer, or unbinds with `None`.
    /// ppsd does not use it (most kernels lack CONFIG_NTP_PPS); it is here to report that.
    ///
    /// # Errors
    /// [`DeviceErrorCause::Unsupported`] on `EOPNOTSUPP`; `EPERM` without CAP_SYS_TIME.
    pub fn kc_bind(&self, edge: Option<Edge>) -> Result<(), DeviceError> {
        let args = pps_bind_args {
            tsformat: bindings::PPS_TSFMT_TSPEC as c_int,
            edge: edge.map_or(0, |e| PpsMode::capture(e).bits()),
            consumer: bindings::PPS_KC_HARDPPS as c_int,
        };
        // SAFETY: PPS_KC_BIND reads one `struct pps_bind_args`, which `args` is; fd is open.
        let rc = unsafe { libc::ioctl(self.file.as_raw_fd(), ioctl::PPS_KC_BIND, &args) };
        if rc == 0 {
            return Ok(());
        }
        let err = last_error(&self.path, "PPS_KC_BIND");
        Err(match err.cause {
            DeviceErrorCause::Os(libc::EOPNOTSUPP) => DeviceError::new(
                err.target,
                err.op,
                DeviceErrorCause::Unsupported("kernel built without CONFIG_NTP_PPS".into()),
            ),
            _ => with_cap_hint(err),
        })
    }

    fn timed_out(&self, t: Duration) -> DeviceError {
        DeviceError::new(&self.path, "PPS_FETCH", DeviceErrorCause::TimedOut(t))
    }
}

impl PulseSource for PpsDevice {
    fn fetch(&mut self, timeout: Option<Duration>) -> Result<PpsFetch, DeviceError> {
        PpsDevice::fetch(self, timeout)
    }
}

impl AsFd for PpsDevice {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// Shortest wait the kernel honours at any HZ (one tick at HZ=100).
const MIN_WAIT: Duration = Duration::from_millis(10);

/// Checks that a device with capabilities `caps` can capture `edge`.
///
/// # Errors
/// `"{path}: PPS_GETCAP: not supported: cannot capture assert edges (capabilities: ...)"`.
pub fn require_edge(path: &str, caps: PpsMode, edge: Edge) -> Result<(), DeviceError> {
    if caps.contains(PpsMode::capture(edge)) {
        return Ok(());
    }
    let name = match edge {
        Edge::Assert => "assert",
        Edge::Clear => "clear",
    };
    let why = format!(
        "cannot capture {name} edges (capabilities: {})",
        caps.names()
    );
    Err(DeviceError::new(
        path,
        "PPS_GETCAP",
        DeviceErrorCause::Unsupported(why),
    ))
}

/// Adds "needs CAP_SYS_TIME" to an `EPERM`.
fn with_cap_hint(err: DeviceError) -> DeviceError {
    match err.cause {
        DeviceErrorCause::Os(libc::EPERM) => DeviceError::new(
            err.target,
            err.op,
            DeviceErrorCause::Other("operation not permitted: needs CAP_SYS_TIME".into()),
        ),
        _ => err,
    }
}

fn duration_ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// The fetch timeout as the kernel reads it: `None` is `PPS_TIME_INVALID` (wait forever).
pub fn timeout_to_ktime(timeout: Option<Duration>) -> pps_ktime {
    match timeout {
        None => pps_ktime {
            flags: bindings::PPS_TIME_INVALID,
            ..pps_ktime::default()
        },
        Some(t) => pps_ktime {
            sec: i64::try_from(t.as_secs()).unwrap_or(i64::MAX),
            nsec: t.subsec_nanos() as i32,
            flags: 0,
        },
    }
}

fn ktime_to_ns(t: &pps_ktime) -> i64 {
    Timestamp::new(t.sec, i64::from(t.nsec)).as_ns()
}

fn ns_to_ktime(ns: i64) -> pps_ktime {
    pps_ktime {
        sec: ns.div_euclid(NANOS_PER_SEC),
        nsec: ns.rem_euclid(NANOS_PER_SEC) as i32,
        flags: 0,
    }
}

/// A `PPS_FETCH` answer in ppsd's types.
pub fn fetch_from_raw(data: &pps_fdata) -> PpsFetch {
    let info = &data.info;
    PpsFetch {
        assert: Timestamp::new(info.assert_tu.sec, i64::from(info.assert_tu.nsec)),
        assert_seq: info.assert_sequence,
        clear: Timestamp::new(info.clear_tu.sec, i64::from(info.clear_tu.nsec)),
        clear_seq: info.clear_sequence,
    }
}

/// `struct pps_kparams` in ppsd's types.
pub fn params_from_raw(raw: &pps_kparams) -> PpsParams {
    PpsParams {
        api_version: raw.api_version,
        mode: PpsMode::from_bits_retain(raw.mode),
        assert_offset_ns: ktime_to_ns(&raw.assert_off_tu),
        clear_offset_ns: ktime_to_ns(&raw.clear_off_tu),
    }
}

/// [`PpsParams`] as `struct pps_kparams`, offsets normalised (non-negative `nsec`).
pub fn params_to_raw(params: &PpsParams) -> pps_kparams {
    pps_kparams {
        api_version: bindings::PPS_API_VERS as c_int,
        mode: params.mode.bits(),
        assert_off_tu: ns_to_ktime(params.assert_offset_ns),
        clear_off_tu: ns_to_ktime(params.clear_offset_ns),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_encode_as_the_kernel_reads_them() {
        let forever = timeout_to_ktime(None);
        assert_eq!(forever.flags, bindings::PPS_TIME_INVALID);
        let now = timeout_to_ktime(Some(Duration::ZERO));
        assert_eq!((now.sec, now.nsec, now.flags), (0, 0, 0));
        let t = timeout_to_ktime(Some(Duration::from_millis(2_250)));
        assert_eq!((t.sec, t.nsec, t.flags), (2, 250_000_000, 0));
    }

    #[test]
    fn fetch_answer_keeps_integer_times_and_sequences() {
        let mut data = pps_fdata::default();
        data.info.assert_sequence = 42;
        data.info.assert_tu = pps_ktime {
            sec: 1_700_000_000,
            nsec: 123,
            flags: 0,
        };
        data.info.clear_sequence = 41;
        data.info.clear_tu = pps_ktime {
            sec: 1_699_999_999,
            nsec: 200_000_001,
            flags: 0,
        };
        let f = fetch_from_raw(&data);
        assert_eq!(f.assert, Timestamp::new(1_700_000_000, 123));
        assert_eq!(f.assert_seq, 42);
        assert_eq!(f.clear.as_ns(), 1_699_999_999_200_000_001);
        assert_eq!(f.clear_seq, 41);
    }

    #[test]
    fn params_round_trip_with_negative_offsets() {
        let p = PpsParams {
            api_version: 1,
            mode: PpsMode::CAPTUREASSERT | PpsMode::OFFSETASSERT | PpsMode::TSFMT_TSPEC,
            assert_offset_ns: -1_500,
            clear_offset_ns: 2_000_000_001,
        };
        let raw = params_to_raw(&p);
        assert_eq!(
            (raw.assert_off_tu.sec, raw.assert_off_tu.nsec),
            (-1, 999_998_500)
        );
        assert_eq!((raw.clear_off_tu.sec, raw.clear_off_tu.nsec), (2, 1));
        assert_eq!(raw.mode, 0x1011);
        assert_eq!(params_from_raw(&raw), p);
    }

    #[test]
    fn edge_requirement_names_device_edge_and_capabilities() {
        let caps = PpsMode::CAPTURECLEAR | PpsMode::CANWAIT;
        assert!(require_edge("/dev/pps1", caps, Edge::Clear).is_ok());
        let e = require_edge("/dev/pps1", caps, Edge::Assert).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/dev/pps1: PPS_GETCAP: not supported: cannot capture assert edges \
             (capabilities: CAPTURECLEAR CANWAIT)"
        );
        assert_eq!(PpsMode::empty().names(), "(none)");
    }

    #[test]
    fn eperm_gets_the_capability_hint() {
        let e = with_cap_hint(DeviceError::os("/dev/pps0", "PPS_SETPARAMS", libc::EPERM));
        assert_eq!(
            e.to_string(),
            "/dev/pps0: PPS_SETPARAMS: operation not permitted: needs CAP_SYS_TIME"
        );
        let e = with_cap_hint(DeviceError::os("/dev/pps0", "PPS_SETPARAMS", libc::EINVAL));
        assert_eq!(e.cause, DeviceErrorCause::Os(libc::EINVAL));
    }
}
