//! The ledger of untrusted intervals: every stretch of time in which the published state was
//! not INSYNC, with when it began and ended, why, the worst state and bound published, and how
//! far the clock was stepped meanwhile. EN 319 421 (7.13) asks a time-stamp authority to
//! identify the time-stamps a loss of calibration may have affected; these records say which.
//!
//! An interval begins at the last instant the engine vouched for the clock (the last INSYNC
//! publication, TimeMonitor's "last trusted time"), not at the moment a fault was found: a
//! fault found now may have happened any time since that publication. So the time-stamps that
//! may be affected are those whose time lies in `[start − clock_steps_ns, end + clock_steps_ns]`
//! (a backward step makes the clock read earlier times twice).
//!
//! Pure: the engine produces the records as events ([`EngineEvent::UntrustedBegan`] when an
//! interval opens, [`EngineEvent::UntrustedEnded`] when it closes); the daemon persists them
//! (`crate::publish::ledger`). This module never reads a clock or writes a file.

use crate::time::Timestamp;

use super::event::EngineEvent;
use super::trust::{Reason, SyncState};
use super::{Action, Stamp};

/// An untrusted interval has begun (the daemon persists this at once, so a crash leaves a
/// trace of the open interval).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UntrustedBegan {
    /// CLOCK_REALTIME of the last INSYNC publication before it (or of the first publication,
    /// if the state was never INSYNC).
    pub start: Timestamp,
    /// CLOCK_REALTIME when the engine found the state no longer INSYNC.
    pub found: Timestamp,
    /// Why, as first found.
    pub reason: Reason,
    /// The state published then.
    pub state: SyncState,
}

/// A closed untrusted interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UntrustedInterval {
    /// CLOCK_REALTIME of the last INSYNC publication before it (or of the first publication).
    pub start: Timestamp,
    /// CLOCK_REALTIME of the first INSYNC publication after it.
    pub end: Timestamp,
    /// Its length on CLOCK_MONOTONIC, ns.
    pub duration_ns: i64,
    /// Why it began.
    pub reason: Reason,
    /// The worst state published in it.
    pub worst_state: SyncState,
    /// The largest bound published in it, ns; `None` when at some point no bound was given.
    pub worst_bound_ns: Option<i64>,
    /// Sum of the sizes of the clock steps seen in it, ns (own and foreign).
    pub clock_steps_ns: i64,
}

#[derive(Clone, Copy, Debug)]
struct Open {
    began: UntrustedBegan,
    start_mono_ns: i64,
    worst_state: SyncState,
    worst_bound_ns: i64,
    steps_ns: i64,
}

/// Tracks the interval in progress.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    open: Option<Open>,
    /// The last INSYNC publication: CLOCK_REALTIME and CLOCK_MONOTONIC.
    trusted: Option<(Timestamp, i64)>,
    /// Steps seen while no interval was open, booked to the next one.
    pending_steps_ns: i64,
}

/// Rank of a state for "worst": INSYNC < SOON_OUT_OF_SYNC < UNKNOWN < OUT_OF_SYNC.
fn rank(s: SyncState) -> u8 {
    match s {
        SyncState::InSync => 0,
        SyncState::SoonOutOfSync => 1,
        SyncState::Unknown => 2,
        SyncState::OutOfSync => 3,
    }
}

impl Ledger {
    /// The interval in progress, if any (the daemon records it as open when it stops).
    pub fn open(&self) -> Option<UntrustedBegan> {
        self.open.map(|o| o.began)
    }

    /// The clock was stepped by `delta_ns` (by ppsd, by someone else, or by a leap second).
    pub fn clock_stepped(&mut self, delta_ns: i64) {
        let size = delta_ns.saturating_abs();
        match &mut self.open {
            Some(o) => o.steps_ns = o.steps_ns.saturating_add(size),
            None => self.pending_steps_ns = self.pending_steps_ns.saturating_add(size),
        }
    }

