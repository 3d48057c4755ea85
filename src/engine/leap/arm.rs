//! The leap second in the engine: which announcement counts (the leap-seconds list, else the
//! references), when the kernel is armed (`STA_INS`/`STA_DEL` only during the UTC day that
//! ends with the leap), what leap state is published (from `lead_s` before the leap until it is
//! over), and whether the kernel really applied it (its `TIME_*` states seen through adjtimex
//! reads: INS → OOP → WAIT for an insertion, DEL → WAIT for a deletion).
//!
//! Pure bookkeeping inside the engine: it takes instants (CLOCK_REALTIME of the disciplined
//! clock), notices and adjtimex snapshots, and returns events and decisions. It never reads a
//! clock or a file, never writes the kernel itself, and never trusts an announcement that a
//! configured list cannot back (unless the reference is authenticated): in doubt, UNKNOWN.
//!
//! Reference indications follow NTP's leap indicator (and gpsd's leap field): a leap at the end
//! of the current *month*. It is taken as "tonight" only on the last day of a month.

use crate::io::{ClockSnapshot, ClockState, ClockStatus};
use crate::time::Timestamp;

use super::super::event::EngineEvent;
use super::super::trust::LeapState;
use super::super::Leap;

/// Seconds in a UTC day without a leap second.
const DAY_S: i64 = 86_400;
/// A leap not applied by this long (s, CLOCK_REALTIME) after its midnight was not applied,
/// whatever the stamps show (the backstop of [`APPLY_GRACE_NS`]).
pub const VERIFY_AFTER_S: i64 = 3;
/// An armed leap whose step the stamps do not show this long (ns, by the clock) after the
/// instant the kernel makes it (an insertion at its midnight, a deletion at 23:59:59) was not
/// applied: the clock reads a second the kernel should have changed. The kernel steps at the
/// first tick of that instant, a few ms at most; the rest is margin for a late input. Inside
/// this grace the leap window (from `leap.window_after_ms` = 1000 by default) still refuses.
pub const APPLY_GRACE_NS: i64 = 500_000_000;
/// How long after a leap (s) its instant stays published, so the window after it is kept.
const KEEP_AFTER_S: i64 = 60;
/// Most kernel states kept in the trail of one leap.
const TRAIL_LEN: usize = 8;
/// Time-of-day readings stamped, or naming a reference time, this close (ns, by the clock) to
/// the midnight of an armed or just-applied leap are not judged: around the step, which of the
/// two 23:59:59 (or whether the clock had stepped yet) a reading belongs to is ambiguous.
pub const AMBIGUOUS_NS: i64 = 2_000_000_000;

/// Where the published leap state came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub enum LeapSource {
    /// Nothing usable: the state is UNKNOWN.
    #[default]
    #[serde(rename = "none")]
    None,
    /// The leap-seconds list.
    #[serde(rename = "file")]
    File,
    /// A time-of-day reference's leap indication (NTP LI, gpsd).
    #[serde(rename = "reference")]
    Reference,
}

impl LeapSource {
    /// `none`, `file` or `reference`.
    pub fn as_str(self) -> &'static str {
        match self {
            LeapSource::None => "none",
            LeapSource::File => "file",
            LeapSource::Reference => "reference",
        }
    }
}

/// What the leap-seconds list says now (`Input::LeapNotice`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LeapNotice {
    /// No list is configured: the references announce leaps (the engine's initial belief).
    #[default]
    NoList,
    /// A list is configured but cannot be used (missing, damaged, bad hash, expired).
    Unusable,
    /// The list is current and announces no leap.
    NoLeap,
    /// The list is current and announces a leap.
    Leap {
        /// The UTC midnight (Unix s) at which the new offset takes effect.
        at_utc_s: i64,
        /// Inserted or deleted.
        leap: Leap,
    },
}

/// The kernel clock states seen around one leap, in order, repeats and `TIME_ERROR` left out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateTrail {
    states: [ClockState; TRAIL_LEN],
    len: u8,
    /// `TIME_ERROR` was read at least once (the kernel hides its leap state while unsynced).
    pub hidden: bool,
}

