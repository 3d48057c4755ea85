//! `clock_adjtime(2)` on CLOCK_REALTIME: a typed read of the kernel's discipline state and
//! typed writes (frequency, tick, status, error estimates, TAI offset, step).
//!
//! The conversions between ppsd's types and `struct timex` are pure functions
//! ([`write_to_timex`], [`step_to_timex`], [`snapshot_from_timex`]) so they are tested without
//! the kernel. Only [`SystemClock`]'s `write` and `step` change the clock, and nothing in this
//! crate's tests calls them on the host. Every call happens on the thread that owns the
//! `SystemClock` and goes through libc, so an LD_PRELOAD clock simulator sees it.
//!
//! Kernel facts this code meets:
//! - Any mode other than 0 needs CAP_SYS_TIME (`EPERM` otherwise, reported with that hint).
//! - `ADJ_TAI` takes the offset from the `constant` field, not `tai`, and silently ignores a
//!   negative one; a negative TAI offset is therefore rejected here.
//! - `ADJ_SETOFFSET` adds `time` to the clock; the kernel rejects a negative `tv_usec` (which
//!   holds nanoseconds with `ADJ_NANO`), so a negative step is written as a negative second
//!   count plus a non-negative fraction (−1.5 s = −2 s + 0.5 s).
//! - `ADJ_FREQUENCY` beyond ±500 ppm and `ADJ_MAXERROR` beyond 16 s are clamped silently by
//!   the kernel; out-of-range requests are rejected here instead, so what was asked is what
//!   happens. `ADJ_TICK` outside 9000..=11000 µs (USER_HZ = 100) gets `EINVAL`.
//! - `time` and `offset` are in nanoseconds when `STA_NANO` is set, else microseconds.
//! - During an inserted leap second (`TIME_OOP`) the kernel reports `time` one second back
//!   and `tai` one up.

use super::bindings::{self, timex};
use super::clock::ClockId;
use crate::io::{
    ClockSnapshot, ClockState, ClockStatus, ClockWrite, DeviceError, DeviceErrorCause,
    DisciplinedClock, ScaledPpm,
};
use crate::time::{Timestamp, NANOS_PER_SEC};
use std::os::raw::{c_int, c_long, c_uint};

/// What errors from this module name as their target.
const TARGET: &str = "CLOCK_REALTIME";
/// What errors from this module name as their operation.
const OP: &str = "clock_adjtime";

// The kernel's struct and libc's must be the same object: the call passes one as the other.
const _: () = assert!(std::mem::size_of::<timex>() == std::mem::size_of::<libc::timex>());
const _: () = assert!(std::mem::align_of::<timex>() == std::mem::align_of::<libc::timex>());

/// Smallest and largest `ADJ_TICK` the kernel accepts, in µs (USER_HZ = 100).
pub const TICK_RANGE_US: std::ops::RangeInclusive<i64> = 9_000..=11_000;
/// Largest maximum error the kernel keeps (`NTP_PHASE_LIMIT`, 16 s), in µs.
pub const MAX_ERROR_US: i64 = 16_000_000;

/// CLOCK_REALTIME as ppsd disciplines it: read with `clock_gettime` and `clock_adjtime`.
#[derive(Debug, Default)]
pub struct SystemClock {
    _private: (),
}

impl SystemClock {
    /// A handle on CLOCK_REALTIME. Creating it touches nothing.
    pub fn new() -> SystemClock {
        SystemClock { _private: () }
    }
}

impl DisciplinedClock for SystemClock {
    fn now(&mut self) -> Result<Timestamp, DeviceError> {
        Ok(ClockId::Realtime.now())
    }

    fn read(&mut self) -> Result<ClockSnapshot, DeviceError> {
        adjtime(&mut zeroed_timex())
    }

    fn write(&mut self, write: &ClockWrite) -> Result<ClockSnapshot, DeviceError> {
        adjtime(&mut write_to_timex(write)?)
    }

    fn step(&mut self, delta_ns: i64) -> Result<ClockSnapshot, DeviceError> {
        adjtime(&mut step_to_timex(delta_ns))
    }
}

/// `clock_adjtime(CLOCK_REALTIME, tx)`: applies `tx.modes` and returns the state after it.
fn adjtime(tx: &mut timex) -> Result<ClockSnapshot, DeviceError> {
    let ptr = std::ptr::from_mut(tx).cast::<libc::timex>();
    // SAFETY: `timex` (from the kernel header) and `libc::timex` have the same size and
    // alignment (asserted above) and field offsets (tests/sys_bindings.rs); `tx` is valid and
    // writable for the call, which reads and writes exactly one struct.
    let rc = unsafe { libc::clock_adjtime(libc::CLOCK_REALTIME, ptr) };
    if rc < 0 {
        let errno = nix::errno::Errno::last_raw();
        return Err(if errno == libc::EPERM {
            let why = "operation not permitted: needs CAP_SYS_TIME".to_owned();
            DeviceError::new(TARGET, OP, DeviceErrorCause::Other(why))
        } else {
            DeviceError::os(TARGET, OP, errno)
        });
    }
    snapshot_from_timex(tx, rc)
}

