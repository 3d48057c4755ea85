//! Measurement: the offset of the clock from a pulse, in integer nanoseconds.
//!
//! A pulse marks a whole second of the reference. Its kernel timestamp, less the configured
//! delays (receiver, antenna cable, capture latency), minus the nearest whole second of the
//! clock, is the clock's offset: positive when the clock is ahead. Which second the pulse
//! belongs to is not decided here (only the time-of-day check can), so the offset is always in
//! −0.5 s..0.5 s. This module never reads a clock and never uses floating point.

use crate::time::Timestamp;

/// The clock's offset measured at one pulse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Measurement {
    /// The clock's whole second nearest the (delay-corrected) pulse.
    pub second: i64,
    /// Clock minus reference at the pulse, ns, in `-500_000_000..500_000_000`.
    pub offset_ns: i64,
}

/// Measures the offset of a pulse stamped at `stamp` whose true edge came `delay_ns` before the
/// stamp (receiver, cable and capture delays added up; negative if the pulse is early).
///
/// ```
/// use ppsd::engine::measure::measure;
/// use ppsd::time::Timestamp;
/// let m = measure(Timestamp::new(99, 999_999_900), 50);
/// assert_eq!((m.second, m.offset_ns), (100, -150));
/// ```
pub fn measure(stamp: Timestamp, delay_ns: i64) -> Measurement {
    let (second, offset_ns) = stamp.add_ns(-delay_ns).nearest_second();
    Measurement { second, offset_ns }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_on_both_sides_of_the_second() {
        let m = measure(Timestamp::new(1_767_225_600, 1_234), 0);
        assert_eq!((m.second, m.offset_ns), (1_767_225_600, 1_234));
        let m = measure(Timestamp::new(1_767_225_599, 999_998_766), 0);
        assert_eq!((m.second, m.offset_ns), (1_767_225_600, -1_234));
    }

    #[test]
    fn delay_is_subtracted_and_can_cross_the_second() {
        // Stamped 30 ns after the second, but the receiver and cable add 100 ns: the clock
        // is 70 ns behind.
        let m = measure(Timestamp::new(10, 30), 100);
        assert_eq!((m.second, m.offset_ns), (10, -70));
    }

    #[test]
    fn half_second_edges_stay_in_range() {
        let m = measure(Timestamp::new(10, 500_000_000), 0);
        assert_eq!((m.second, m.offset_ns), (11, -500_000_000));
        let m = measure(Timestamp::new(10, 499_999_999), 0);
        assert_eq!((m.second, m.offset_ns), (10, 499_999_999));
        let m = measure(Timestamp::new(10, 499_999_999), -1);
        assert_eq!((m.second, m.offset_ns), (11, -500_000_000));
    }
}
