//! Basic pulse filter: drops a fetched pulse that is a duplicate, that comes with more events
//! than seconds elapsed (an extra pulse happened), or whose interval from the previous pulse is
//! too far from a whole number of seconds.
//!
//! Intervals are taken between consecutive non-duplicate pulses, accepted or not, so a receiver
//! whose pulse train moves (antenna fault) costs one rejected pulse and then is measured, and the
//! move shows up in the offsets for the trust engine to see. The filter owns no clock; the engine
//! tells it about its own steps ([`PulseFilter::shift`]) and about foreign ones
//! ([`PulseFilter::forget`]). It never panics on any input.

use crate::time::{Timestamp, NANOS_PER_SEC};

/// Why a pulse was not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectReason {
    /// The interval from the previous pulse is this far (ns) from a whole number of seconds
    /// (less than half a second counts as zero seconds).
    Interval {
        /// Interval minus the nearest whole number of seconds (at least one), ns.
        deviation_ns: i64,
    },
    /// More events than whole seconds since the previous pulse: an extra pulse came.
    ExtraEvents {
        /// Sequence numbers advanced by this much.
        seq_delta: u32,
        /// Whole seconds elapsed.
        seconds: i64,
    },
    /// The servo found the pulse too far from where the clock's prediction puts it.
    Outlier {
        /// Offset the pulse measured, ns.
        offset_ns: i64,
    },
    /// The pulse belongs to a train that moved and is under suspicion.
    MovedTrain {
        /// Offset the pulse measured, ns.
        offset_ns: i64,
    },
}

/// What the filter says about one fetched pulse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A new pulse fit to measure.
    Accept,
    /// The same event as last time (or none yet): nothing new.
    Duplicate,
    /// A new event not fit to measure.
    Reject(RejectReason),
}

/// The filter's state: the previous non-duplicate pulse.
#[derive(Clone, Debug)]
pub struct PulseFilter {
    last: Option<(u32, Timestamp)>,
    last_seq: Option<u32>,
    window_ns: i64,
}

impl PulseFilter {
    /// A filter accepting intervals within `window_ns` per elapsed second (plus the frequency the
    /// engine has set) of a whole number of seconds.
    pub fn new(window_ns: i64) -> PulseFilter {
        PulseFilter {
            last: None,
            last_seq: None,
            window_ns: window_ns.max(0),
        }
    }

    /// Judges the pulse with sequence number `seq` stamped at `stamp`, while the engine has the
    /// clock's frequency set `set_ppb` away from nominal.
    pub fn check(&mut self, seq: u32, stamp: Timestamp, set_ppb: f64) -> Verdict {
        if seq == 0 || self.last_seq == Some(seq) {
            return Verdict::Duplicate;
        }
        self.last_seq = Some(seq);
        let Some((last_seq, last_stamp)) = self.last.replace((seq, stamp)) else {
            return Verdict::Accept;
        };
        let interval = stamp.diff_ns(last_stamp);
        let seconds = (interval + NANOS_PER_SEC / 2)
            .div_euclid(NANOS_PER_SEC)
            .max(1);
        let deviation_ns = interval.saturating_sub(seconds.saturating_mul(NANOS_PER_SEC));
        let per_second = self.window_ns.saturating_add(set_ppb.abs().min(1e9) as i64);
        if deviation_ns.unsigned_abs() > per_second.saturating_mul(seconds).unsigned_abs() {
            return Verdict::Reject(RejectReason::Interval { deviation_ns });
        }
        let seq_delta = seq.wrapping_sub(last_seq);
        if i64::from(seq_delta) > seconds {
            return Verdict::Reject(RejectReason::ExtraEvents { seq_delta, seconds });
        }
        Verdict::Accept
    }

    /// The engine stepped the clock by `delta_ns`: move the remembered stamp with it.
    pub fn shift(&mut self, delta_ns: i64) {
        if let Some((_, stamp)) = &mut self.last {
            *stamp = stamp.add_ns(delta_ns);
        }
    }

    /// Someone else changed the clock by an unknown amount: the next interval is meaningless.
    pub fn forget(&mut self) {
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = NANOS_PER_SEC;

    #[test]
    fn accepts_a_regular_train_and_ignores_repeats() {
        let mut f = PulseFilter::new(1_000_000);
        assert_eq!(f.check(0, Timestamp::ZERO, 0.0), Verdict::Duplicate);
        assert_eq!(f.check(1, Timestamp::new(100, 10), 0.0), Verdict::Accept);
        assert_eq!(f.check(1, Timestamp::new(100, 10), 0.0), Verdict::Duplicate);
        assert_eq!(
            f.check(2, Timestamp::new(101, 60_010), 0.0),
            Verdict::Accept
        );
        // After a 600 s outage, one event per second still fits.
        assert_eq!(f.check(3, Timestamp::new(701, 500), 0.0), Verdict::Accept);
    }

    #[test]
    fn rejects_odd_intervals_and_extra_events() {
        let mut f = PulseFilter::new(1_000_000);
        f.check(1, Timestamp::new(100, 0), 0.0);
        assert_eq!(
            f.check(2, Timestamp::new(100, 300_000_000), 0.0),
            Verdict::Reject(RejectReason::Interval {
                deviation_ns: 300_000_000 - S
            })
        );
        // Measured from the rejected pulse: 0.7 s is no whole second either.
        assert!(matches!(
            f.check(3, Timestamp::new(101, 0), 0.0),
            Verdict::Reject(_)
        ));
        assert_eq!(f.check(4, Timestamp::new(102, 0), 0.0), Verdict::Accept);
        // Two events in one second: a spurious pulse 1 µs after the true one was fetched.
        assert_eq!(
            f.check(6, Timestamp::new(103, 1_000), 0.0),
            Verdict::Reject(RejectReason::ExtraEvents {
                seq_delta: 2,
                seconds: 1
            })
        );
    }

    #[test]
    fn window_widens_with_the_frequency_set_and_follows_own_steps() {
        let mut f = PulseFilter::new(1_000_000);
        f.check(1, Timestamp::new(100, 0), 0.0);
        // 1.5 ms fast in one second: only acceptable while 600 ppm is set.
        assert!(matches!(
            f.check(2, Timestamp::new(101, 1_500_000), 0.0),
            Verdict::Reject(_)
        ));
        assert_eq!(
            f.check(3, Timestamp::new(102, 3_000_000), 600_000.0),
            Verdict::Accept
        );
        f.shift(-3_000_000);
        assert_eq!(f.check(4, Timestamp::new(103, 0), 0.0), Verdict::Accept);
        f.forget();
        assert_eq!(
            f.check(5, Timestamp::new(200, 400_000_000), 0.0),
            Verdict::Accept
        );
    }
}
