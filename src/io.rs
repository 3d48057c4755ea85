//! The seam between ppsd and the kernel: the traits a pulse source and a disciplined clock
//! implement, and the plain values that cross them.
//!
//! `sys/` implements these traits on the real kernel, `sim/` on the simulated world, and the
//! engine never sees either: the code that drives the engine (daemon or simulator) fetches
//! through [`PulseSource`] and applies the engine's actions through [`DisciplinedClock`]. This
//! module holds no `unsafe` and performs no I/O.

use crate::time::Timestamp;
use std::fmt;
use std::time::Duration;

/// A failed operation on a device or a clock, naming what was operated on and how.
///
/// Displays as one line: `/dev/pps0: PPS_FETCH: timed out after 2 s`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceError {
    /// What the operation was on: a path (`/dev/pps0`) or a clock (`CLOCK_REALTIME`).
    pub target: String,
    /// The operation: a syscall or ioctl name (`open`, `PPS_FETCH`, `adjtimex`).
    pub op: &'static str,
    /// Why it failed.
    pub cause: DeviceErrorCause,
}

/// Why a device or clock operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceErrorCause {
    /// The call returned this `errno`.
    Os(i32),
    /// A fetch waited this long and no event came.
    TimedOut(Duration),
    /// The kernel or device does not support the operation.
    Unsupported(String),
    /// Anything else, described in words.
    Other(String),
}

impl DeviceError {
    /// An error from an `errno` value.
    pub fn os(target: impl Into<String>, op: &'static str, errno: i32) -> DeviceError {
        DeviceError {
            target: target.into(),
            op,
            cause: DeviceErrorCause::Os(errno),
        }
    }

    /// An error with a cause.
    pub fn new(target: impl Into<String>, op: &'static str, cause: DeviceErrorCause) -> Self {
        DeviceError {
            target: target.into(),
            op,
            cause,
        }
    }

    /// True when the cause is a fetch timeout (no pulse yet), which callers treat as "nothing
    /// new" rather than as a device fault.
    pub fn is_timeout(&self) -> bool {
        matches!(self.cause, DeviceErrorCause::TimedOut(_))
    }
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: ", self.target, self.op)?;
        match &self.cause {
            DeviceErrorCause::Os(errno) => {
                write!(f, "{}", std::io::Error::from_raw_os_error(*errno))
            }
            DeviceErrorCause::TimedOut(d) => write!(f, "timed out after {}", fmt_duration(*d)),
            DeviceErrorCause::Unsupported(what) => write!(f, "not supported: {what}"),
            DeviceErrorCause::Other(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for DeviceError {}

fn fmt_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// One `PPS_FETCH` answer: the latest assert and clear timestamps with their sequence numbers.
///
/// Timestamps are on the clock the kernel stamps PPS events with (CLOCK_REALTIME). A sequence
/// number that has not changed since the previous fetch means no new event on that edge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PpsFetch {
    /// Time of the latest assert (rising) edge.
    pub assert: Timestamp,
    /// Count of assert events since the device was registered.
    pub assert_seq: u32,
    /// Time of the latest clear (falling) edge.
    pub clear: Timestamp,
    /// Count of clear events since the device was registered.
    pub clear_seq: u32,
}

/// Which edge of the pulse marks the second.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Edge {
    /// The assert (usually rising) edge, as most receivers define the on-time edge.
    #[default]
    Assert,
    /// The clear (usually falling) edge.
    Clear,
}

/// A source of timestamped pulses: a kernel PPS device or its simulated twin.
pub trait PulseSource {
    /// Fetches the latest event pair. `timeout` of `Some(Duration::ZERO)` returns at once;
    /// `None` waits indefinitely (where the source supports waiting).
    ///
    /// # Errors
    /// A [`DeviceError`]; a timeout is reported as [`DeviceErrorCause::TimedOut`].
    fn fetch(&mut self, timeout: Option<Duration>) -> Result<PpsFetch, DeviceError>;
}

/// Kernel frequency offset in adjtimex's unit: parts per million with a 16-bit binary fraction
/// (65536 = 1 ppm). Positive makes the clock run faster.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct ScaledPpm(pub i64);

impl ScaledPpm {
    /// Largest magnitude the kernel accepts for `ADJ_FREQUENCY` (500 ppm).
    pub const MAX: ScaledPpm = ScaledPpm(500 << 16);

    /// From parts per billion, rounded to the nearest unit (1/65536 ppm ≈ 0.0153 ppb).
    pub fn from_ppb(ppb: f64) -> ScaledPpm {
        ScaledPpm((ppb * 65.536).round() as i64)
    }

    /// In parts per billion.
    pub fn to_ppb(self) -> f64 {
        self.0 as f64 / 65.536
    }
}

bitflags::bitflags! {
    /// Kernel clock status bits (`STA_*` in `<linux/timex.h>`).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct ClockStatus: i32 {
        /// Kernel PLL updates enabled.
        const PLL = 0x0001;
        /// PPS frequency discipline enabled.
        const PPSFREQ = 0x0002;
        /// PPS time discipline enabled.
        const PPSTIME = 0x0004;
        /// Frequency-lock mode.
        const FLL = 0x0008;
        /// Insert a leap second at the end of the UTC day.
        const INS = 0x0010;
        /// Delete a leap second at the end of the UTC day.
        const DEL = 0x0020;
        /// The clock is not synchronised.
        const UNSYNC = 0x0040;
        /// Hold frequency.
        const FREQHOLD = 0x0080;
        /// PPS signal present (read-only).
        const PPSSIGNAL = 0x0100;
        /// PPS signal jitter exceeded (read-only).
        const PPSJITTER = 0x0200;
        /// PPS signal wander exceeded (read-only).
        const PPSWANDER = 0x0400;
        /// PPS calibration error (read-only).
        const PPSERROR = 0x0800;
        /// Clock hardware fault (read-only).
        const CLOCKERR = 0x1000;
        /// Nanosecond resolution (read-only).
        const NANO = 0x2000;
        /// Clock mode: FLL rather than PLL (read-only).
        const MODE = 0x4000;
        /// Clock source: B rather than A (read-only).
        const CLK = 0x8000;
    }
}