impl std::fmt::Display for StateTrail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.write_to(f)
    }
}

impl StateTrail {
    fn push(&mut self, s: ClockState) {
        if s == ClockState::Error {
            self.hidden = true;
            return;
        }
        let n = usize::from(self.len);
        if n > 0 && self.states[n - 1] == s {
            return;
        }
        if n < TRAIL_LEN {
            self.states[n] = s;
            self.len += 1;
        }
    }

    /// The states, in order.
    pub fn states(&self) -> &[ClockState] {
        &self.states[..usize::from(self.len)]
    }

    /// True when the trail holds the sequence the kernel goes through for `leap`: INS, OOP,
    /// WAIT (insert) or DEL, WAIT (delete), in that order (other states may sit between).
    pub fn shows(&self, leap: Leap) -> bool {
        let want: &[ClockState] = match leap {
            Leap::Insert => &[ClockState::Ins, ClockState::Oop, ClockState::Wait],
            Leap::Delete => &[ClockState::Del, ClockState::Wait],
            Leap::None => return false,
        };
        let mut it = self.states().iter();
        want.iter().all(|w| it.any(|s| s == w))
    }

    /// `INS>OOP>WAIT>OK` (`-` when nothing was seen).
    pub fn write_to(&self, out: &mut impl std::fmt::Write) -> std::fmt::Result {
        if self.len == 0 {
            return out.write_str("-");
        }
        for (i, s) in self.states().iter().enumerate() {
            if i > 0 {
                out.write_char('>')?;
            }
            out.write_str(state_name(*s))?;
        }
        Ok(())
    }
}

/// `OK`, `INS`, `DEL`, `OOP`, `WAIT`, `ERROR`.
pub fn state_name(s: ClockState) -> &'static str {
    match s {
        ClockState::Ok => "OK",
        ClockState::Ins => "INS",
        ClockState::Del => "DEL",
        ClockState::Oop => "OOP",
        ClockState::Wait => "WAIT",
        ClockState::Error => "ERROR",
    }
}

/// The leap the published state and the window refer to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeapView {
    /// UTC midnight (Unix s) at which the leap takes effect; 0: none near.
    pub at_utc_s: i64,
    /// Its sign (`Leap::None` with `at_utc_s` 0).
    pub leap: Leap,
    /// The kernel has not applied it yet (CLOCK_REALTIME still has the leap ahead of it).
    pub pending: bool,
    /// Where the leap state came from.
    pub source: LeapSource,
}

/// A leap armed in the kernel.
#[derive(Clone, Copy, Debug)]
struct Armed {
    leap: Leap,
    at_utc_s: i64,
    trail: StateTrail,
    /// The clock stepped by the leap (notice or stamps).
    stepped: bool,
}

/// A reference's last leap indication.
#[derive(Clone, Copy, Debug)]
struct RefView {
    leap: Leap,
    /// The month end it refers to (UTC midnight, Unix s).
    month_end_s: i64,
    authenticated: bool,
}

/// What [`LeapKeeper::update`] decided.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Update {
    /// The status bits to write changed (armed or disarmed).
    pub status_changed: bool,
    /// The kernel did not apply a leap it was armed for: fail closed.
    pub not_applied: bool,
}

/// The engine's leap bookkeeping.
#[derive(Clone, Debug)]
pub struct LeapKeeper {
    lead_s: i64,
    list: LeapNotice,
    reference: Option<RefView>,
    armed: Option<Armed>,
    /// The last leap that is over (applied or given up), its midnight; 0 for none.
    done_at_s: i64,
    done_leap: Leap,
    source: Option<LeapSource>,
    disagreement: Option<(Leap, i64)>,
    candidate: Option<(Leap, i64)>,
    noticed: bool,
    /// The stamps show an unexplained step of the armed leap's size (its notice is due).
    jump_seen: bool,
}

