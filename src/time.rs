//! Integer time: absolute instants as (seconds, nanoseconds) and conversions to `i64`
//! nanoseconds.
//!
//! Every absolute instant in ppsd is a [`Timestamp`] or an `i64` count of nanoseconds. This
//! module must never convert an instant to `f64`: a double holding Unix-epoch nanoseconds keeps
//! only about 0.2 µs of resolution. `f64` is for small differences (offsets, frequencies) only.

use std::fmt;

/// Nanoseconds in one second.
pub const NANOS_PER_SEC: i64 = 1_000_000_000;

/// An instant on some clock, as whole seconds and nanoseconds since that clock's epoch.
///
/// Always normalised: `nsec` is in `0..1_000_000_000`, so an instant before the epoch has a
/// negative `sec` and a positive `nsec` (−0.25 s is `sec = -1, nsec = 750_000_000`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    sec: i64,
    nsec: u32,
}

impl Timestamp {
    /// The epoch of the clock (zero).
    pub const ZERO: Timestamp = Timestamp { sec: 0, nsec: 0 };

    /// An instant from seconds and nanoseconds; `nsec` outside `0..1e9` is carried into
    /// `sec`, so `new(1, -1)` is 0.999999999 s.
    pub fn new(sec: i64, nsec: i64) -> Timestamp {
        let carry = nsec.div_euclid(NANOS_PER_SEC);
        Timestamp {
            sec: sec.saturating_add(carry),
            nsec: nsec.rem_euclid(NANOS_PER_SEC) as u32,
        }
    }

    /// An instant from a count of nanoseconds since the epoch.
    pub fn from_ns(ns: i64) -> Timestamp {
        Timestamp::new(0, ns)
    }

    /// Nanoseconds since the epoch. Saturates at the ends of `i64` (year 1677 and 2262).
    pub fn as_ns(self) -> i64 {
        self.sec
            .saturating_mul(NANOS_PER_SEC)
            .saturating_add(i64::from(self.nsec))
    }

    /// Whole seconds since the epoch (floor).
    pub fn sec(self) -> i64 {
        self.sec
    }

    /// Nanoseconds past [`sec`](Self::sec), in `0..1_000_000_000`.
    pub fn nsec(self) -> u32 {
        self.nsec
    }

    /// This instant moved by `delta_ns` nanoseconds.
    pub fn add_ns(self, delta_ns: i64) -> Timestamp {
        Timestamp::new(self.sec, i64::from(self.nsec) + delta_ns)
    }

    /// `self - earlier` in nanoseconds, saturating at the ends of `i64` (±292 years).
    pub fn diff_ns(self, earlier: Timestamp) -> i64 {
        let ds = i128::from(self.sec) - i128::from(earlier.sec);
        let dn = i128::from(self.nsec) - i128::from(earlier.nsec);
        let total = ds * i128::from(NANOS_PER_SEC) + dn;
        total.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    /// The signed distance in nanoseconds from the nearest whole second to this instant, in
    /// `-500_000_000..500_000_000`, and that second. A pulse stamped at 12.999999990 gives
    /// `(13, -10)`; one at 13.000000010 gives `(13, 10)`.
    pub fn nearest_second(self) -> (i64, i64) {
        let n = i64::from(self.nsec);
        if n >= NANOS_PER_SEC / 2 {
            (self.sec + 1, n - NANOS_PER_SEC)
        } else {
            (self.sec, n)
        }
    }
}

impl fmt::Display for Timestamp {
    /// `sec.nnnnnnnnn`, as pps-tools print kernel timestamps.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.sec < 0 && self.nsec > 0 {
            write!(
                f,
                "-{}.{:09}",
                -(self.sec + 1),
                NANOS_PER_SEC as u32 - self.nsec
            )
        } else {
            write!(f, "{}.{:09}", self.sec, self.nsec)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_negative_and_large_nanoseconds() {
        assert_eq!(Timestamp::new(1, -1), Timestamp::new(0, 999_999_999));
        assert_eq!(
            Timestamp::new(0, 2_500_000_000),
            Timestamp::new(2, 500_000_000)
        );
        assert_eq!(Timestamp::from_ns(-250_000_000).sec(), -1);
        assert_eq!(Timestamp::from_ns(-250_000_000).nsec(), 750_000_000);
    }

    #[test]
    fn round_trips_epoch_nanoseconds_exactly() {
        // 2026-01-01T00:00:00.000000001Z: an f64 could not hold the last digit.
        let ns = 1_767_225_600_000_000_001_i64;
        assert_eq!(Timestamp::from_ns(ns).as_ns(), ns);
        assert_eq!(Timestamp::from_ns(ns).add_ns(-2).as_ns(), ns - 2);
    }

    #[test]
    fn nearest_second_splits_at_half() {
        assert_eq!(Timestamp::new(12, 999_999_990).nearest_second(), (13, -10));
        assert_eq!(Timestamp::new(13, 10).nearest_second(), (13, 10));
        assert_eq!(
            Timestamp::new(13, 500_000_000).nearest_second(),
            (14, -500_000_000)
        );
        assert_eq!(
            Timestamp::new(13, 499_999_999).nearest_second(),
            (13, 499_999_999)
        );
    }

    #[test]
    fn diff_and_display() {
        let a = Timestamp::new(1_700_000_000, 123);
        let b = Timestamp::new(1_699_999_999, 999_999_000);
        assert_eq!(a.diff_ns(b), 1_123);
        assert_eq!(b.diff_ns(a), -1_123);
        assert_eq!(a.to_string(), "1700000000.000000123");
        assert_eq!(Timestamp::from_ns(-250_000_000).to_string(), "-0.250000000");
    }
}
