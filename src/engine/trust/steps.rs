//! Measures steps of CLOCK_REALTIME from the stamps the driver hands the engine: CLOCK_REALTIME
//! and CLOCK_MONOTONIC are slewed alike by adjtimex, so their difference changes only when the
//! realtime clock is set. What ppsd set itself (its own steps, a leap second the kernel
//! applied) is subtracted; the rest is someone else's step, whose size goes into the event and
//! the ledger.
//!
//! It only measures; the clock-change watcher's notice is what declares a foreign step. It
//! never reads a clock.

use super::super::Stamp;

/// Differences below this are the two clock reads of one stamp not being simultaneous, ns.
const TOLERANCE_NS: i64 = 1_000;

/// The realtime − monotonic difference expected, and the steps nobody has explained yet.
#[derive(Clone, Copy, Debug, Default)]
pub struct StepMeter {
    expected: Option<i64>,
    unexplained_ns: i64,
    seen: bool,
}

impl StepMeter {
    /// Takes the stamp of an input.
    pub fn observe(&mut self, at: Stamp) {
        let diff = at.real.as_ns().saturating_sub(at.mono_ns);
        if let Some(expected) = self.expected {
            let jump = diff.saturating_sub(expected);
            if jump.abs() > TOLERANCE_NS {
                self.unexplained_ns = self.unexplained_ns.saturating_add(jump);
                self.seen = true;
            }
        }
        self.expected = Some(diff);
    }

    /// ppsd stepped the clock by `delta_ns` (applied before the next stamp is taken), or the
    /// kernel applied a leap second: not a foreign step.
    pub fn explain(&mut self, delta_ns: i64) {
        match self.expected.as_mut() {
            Some(e) if !self.seen => *e = e.saturating_add(delta_ns),
            _ => {
                // Already seen (a leap the kernel applied before its notice was handled).
                self.unexplained_ns = self.unexplained_ns.saturating_sub(delta_ns);
                self.seen = self.unexplained_ns.abs() > TOLERANCE_NS;
            }
        }
    }

    /// The size of the steps seen and not explained so far (ns), if any, leaving it there.
    pub fn peek(&self) -> Option<i64> {
        self.seen.then_some(self.unexplained_ns)
    }

    /// The size of the steps seen and not explained since the last call (ns), if any.
    pub fn take(&mut self) -> Option<i64> {
        let seen = std::mem::take(&mut self.seen);
        let size = std::mem::take(&mut self.unexplained_ns);
        seen.then_some(size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    fn at(mono_ns: i64, real_ns: i64) -> Stamp {
        Stamp {
            mono_ns,
            real: Timestamp::from_ns(real_ns),
        }
    }

    #[test]
    fn own_steps_are_explained_and_foreign_ones_measured() {
        let mut m = StepMeter::default();
        m.observe(at(0, 5_000));
        m.observe(at(1_000_000, 1_005_300));
        assert_eq!(m.take(), None, "300 ns is read jitter");
        m.explain(-2_000_000);
        m.observe(at(2_000_000, 5_300));
        assert_eq!(m.take(), None, "ppsd's own step");
        m.observe(at(3_000_000, 5_001_005_300));
        assert_eq!(m.take(), Some(5_000_000_000));
        assert_eq!(m.take(), None);
        // A leap second the kernel applied before its notice came.
        m.observe(at(4_000_000, 4_002_005_300));
        m.explain(-1_000_000_000);
        assert_eq!(m.take(), None);
    }
}