/// The UTC midnight (Unix s) that ends the day of `s`.
pub fn day_end_s(s: i64) -> i64 {
    (s.div_euclid(DAY_S) + 1) * DAY_S
}

/// The UTC midnight (Unix s) that ends the month of `s` (first instant of the next month).
pub fn month_end_s(s: i64) -> i64 {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(s) else {
        return day_end_s(s);
    };
    let (y, m) = match t.month() {
        time::Month::December => (t.year() + 1, time::Month::January),
        m => (t.year(), m.next()),
    };
    time::Date::from_calendar_date(y, m, 1)
        .map(|d| d.midnight().assume_utc().unix_timestamp())
        .unwrap_or_else(|_| day_end_s(s))
}

impl LeapKeeper {
    /// A keeper publishing a leap from `lead_s` seconds before it.
    pub fn new(lead_s: i64) -> LeapKeeper {
        LeapKeeper {
            lead_s: lead_s.max(0),
            list: LeapNotice::NoList,
            reference: None,
            armed: None,
            done_at_s: 0,
            done_leap: Leap::None,
            source: None,
            disagreement: None,
            candidate: None,
            noticed: false,
            jump_seen: false,
        }
    }

    /// The leap armed and not yet applied: its sign and midnight (for the clock-change checks).
    pub fn armed(&self) -> Option<(Leap, i64)> {
        self.armed
            .filter(|a| !a.stepped)
            .map(|a| (a.leap, a.at_utc_s))
    }

    /// True when CLOCK_REALTIME instant `t_ns` lies within [`AMBIGUOUS_NS`] of the midnight
    /// of a leap that is armed, or was applied or given up on (then on either side of it).
    pub fn ambiguous_at(&self, t_ns: i64) -> bool {
        let near = |at_s: i64| {
            at_s != 0
                && (t_ns.saturating_sub(at_s.saturating_mul(1_000_000_000))).abs() <= AMBIGUOUS_NS
        };
        self.armed.is_some_and(|a| near(a.at_utc_s)) || near(self.done_at_s)
    }

    /// The status bits for the kernel: `STA_INS`/`STA_DEL` while a leap is armed and pending.
    pub fn status_bits(&self) -> ClockStatus {
        match self.armed() {
            Some((Leap::Insert, _)) => ClockStatus::INS,
            Some((Leap::Delete, _)) => ClockStatus::DEL,
            _ => ClockStatus::empty(),
        }
    }

    /// Whether the stamps show an unexplained step of the armed leap's size: while they do,
    /// the leap is not given up before [`VERIFY_AFTER_S`] (its clock-change notice is due).
    pub fn set_jump_seen(&mut self, seen: bool) {
        self.jump_seen = seen;
    }

    /// The list's current word.
    pub fn notice(&mut self, n: LeapNotice) {
        self.list = n;
        self.noticed = true;
    }

    /// A reference's leap indication (NTP LI, gpsd), read at `now`.
    pub fn reference(
        &mut self,
        now: Timestamp,
        leap: Leap,
        authenticated: bool,
        out: &mut Vec<EngineEvent>,
    ) {
        self.reference = Some(RefView {
            leap,
            month_end_s: month_end_s(now.sec()),
            authenticated,
        });
        self.check_agreement(now, out);
    }

    /// The list's leap at `at`, if it is current and announces one there.
    fn list_leap_at(&self, at: i64) -> Leap {
        match self.list {
            LeapNotice::Leap { at_utc_s, leap } if at_utc_s == at => leap,
            _ => Leap::None,
        }
    }

