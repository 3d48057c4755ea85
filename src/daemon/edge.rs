//! When to fetch the next pulse: just after its expected edge, predicted from the last one on
//! the monotonic clock (which is slewed with CLOCK_REALTIME but never stepped, so the engine's
//! own steps do not move the prediction).
//!
//! A PPS device may report itself readable all the time (see DESIGN.md), so the loop never
//! waits on its fd: it fetches with timeout 0 at the predicted instant. Until a first pulse
//! has been seen, or after a few expected pulses did not come, the edge is unknown and the loop
//! looks every [`SEARCH_NS`]. Pure: no clock, no device.

use crate::engine::Stamp;
use crate::io::{Edge, PpsFetch};
use crate::time::NANOS_PER_SEC;

/// Fetch interval while the edge is unknown, ns.
pub const SEARCH_NS: i64 = 100_000_000;
/// Expected pulses missed in a row before the edge counts as unknown again.
const MAX_MISSES: u32 = 3;

/// The edge predictor.
#[derive(Clone, Debug)]
pub struct EdgeTimer {
    edge: Edge,
    delay_ns: i64,
    last_seq: Option<u32>,
    expected: Option<i64>,
    misses: u32,
}

impl EdgeTimer {
    /// A predictor for `edge`, fetching `delay_ns` after it.
    pub fn new(edge: Edge, delay_ns: i64) -> EdgeTimer {
        EdgeTimer {
            edge,
            delay_ns,
            last_seq: None,
            expected: None,
            misses: 0,
        }
    }

    /// True if `fetch` holds an event on our edge that the last one did not.
    pub fn is_new(&self, fetch: &PpsFetch) -> bool {
        let seq = match self.edge {
            Edge::Assert => fetch.assert_seq,
            Edge::Clear => fetch.clear_seq,
        };
        seq != 0 && self.last_seq != Some(seq)
    }

    /// Takes the result of a fetch made at `at` (`None`: the device could not be read) and
    /// returns when to fetch next, on the same monotonic clock as `at`.
    pub fn after_fetch(&mut self, at: Stamp, fetch: Option<&PpsFetch>) -> i64 {
        if let Some(f) = fetch.filter(|f| self.is_new(f)) {
            let (seq, stamp) = match self.edge {
                Edge::Assert => (f.assert_seq, f.assert),
                Edge::Clear => (f.clear_seq, f.clear),
            };
            self.last_seq = Some(seq);
            let age = at.real.diff_ns(stamp).clamp(0, NANOS_PER_SEC);
            let pulse_mono = at.mono_ns - age;
            self.expected = Some(pulse_mono + NANOS_PER_SEC);
            self.misses = 0;
        } else if let Some(expected) = self.expected {
            self.misses += 1;
            if self.misses >= MAX_MISSES {
                self.expected = None;
            } else {
                let mut next = expected;
                while next + self.delay_ns <= at.mono_ns {
                    next += NANOS_PER_SEC;
                }
                self.expected = Some(next);
            }
        }
        match self.expected {
            Some(e) if e + self.delay_ns > at.mono_ns => e + self.delay_ns,
            Some(e) => e + NANOS_PER_SEC + self.delay_ns,
            None => at.mono_ns + SEARCH_NS,
        }
    }

    /// True while the edge is known.
    pub fn locked(&self) -> bool {
        self.expected.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    const S: i64 = NANOS_PER_SEC;
    const MS: i64 = 1_000_000;

    /// Realtime runs 7.3 s ahead of monotonic in these tests.
    fn at(mono: i64) -> Stamp {
        Stamp {
            mono_ns: mono,
            real: Timestamp::from_ns(mono + 7 * S + 300 * MS),
        }
    }

    fn pulse(seq: u32, real_ns: i64) -> PpsFetch {
        PpsFetch {
            assert: Timestamp::from_ns(real_ns),
            assert_seq: seq,
            ..PpsFetch::default()
        }
    }

    #[test]
    fn searches_until_a_pulse_then_fetches_just_after_each_edge() {
        let mut t = EdgeTimer::new(Edge::Assert, 10 * MS);
        assert_eq!(
            t.after_fetch(at(100 * S), Some(&PpsFetch::default())),
            100 * S + SEARCH_NS
        );
        assert!(!t.locked());
        // Pulse stamped at realtime 108.0 s = monotonic 100.7 s, fetched at 100.75 s.
        let next = t.after_fetch(at(100 * S + 750 * MS), Some(&pulse(1, 108 * S)));
        assert_eq!(next, 101 * S + 700 * MS + 10 * MS);
        assert!(t.locked());
        let next = t.after_fetch(at(next), Some(&pulse(2, 109 * S + 1_000)));
        assert_eq!(next, 102 * S + 700 * MS + 1_000 + 10 * MS);
    }

    #[test]
    fn misses_keep_the_phase_then_fall_back_to_searching() {
        let mut t = EdgeTimer::new(Edge::Assert, 10 * MS);
        let p = pulse(5, 108 * S);
        let next = t.after_fetch(at(100 * S + 710 * MS), Some(&p));
        // Same event again: the pulse did not come; expect it a second later.
        let next = t.after_fetch(at(next), Some(&p));
        assert_eq!(next, 102 * S + 710 * MS);
        let next = t.after_fetch(at(next), None);
        assert_eq!(next, 103 * S + 710 * MS);
        let next = t.after_fetch(at(next), Some(&p));
        assert!(!t.locked());
        assert_eq!(next, 103 * S + 710 * MS + SEARCH_NS);
    }

    #[test]
    fn clear_edge_and_zero_sequence() {
        let t = EdgeTimer::new(Edge::Clear, MS);
        assert!(
            !t.is_new(&pulse(3, 5)),
            "assert events do not count for the clear edge"
        );
        let f = PpsFetch {
            clear_seq: 1,
            ..PpsFetch::default()
        };
        assert!(t.is_new(&f));
    }
}