/// A `struct timex` with every field zero: with `modes` 0 it asks for a read only.
pub fn zeroed_timex() -> timex {
    // SAFETY: `timex` is `repr(C)` plain integers and padding (no pointers, references or
    // enums), for which the all-zero bit pattern is a valid value.
    unsafe { std::mem::zeroed() }
}

fn invalid(why: String) -> DeviceError {
    DeviceError::new(TARGET, OP, DeviceErrorCause::Other(why))
}

fn to_long(value: i64, what: &str) -> Result<c_long, DeviceError> {
    c_long::try_from(value).map_err(|_| invalid(format!("{what} {value} does not fit a C long")))
}

/// The `struct timex` that applies `write` in one call. Pure: no syscall.
///
/// # Errors
/// A value the kernel would clamp, ignore or reject: frequency beyond ±500 ppm, tick outside
/// [`TICK_RANGE_US`], a negative or too large error estimate, a negative TAI offset.
pub fn write_to_timex(write: &ClockWrite) -> Result<timex, DeviceError> {
    let mut tx = zeroed_timex();
    let mut modes: c_uint = 0;
    if let Some(freq) = write.freq {
        if freq.0.abs() > ScaledPpm::MAX.0 {
            let ppm = freq.0 as f64 / 65_536.0;
            return Err(invalid(format!("frequency {ppm:.3} ppm outside ±500 ppm")));
        }
        tx.freq = to_long(freq.0, "frequency")?;
        modes |= bindings::ADJ_FREQUENCY;
    }
    if let Some(tick) = write.tick_us {
        if !TICK_RANGE_US.contains(&tick) {
            return Err(invalid(format!("tick {tick} µs outside 9000..=11000 µs")));
        }
        tx.tick = to_long(tick, "tick")?;
        modes |= bindings::ADJ_TICK;
    }
    if let Some(status) = write.status {
        tx.status = status.bits();
        modes |= bindings::ADJ_STATUS;
    }
    for (value, what, field, mode) in [
        (
            write.maxerror_us,
            "maximum error",
            &mut tx.maxerror,
            bindings::ADJ_MAXERROR,
        ),
        (
            write.esterror_us,
            "estimated error",
            &mut tx.esterror,
            bindings::ADJ_ESTERROR,
        ),
    ] {
        if let Some(us) = value {
            if !(0..=MAX_ERROR_US).contains(&us) {
                return Err(invalid(format!("{what} {us} µs outside 0..=16000000 µs")));
            }
            *field = to_long(us, what)?;
            modes |= mode;
        }
    }
    if let Some(tai) = write.tai_s {
        if tai < 0 {
            return Err(invalid(format!("TAI offset {tai} s is negative")));
        }
        tx.constant = c_long::from(tai);
        modes |= bindings::ADJ_TAI;
    }
    tx.modes = modes;
    Ok(tx)
}

/// The `struct timex` that steps the clock by `delta_ns` (`ADJ_SETOFFSET | ADJ_NANO`), the
/// fraction normalised non-negative as the kernel requires. Pure: no syscall.
pub fn step_to_timex(delta_ns: i64) -> timex {
    let mut tx = zeroed_timex();
    tx.modes = bindings::ADJ_SETOFFSET | bindings::ADJ_NANO;
    // On 32-bit targets a step beyond ±68 years saturates; no sane caller asks for one.
    let sec = delta_ns.div_euclid(NANOS_PER_SEC);
    tx.time.tv_sec =
        c_long::try_from(sec).unwrap_or(if sec < 0 { c_long::MIN } else { c_long::MAX });
    tx.time.tv_usec = delta_ns.rem_euclid(NANOS_PER_SEC) as c_long;
    tx
}