    /// Logs (once per transition) a reference that disagrees with a current list on two
    /// readings in a row (one reading may just predate a list update, or the reverse).
    fn check_agreement(&mut self, now: Timestamp, out: &mut Vec<EngineEvent>) {
        let current = matches!(self.list, LeapNotice::NoLeap | LeapNotice::Leap { .. });
        let found = match self.reference {
            // A leap already applied is no longer announced by anyone.
            Some(r) if r.month_end_s <= self.done_at_s => None,
            Some(r) if current => {
                let listed = self.list_leap_at(r.month_end_s);
                let last_day = now.sec() >= r.month_end_s - DAY_S;
                // A reference that says nothing only contradicts a leap due tonight: servers
                // need not announce a leap before its last day.
                let disagrees = (r.leap != Leap::None && r.leap != listed)
                    || (r.leap == Leap::None && listed != Leap::None && last_day);
                disagrees.then_some((r.leap, r.month_end_s))
            }
            _ => None,
        };
        if found.is_none() || found == self.disagreement {
            self.disagreement = found;
            self.candidate = None;
        } else if self.candidate != found {
            self.candidate = found;
        } else if let Some((reference, month_end_utc_s)) = found {
            out.push(EngineEvent::LeapDisagreement {
                reference,
                month_end_utc_s,
                list: self.list_leap_at(month_end_utc_s),
            });
            self.disagreement = found;
            self.candidate = None;
        }
    }

    /// The leap the engine acts on, the source it came from; `None` for the leap when the
    /// state is unknown (the outer `Option`), `Some(None)` when no leap is announced.
    fn effective(&self, now: i64) -> (Option<Option<(i64, Leap)>>, LeapSource) {
        let from_ref = |r: &RefView| {
            // NTP's indicator names the end of the month; tonight only on its last day.
            (r.leap != Leap::None).then_some((r.month_end_s, r.leap))
        };
        match self.list {
            LeapNotice::Leap { at_utc_s, leap } => (Some(Some((at_utc_s, leap))), LeapSource::File),
            LeapNotice::NoLeap => (Some(None), LeapSource::File),
            LeapNotice::NoList => match &self.reference {
                Some(r) => (Some(from_ref(r)), LeapSource::Reference),
                // No list and no reference reading yet: nothing announced that anyone knows.
                None => (Some(None), LeapSource::Reference),
            },
            LeapNotice::Unusable => match &self.reference {
                Some(r) if r.authenticated && r.month_end_s > now => {
                    (Some(from_ref(r)), LeapSource::Reference)
                }
                _ => (None, LeapSource::None),
            },
        }
    }

    /// Re-decides at `now` what is armed; gives up on a leap the kernel did not apply.
    pub fn update(&mut self, now: Timestamp, out: &mut Vec<EngineEvent>) -> Update {
        let t = now.sec();
        let mut up = Update::default();
        let (eff, source) = self.effective(t);
        // The source is told from the driver's first notice on (before it, a default).
        if self.noticed && self.source != Some(source) {
            self.source = Some(source);
            out.push(EngineEvent::LeapSource(source));
        }
        if let Some(a) = self.armed.filter(|a| !a.stepped) {
            let step_s = match a.leap {
                Leap::Delete => a.at_utc_s - 1,
                _ => a.at_utc_s,
            };
            let overdue = now.as_ns() >= step_s.saturating_mul(1_000_000_000) + APPLY_GRACE_NS;
            if (overdue && !self.jump_seen) || t >= a.at_utc_s + VERIFY_AFTER_S {
                // The clock reads past the instant of the leap and never moved by it.
                out.push(EngineEvent::LeapNotApplied {
                    leap: a.leap,
                    at_utc_s: a.at_utc_s,
                    trail: a.trail,
                });
                self.finish(a.at_utc_s, a.leap);
                return Update {
                    status_changed: true,
                    not_applied: true,
                };
            }
            if t >= a.at_utc_s {
                // Midnight has come (as the clock reads): the kernel is at work; keep it armed.
                return up;
            }
        }
        let have = self.armed().map(|(l, at)| (at, l));
        let want = match eff {
            // Nothing known now (a list gone bad): keep what a good source armed; signers see
            // UNKNOWN meanwhile. Only a source that knows disarms.
            None => have,
            Some(eff) => eff.filter(|(at, _)| *at > self.done_at_s && t >= at - DAY_S && t < *at),
        };
        let armed_pending = self.armed.map_or(true, |a| !a.stepped);
        if want != have && armed_pending {
            if let Some((at, leap)) = have {
                out.push(EngineEvent::LeapDisarmed { leap, at_utc_s: at });
                self.armed = None;
            }
            if let Some((at, leap)) = want {
                out.push(EngineEvent::LeapScheduled(leap));
                out.push(EngineEvent::LeapArmed {
                    leap,
                    at_utc_s: at,
                    source,
                });
                self.armed = Some(Armed {
                    leap,
                    at_utc_s: at,
                    trail: StateTrail::default(),
                    stepped: false,
                });
            }
            up.status_changed = true;
        }
        up
    }

