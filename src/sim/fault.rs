//! Faults injected into the simulated world, and the queries the driver asks of them.
//!
//! Kinds (scenario key `kind`): `pps_outage`, `spurious_pulse`, `pps_offset`, `foreign_step`,
//! `foreign_freq`, `tod_offset`, `tod_outage`, `daemon_stall`, `leap`. Each starts at a true
//! instant; windowed kinds last `duration_s` (to the end of the run when absent). Instants are
//! integer ns from the start of the run. This module only describes faults; the driver applies
//! them, and nothing here looks at the engine.

use serde::Serialize;

use crate::time::NANOS_PER_SEC;

/// What kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// No pulses.
    PpsOutage,
    /// An extra pulse `offset_ns` after each true second in the window.
    SpuriousPulse,
    /// The receiver's pulses move by `offset_ns`.
    PpsOffset,
    /// Someone else steps the clock by `step_ns`.
    ForeignStep,
    /// Someone else sets the kernel frequency to `freq_ppm`.
    ForeignFreq,
    /// The time-of-day reference is wrong by `offset_s` whole seconds.
    TodOffset,
    /// No time-of-day readings.
    TodOutage,
    /// The daemon gets no CPU: no engine input.
    DaemonStall,
    /// A leap second (`sign` +1 or −1) at the end of the UTC day containing the start.
    Leap,
}

impl FaultKind {
    /// Every kind with its scenario name.
    pub const ALL: [(&'static str, FaultKind); 9] = [
        ("pps_outage", FaultKind::PpsOutage),
        ("spurious_pulse", FaultKind::SpuriousPulse),
        ("pps_offset", FaultKind::PpsOffset),
        ("foreign_step", FaultKind::ForeignStep),
        ("foreign_freq", FaultKind::ForeignFreq),
        ("tod_offset", FaultKind::TodOffset),
        ("tod_outage", FaultKind::TodOutage),
        ("daemon_stall", FaultKind::DaemonStall),
        ("leap", FaultKind::Leap),
    ];

    /// The kind named `name` in a scenario.
    pub fn from_name(name: &str) -> Option<FaultKind> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
    }

    /// Its scenario name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("?", |(n, _)| n)
    }

    /// The key that carries its value, if any.
    pub fn value_key(self) -> Option<&'static str> {
        match self {
            FaultKind::SpuriousPulse | FaultKind::PpsOffset => Some("offset_ns"),
            FaultKind::ForeignStep => Some("step_ns"),
            FaultKind::ForeignFreq => Some("freq_ppm"),
            FaultKind::TodOffset => Some("offset_s"),
            FaultKind::Leap => Some("sign"),
            FaultKind::PpsOutage | FaultKind::TodOutage | FaultKind::DaemonStall => None,
        }
    }

    /// True for kinds that happen at an instant (no `duration_s`).
    pub fn is_instant(self) -> bool {
        matches!(
            self,
            FaultKind::ForeignStep | FaultKind::ForeignFreq | FaultKind::Leap
        )
    }
}

/// One fault, validated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fault {
    /// Kind.
    pub kind: FaultKind,
    /// Start, true ns from the start of the run.
    pub start_ns: i64,
    /// End (exclusive), true ns; equal to `start_ns` for instants.
    pub end_ns: i64,
    /// Integer value (`offset_ns`, `step_ns`, `offset_s`, `sign`), 0 when none.
    pub value: i64,
    /// Frequency value (`freq_ppm`), 0 when none.
    pub freq_ppm: f64,
    /// Line of the fault in the scenario file (for messages).
    pub line: usize,
}

impl Fault {
    /// True while the fault is active at true time `tau`.
    pub fn active(&self, tau: i64) -> bool {
        self.start_ns <= tau && tau < self.end_ns
    }
}

/// The faults of a run.
#[derive(Clone, Debug, Default)]
pub struct FaultSchedule {
    faults: Vec<Fault>,
}