/// The clock state adjtimex returns (`TIME_*`), which tracks leap seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClockState {
    /// `TIME_OK`: no leap second pending.
    #[default]
    Ok,
    /// `TIME_INS`: a leap second will be inserted at the end of the UTC day.
    Ins,
    /// `TIME_DEL`: a leap second will be deleted at the end of the UTC day.
    Del,
    /// `TIME_OOP`: the inserted leap second is in progress.
    Oop,
    /// `TIME_WAIT`: a leap second has just occurred.
    Wait,
    /// `TIME_ERROR`: the clock is not synchronised (`STA_UNSYNC` or similar).
    Error,
}

impl ClockState {
    /// From adjtimex's return value; `None` for a value the kernel does not define.
    pub fn from_raw(value: i32) -> Option<ClockState> {
        Some(match value {
            0 => ClockState::Ok,
            1 => ClockState::Ins,
            2 => ClockState::Del,
            3 => ClockState::Oop,
            4 => ClockState::Wait,
            5 => ClockState::Error,
            _ => return None,
        })
    }
}

/// What an adjtimex read returns, in typed form.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClockSnapshot {
    /// The clock's time at the read (CLOCK_REALTIME).
    pub time: Timestamp,
    /// Frequency offset.
    pub freq: ScaledPpm,
    /// Remaining kernel-PLL phase offset (ns with `STA_NANO`, else µs); ppsd keeps it at 0.
    pub offset: i64,
    /// Microseconds per tick (nominally 1_000_000 / USER_HZ = 10_000).
    pub tick_us: i64,
    /// Status bits.
    pub status: ClockStatus,
    /// Maximum error in µs, which the kernel grows by 500 µs each second.
    pub maxerror_us: i64,
    /// Estimated error in µs.
    pub esterror_us: i64,
    /// TAI − UTC in seconds as the kernel holds it.
    pub tai_s: i32,
    /// The leap state machine's state.
    pub state: ClockState,
}

/// A set of writes applied to the clock in one adjtimex call; `None` fields are left as they
/// are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClockWrite {
    /// `ADJ_FREQUENCY`.
    pub freq: Option<ScaledPpm>,
    /// `ADJ_TICK`, µs per tick.
    pub tick_us: Option<i64>,
    /// `ADJ_STATUS`: the whole status word (the kernel ignores read-only bits).
    pub status: Option<ClockStatus>,
    /// `ADJ_MAXERROR`, µs.
    pub maxerror_us: Option<i64>,
    /// `ADJ_ESTERROR`, µs.
    pub esterror_us: Option<i64>,
    /// `ADJ_TAI`, seconds.
    pub tai_s: Option<i32>,
}

/// A clock that ppsd reads and disciplines: CLOCK_REALTIME through adjtimex, or its simulated
/// twin. All calls happen on the one thread that owns the clock.
pub trait DisciplinedClock {
    /// The clock's current time (`clock_gettime`).
    ///
    /// # Errors
    /// A [`DeviceError`] naming the clock.
    fn now(&mut self) -> Result<Timestamp, DeviceError>;

    /// Reads the kernel's discipline state without changing it (adjtimex with modes 0).
    ///
    /// # Errors
    /// A [`DeviceError`] naming the clock.
    fn read(&mut self) -> Result<ClockSnapshot, DeviceError>;

    /// Applies `write` in one adjtimex call and returns the state after it.
    ///
    /// # Errors
    /// A [`DeviceError`]; `EPERM` without CAP_SYS_TIME.
    fn write(&mut self, write: &ClockWrite) -> Result<ClockSnapshot, DeviceError>;

    /// Steps the clock by `delta_ns` (`ADJ_SETOFFSET | ADJ_NANO`) and returns the state after.
    ///
    /// # Errors
    /// A [`DeviceError`]; `EPERM` without CAP_SYS_TIME.
    fn step(&mut self, delta_ns: i64) -> Result<ClockSnapshot, DeviceError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_ppm_converts_both_ways() {
        assert_eq!(ScaledPpm::from_ppb(1000.0), ScaledPpm(65_536));
        assert_eq!(ScaledPpm::from_ppb(-50_000.0).0, -50 * 65_536);
        assert!((ScaledPpm(65_536).to_ppb() - 1000.0).abs() < 1e-9);
    }

    #[test]
    fn device_error_is_one_line_naming_target_and_op() {
        let e = DeviceError::new(
            "/dev/pps0",
            "PPS_FETCH",
            DeviceErrorCause::TimedOut(Duration::from_secs(2)),
        );
        assert_eq!(e.to_string(), "/dev/pps0: PPS_FETCH: timed out after 2 s");
        assert!(e.is_timeout());
        let e = DeviceError::os("/dev/nonexistent", "open", libc::ENOENT);
        assert_eq!(
            e.to_string(),
            "/dev/nonexistent: open: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn clock_state_from_raw() {
        assert_eq!(ClockState::from_raw(3), Some(ClockState::Oop));
        assert_eq!(ClockState::from_raw(9), None);
    }
}