    /// The clock stepped by the armed leap; returns it.
    pub fn stepped(&mut self) -> Option<Leap> {
        let a = self.armed.as_mut().filter(|a| !a.stepped)?;
        a.stepped = true;
        self.done_at_s = a.at_utc_s;
        self.done_leap = a.leap;
        Some(a.leap)
    }

    fn finish(&mut self, at: i64, leap: Leap) {
        self.armed = None;
        self.done_at_s = at;
        self.done_leap = leap;
    }

    /// An adjtimex read: follows the kernel's leap states; once the leap is over, the verdict.
    pub fn kernel(&mut self, snap: &ClockSnapshot, out: &mut Vec<EngineEvent>) {
        let Some(a) = self.armed.as_mut() else {
            return;
        };
        a.trail.push(snap.state);
        if !a.stepped {
            return;
        }
        let leap = a.leap;
        let trail = a.trail;
        let back = matches!(snap.state, ClockState::Wait | ClockState::Ok);
        let hidden_long =
            snap.state == ClockState::Error && snap.time.sec() >= a.at_utc_s + VERIFY_AFTER_S;
        if trail.shows(leap) || (back && trail.states().len() > 1) || hidden_long {
            out.push(EngineEvent::LeapVerified {
                leap,
                trail,
                as_expected: trail.shows(leap),
            });
            let at = a.at_utc_s;
            self.finish(at, leap);
        }
    }

    /// The published leap state at `now` and the leap it refers to.
    pub fn published(&self, now: Timestamp) -> (LeapState, LeapView) {
        let t = now.sec();
        let (eff, source) = self.effective(t);
        let state_of = |leap: Leap| match leap {
            Leap::Insert => LeapState::Positive,
            Leap::Delete => LeapState::Negative,
            Leap::None => LeapState::None,
        };
        // The leap in progress: applied, and the clock still before its midnight (the
        // repeated second of an insertion).
        if let Some(a) = self.armed.filter(|a| a.stepped && t < a.at_utc_s) {
            let view = LeapView {
                at_utc_s: a.at_utc_s,
                leap: a.leap,
                pending: false,
                source,
            };
            return (state_of(a.leap), view);
        }
        let Some(eff) = eff else {
            return (
                LeapState::Unknown,
                LeapView {
                    source,
                    ..LeapView::default()
                },
            );
        };
        let lead = |at: i64| t >= at.saturating_sub(self.lead_s);
        let ahead = match self.armed() {
            // Armed and not applied: until the kernel steps or is given up on.
            Some((leap, at)) => (lead(at) && t < at + VERIFY_AFTER_S).then_some((at, leap)),
            None => eff.filter(|(at, _)| *at > self.done_at_s && lead(*at) && t < *at),
        };
        if let Some((at, leap)) = ahead {
            let view = LeapView {
                at_utc_s: at,
                leap,
                pending: true,
                source,
            };
            return (state_of(leap), view);
        }
        let recent = self.done_at_s != 0 && t < self.done_at_s + KEEP_AFTER_S;
        let view = LeapView {
            at_utc_s: if recent { self.done_at_s } else { 0 },
            leap: if recent { self.done_leap } else { Leap::None },
            pending: false,
            source,
        };
        (LeapState::None, view)
    }
}

#[cfg(test)]
mod tests;