impl FaultSchedule {
    /// A schedule of `faults`.
    pub fn new(faults: Vec<Fault>) -> FaultSchedule {
        FaultSchedule { faults }
    }

    /// All faults, in scenario order.
    pub fn all(&self) -> &[Fault] {
        &self.faults
    }

    fn active(&self, kind: FaultKind, tau: i64) -> impl Iterator<Item = &Fault> {
        self.faults
            .iter()
            .filter(move |f| f.kind == kind && f.active(tau))
    }

    /// No pulse at `tau`.
    pub fn pps_outage(&self, tau: i64) -> bool {
        self.active(FaultKind::PpsOutage, tau).next().is_some()
    }

    /// How far the receiver's pulses are moved at `tau`, ns.
    pub fn pps_shift_ns(&self, tau: i64) -> i64 {
        self.active(FaultKind::PpsOffset, tau)
            .map(|f| f.value)
            .sum()
    }

    /// Offset (ns after the true second) of a spurious pulse belonging to second `tau`, if any.
    pub fn spurious_ns(&self, tau: i64) -> Option<i64> {
        self.active(FaultKind::SpuriousPulse, tau)
            .map(|f| f.value)
            .next()
    }

    /// How many whole seconds the reference is wrong by at `tau`.
    pub fn tod_wrong_s(&self, tau: i64) -> i64 {
        self.active(FaultKind::TodOffset, tau)
            .map(|f| f.value)
            .sum()
    }

    /// No reference reading at `tau`.
    pub fn tod_outage(&self, tau: i64) -> bool {
        self.active(FaultKind::TodOutage, tau).next().is_some()
    }

    /// End of the daemon stall covering `tau`, if one does.
    pub fn stall_end(&self, tau: i64) -> Option<i64> {
        self.active(FaultKind::DaemonStall, tau)
            .map(|f| f.end_ns)
            .max()
    }
}

/// A leap second of UTC, on the true timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeapEvent {
    /// True instant at which UTC reaches the end of the day (24:00:00 before the leap).
    pub day_end_ns: i64,
    /// +1 inserted, −1 deleted.
    pub sign: i64,
    /// From this true instant the reference announces it.
    pub announce_from_ns: i64,
    /// The UTC midnight (Unix s) at which it takes effect, as the leap-seconds list gives it.
    pub at_utc_s: i64,
}

/// UTC on the true timeline: `posix_utc(τ) = epoch + τ + adjustment(τ)`.
#[derive(Clone, Debug, Default)]
pub struct Utc {
    leaps: Vec<LeapEvent>,
}

impl Utc {
    /// UTC of a run starting at Unix ns `epoch_ns`, with the schedule's leap faults.
    pub fn new(epoch_ns: i64, faults: &FaultSchedule) -> Utc {
        let day = 86_400 * NANOS_PER_SEC;
        let mut leaps: Vec<LeapEvent> = Vec::new();
        let mut adjust = 0;
        let mut sorted: Vec<&Fault> = faults
            .all()
            .iter()
            .filter(|f| f.kind == FaultKind::Leap)
            .collect();
        sorted.sort_by_key(|f| f.start_ns);
        for f in sorted {
            let posix = epoch_ns + f.start_ns + adjust;
            let day_end_posix = (posix.div_euclid(day) + 1) * day;
            let day_end_ns = day_end_posix - epoch_ns - adjust;
            leaps.push(LeapEvent {
                day_end_ns,
                sign: f.value.signum(),
                announce_from_ns: f.start_ns,
                at_utc_s: day_end_posix.div_euclid(NANOS_PER_SEC),
            });
            adjust -= f.value.signum() * NANOS_PER_SEC;
        }
        Utc { leaps }
    }

    /// The leaps.
    pub fn leaps(&self) -> &[LeapEvent] {
        &self.leaps
    }