    /// Takes the state published at `at` with its reason and bound; pushes an event when an
    /// interval opens or closes.
    pub fn observe(
        &mut self,
        at: Stamp,
        state: SyncState,
        reason: Reason,
        bound_ns: i64,
        out: &mut Vec<Action>,
    ) {
        if state == SyncState::InSync {
            if let Some(o) = self.open.take() {
                let interval = UntrustedInterval {
                    start: o.began.start,
                    end: at.real,
                    duration_ns: at.mono_ns.saturating_sub(o.start_mono_ns),
                    reason: o.began.reason,
                    worst_state: o.worst_state,
                    worst_bound_ns: (o.worst_bound_ns != i64::MAX).then_some(o.worst_bound_ns),
                    clock_steps_ns: o.steps_ns,
                };
                out.push(Action::Event(EngineEvent::UntrustedEnded(interval)));
            }
            self.trusted = Some((at.real, at.mono_ns));
            self.pending_steps_ns = 0;
            return;
        }
        match &mut self.open {
            Some(o) => {
                if rank(state) > rank(o.worst_state) {
                    o.worst_state = state;
                }
                o.worst_bound_ns = o.worst_bound_ns.max(bound_ns);
            }
            None => {
                let (start, start_mono_ns) = self.trusted.unwrap_or((at.real, at.mono_ns));
                let began = UntrustedBegan {
                    start,
                    found: at.real,
                    reason,
                    state,
                };
                self.open = Some(Open {
                    began,
                    start_mono_ns,
                    worst_state: state,
                    worst_bound_ns: bound_ns,
                    steps_ns: std::mem::take(&mut self.pending_steps_ns),
                });
                out.push(Action::Event(EngineEvent::UntrustedBegan(began)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn at(t_ns: i64) -> Stamp {
        Stamp {
            mono_ns: t_ns,
            real: Timestamp::from_ns(1_767_225_600 * S + t_ns),
        }
    }

    fn events(out: &[Action]) -> Vec<EngineEvent> {
        out.iter()
            .filter_map(|a| match a {
                Action::Event(e) => Some(*e),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn an_interval_runs_from_the_last_trusted_instant_to_insync_again() {
        let mut l = Ledger::default();
        let mut out = Vec::new();
        // Untrusted from the first publication: the start-up interval.
        l.observe(
            at(0),
            SyncState::Unknown,
            Reason::Starting,
            i64::MAX,
            &mut out,
        );
        l.observe(at(20 * S), SyncState::InSync, Reason::None, 300, &mut out);
        l.observe(at(30 * S), SyncState::InSync, Reason::None, 300, &mut out);
        l.observe(
            at(30 * S + 700_000_000),
            SyncState::OutOfSync,
            Reason::ForeignChange,
            400,
            &mut out,
        );
        assert_eq!(l.open().map(|b| b.start), Some(at(30 * S).real));
        l.clock_stepped(-5_000_000);
        l.observe(
            at(31 * S),
            SyncState::Unknown,
            Reason::Starting,
            i64::MAX,
            &mut out,
        );
        l.observe(
            at(40 * S),
            SyncState::SoonOutOfSync,
            Reason::None,
            900,
            &mut out,
        );
        l.observe(at(50 * S), SyncState::InSync, Reason::None, 300, &mut out);
        assert_eq!(l.open(), None);
        let ev = events(&out);
        assert_eq!(ev.len(), 4, "{ev:?}");
        let EngineEvent::UntrustedEnded(first) = ev[1] else {
            panic!("{ev:?}")
        };
        assert_eq!(
            (first.start, first.end, first.reason),
            (at(0).real, at(20 * S).real, Reason::Starting)
        );
        let EngineEvent::UntrustedBegan(began) = ev[2] else {
            panic!("{ev:?}")
        };
        assert_eq!(began.found, at(30 * S + 700_000_000).real);
        let EngineEvent::UntrustedEnded(second) = ev[3] else {
            panic!("{ev:?}")
        };
        assert_eq!(second.start, at(30 * S).real);
        assert_eq!(second.end, at(50 * S).real);
        assert_eq!(second.duration_ns, 20 * S);
        assert_eq!(second.reason, Reason::ForeignChange);
        assert_eq!(second.worst_state, SyncState::OutOfSync);
        assert_eq!(second.worst_bound_ns, None, "no bound at one point");
        assert_eq!(second.clock_steps_ns, 5_000_000);
    }

    #[test]
    fn steps_seen_before_the_interval_opens_are_booked_to_it() {
        let mut l = Ledger::default();
        let mut out = Vec::new();
        l.observe(at(0), SyncState::InSync, Reason::None, 100, &mut out);
        l.clock_stepped(2_000);
        l.observe(
            at(S),
            SyncState::OutOfSync,
            Reason::ForeignChange,
            100,
            &mut out,
        );
        l.observe(at(2 * S), SyncState::InSync, Reason::None, 100, &mut out);
        let ev = events(&out);
        let EngineEvent::UntrustedEnded(i) = ev[1] else {
            panic!("{ev:?}")
        };
        assert_eq!((i.clock_steps_ns, i.worst_bound_ns), (2_000, Some(100)));
    }
}