/// The typed snapshot of a `struct timex` after a call that returned `state`. Pure.
///
/// # Errors
/// A return value that is not one of the kernel's `TIME_*` states.
#[allow(clippy::useless_conversion)] // c_long is i32 on 32-bit targets
pub fn snapshot_from_timex(tx: &timex, state: c_int) -> Result<ClockSnapshot, DeviceError> {
    let state = ClockState::from_raw(state)
        .ok_or_else(|| invalid(format!("unknown clock state {state} returned")))?;
    let status = ClockStatus::from_bits_retain(tx.status);
    let frac = i64::from(tx.time.tv_usec);
    let frac_ns = if status.contains(ClockStatus::NANO) {
        frac
    } else {
        frac * 1_000
    };
    Ok(ClockSnapshot {
        time: Timestamp::new(i64::from(tx.time.tv_sec), frac_ns),
        freq: ScaledPpm(i64::from(tx.freq)),
        offset: i64::from(tx.offset),
        tick_us: i64::from(tx.tick),
        status,
        maxerror_us: i64::from(tx.maxerror),
        esterror_us: i64::from(tx.esterror),
        tai_s: tx.tai,
        state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_write_is_a_pure_read() {
        let tx = write_to_timex(&ClockWrite::default()).unwrap();
        assert_eq!(tx.modes, 0);
    }

    #[test]
    fn write_sets_each_field_and_its_mode_bit() {
        let w = ClockWrite {
            freq: Some(ScaledPpm(-12 * 65_536)),
            tick_us: Some(10_001),
            status: Some(ClockStatus::UNSYNC | ClockStatus::INS),
            maxerror_us: Some(16_000),
            esterror_us: Some(3),
            tai_s: Some(37),
        };
        let tx = write_to_timex(&w).unwrap();
        let b = bindings::ADJ_FREQUENCY
            | bindings::ADJ_TICK
            | bindings::ADJ_STATUS
            | bindings::ADJ_MAXERROR
            | bindings::ADJ_ESTERROR
            | bindings::ADJ_TAI;
        assert_eq!(tx.modes, b);
        assert_eq!(tx.freq, -786_432);
        assert_eq!(tx.tick, 10_001);
        assert_eq!(tx.status, 0x50);
        assert_eq!((tx.maxerror, tx.esterror), (16_000, 3));
        // ADJ_TAI reads `constant`, not `tai`.
        assert_eq!((tx.constant, tx.tai), (37, 0));
        assert_eq!(tx.offset, 0);
    }

    #[test]
    fn write_rejects_what_the_kernel_would_clamp_or_ignore() {
        let cases = [
            (
                ClockWrite {
                    freq: Some(ScaledPpm(ScaledPpm::MAX.0 + 1)),
                    ..ClockWrite::default()
                },
                "CLOCK_REALTIME: clock_adjtime: frequency 500.000 ppm outside ±500 ppm",
            ),
            (
                ClockWrite {
                    tick_us: Some(8_999),
                    ..ClockWrite::default()
                },
                "CLOCK_REALTIME: clock_adjtime: tick 8999 µs outside 9000..=11000 µs",
            ),
            (
                ClockWrite {
                    esterror_us: Some(-1),
                    ..ClockWrite::default()
                },
                "CLOCK_REALTIME: clock_adjtime: estimated error -1 µs outside 0..=16000000 µs",
            ),
            (
                ClockWrite {
                    tai_s: Some(-1),
                    ..ClockWrite::default()
                },
                "CLOCK_REALTIME: clock_adjtime: TAI offset -1 s is negative",
            ),
        ];
        for (w, msg) in cases {
            assert_eq!(write_to_timex(&w).unwrap_err().to_string(), msg);
        }
        let edge = ClockWrite {
            freq: Some(ScaledPpm(-ScaledPpm::MAX.0)),
            maxerror_us: Some(MAX_ERROR_US),
            ..ClockWrite::default()
        };
        assert!(write_to_timex(&edge).is_ok());
    }

    #[test]
    #[allow(clippy::useless_conversion)] // c_long is i32 on 32-bit targets
    fn steps_keep_the_fraction_non_negative() {
        for (delta, sec, nsec) in [
            (1_500_000_000, 1, 500_000_000),
            (-1_500_000_000, -2, 500_000_000),
            (-1, -1, 999_999_999),
            (-1_000_000_000, -1, 0),
            (0, 0, 0),
        ] {
            let tx = step_to_timex(delta);
            assert_eq!(tx.modes, bindings::ADJ_SETOFFSET | bindings::ADJ_NANO);
            assert_eq!(
                (tx.time.tv_sec, tx.time.tv_usec),
                (sec, nsec),
                "delta {delta}"
            );
            assert_eq!(i64::from(tx.time.tv_sec) * NANOS_PER_SEC + nsec, delta);
        }
    }

    #[test]
    fn snapshot_reads_microseconds_or_nanoseconds_per_sta_nano() {
        let mut tx = zeroed_timex();
        tx.time.tv_sec = 1_700_000_000;
        tx.time.tv_usec = 250;
        tx.freq = 65_536;
        tx.maxerror = 16_000;
        tx.tai = 37;
        tx.tick = 10_000;
        tx.status = ClockStatus::UNSYNC.bits();
        let s = snapshot_from_timex(&tx, bindings::TIME_ERROR as c_int).unwrap();
        assert_eq!(s.time, Timestamp::new(1_700_000_000, 250_000));
        assert_eq!(s.state, ClockState::Error);
        assert_eq!(
            (s.freq, s.maxerror_us, s.tai_s, s.tick_us),
            (ScaledPpm(65_536), 16_000, 37, 10_000)
        );
        tx.status |= ClockStatus::NANO.bits();
        let s = snapshot_from_timex(&tx, bindings::TIME_OK as c_int).unwrap();
        assert_eq!(s.time, Timestamp::new(1_700_000_000, 250));
        assert!(s.status.contains(ClockStatus::UNSYNC | ClockStatus::NANO));
        let e = snapshot_from_timex(&tx, 9).unwrap_err();
        assert_eq!(
            e.to_string(),
            "CLOCK_REALTIME: clock_adjtime: unknown clock state 9 returned"
        );
    }
}