    /// `posix_utc(τ) − epoch − τ`, ns: −1 s after each inserted second (from its start),
    /// +1 s after each deleted one.
    pub fn adjustment_ns(&self, tau: i64) -> i64 {
        let mut adj = 0;
        for l in &self.leaps {
            let from = if l.sign > 0 {
                l.day_end_ns
            } else {
                l.day_end_ns - NANOS_PER_SEC
            };
            if tau >= from {
                adj -= l.sign * NANOS_PER_SEC;
            }
        }
        adj
    }

    /// What the simulated world's leap-seconds list says at `tau`: the leap from its
    /// announcement on (as a list updated then would), until 2 s after it.
    pub fn notice(&self, tau: i64) -> crate::engine::LeapNotice {
        for l in &self.leaps {
            if l.announce_from_ns <= tau && tau < l.day_end_ns + 2 * NANOS_PER_SEC {
                let leap = if l.sign > 0 {
                    crate::engine::Leap::Insert
                } else {
                    crate::engine::Leap::Delete
                };
                return crate::engine::LeapNotice::Leap {
                    at_utc_s: l.at_utc_s,
                    leap,
                };
            }
        }
        crate::engine::LeapNotice::NoLeap
    }

    /// The leap the reference announces at `tau`.
    pub fn announced(&self, tau: i64) -> crate::engine::Leap {
        for l in &self.leaps {
            if l.announce_from_ns <= tau && tau < l.day_end_ns {
                return if l.sign > 0 {
                    crate::engine::Leap::Insert
                } else {
                    crate::engine::Leap::Delete
                };
            }
        }
        crate::engine::Leap::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = NANOS_PER_SEC;

    fn fault(kind: FaultKind, start_s: i64, dur_s: i64, value: i64) -> Fault {
        Fault {
            kind,
            start_ns: start_s * S,
            end_ns: (start_s + dur_s) * S,
            value,
            freq_ppm: 0.0,
            line: 1,
        }
    }

    #[test]
    fn windows_are_half_open() {
        let s = FaultSchedule::new(vec![
            fault(FaultKind::PpsOutage, 10, 5, 0),
            fault(FaultKind::PpsOffset, 20, 10, 2_000),
            fault(FaultKind::DaemonStall, 40, 3, 0),
        ]);
        assert!(!s.pps_outage(10 * S - 1));
        assert!(s.pps_outage(10 * S) && s.pps_outage(15 * S - 1));
        assert!(!s.pps_outage(15 * S));
        assert_eq!(s.pps_shift_ns(25 * S), 2_000);
        assert_eq!(s.stall_end(41 * S), Some(43 * S));
        assert_eq!(
            FaultKind::from_name("tod_offset"),
            Some(FaultKind::TodOffset)
        );
        assert_eq!(FaultKind::from_name("meteor"), None);
    }

    #[test]
    fn utc_inserts_and_deletes_seconds_at_day_end() {
        // Run starts 100 s before midnight; a positive leap that day.
        let epoch = 86_300 * S;
        let s = FaultSchedule::new(vec![fault(FaultKind::Leap, 0, 0, 1)]);
        let utc = Utc::new(epoch, &s);
        assert_eq!(utc.leaps()[0].day_end_ns, 100 * S);
        assert_eq!(utc.adjustment_ns(100 * S - 1), 0);
        assert_eq!(utc.adjustment_ns(100 * S), -S);
        assert_eq!(utc.announced(50 * S), crate::engine::Leap::Insert);
        assert_eq!(utc.announced(100 * S), crate::engine::Leap::None);
        assert_eq!(
            utc.notice(50 * S),
            crate::engine::LeapNotice::Leap {
                at_utc_s: 86_400,
                leap: crate::engine::Leap::Insert
            }
        );
        assert_eq!(utc.notice(102 * S), crate::engine::LeapNotice::NoLeap);
        let s = FaultSchedule::new(vec![fault(FaultKind::Leap, 0, 0, -1)]);
        let utc = Utc::new(epoch, &s);
        assert_eq!(utc.adjustment_ns(99 * S - 1), 0);
        assert_eq!(utc.adjustment_ns(99 * S), S);
    }
}
