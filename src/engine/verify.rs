//! Second verification by policy: whether the time-of-day readings number the pulses' seconds
//! well enough to trust them.
//!
//! Each reading is judged against the pulse-derived time: its whole-second difference and the
//! residual within the second. A reading *agrees* when both are small — the same second, and
//! the residual within the tolerance (`tolerance_ns`, or the source's own: a reading 300 ms
//! off is no agreement even though it rounds to the right second). The policy ([`VerifyConfig`]) is met when `quorum` distinct
//! sources agree with readings younger than `recheck_ns`, one of them authenticated (NTS) when
//! it says [`Require::Nts`]. [`Verifier::decide`] tells the engine whether the policy is met on
//! the clock's numbering, on another numbering (a whole-second step, allowed only before
//! trust), blocked by a dissenting source, or simply not met for lack of fresh readings.
//!
//! Pure and allocation-free: a fixed table of the last reading per source, indexed by the
//! source's position in the configuration. It never reads a clock, never steps anything, and
//! never counts a source twice, a stale reading, or a reading from an index past its table.

use super::TodSample;
use crate::time::NANOS_PER_SEC;

/// Most references a policy can count (the configuration refuses more).
pub const MAX_SOURCES: usize = 16;

/// What kind of agreement the policy asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Require {
    /// `quorum` distinct sources agreeing, authenticated or not.
    #[default]
    Quorum,
    /// `quorum` distinct sources agreeing, at least one of them authenticated (NTS).
    Nts,
}

/// The verification policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifyConfig {
    /// What kind of agreement is needed.
    pub require: Require,
    /// Distinct agreeing sources needed (1 ..= [`MAX_SOURCES`]).
    pub quorum: u8,
    /// Largest residual within the second, ns, for a reading to agree.
    pub tolerance_ns: i64,
    /// A source's own tolerance, ns, by index; 0: `tolerance_ns` (a gpsd report arrives
    /// tens to hundreds of ms after its second).
    pub source_tolerance_ns: [i64; MAX_SOURCES],
    /// A reading older than this (CLOCK_MONOTONIC ns) no longer counts.
    pub recheck_ns: i64,
}

impl VerifyConfig {
    /// The tolerance (ns) that applies to readings of `source`.
    pub fn tolerance_for(&self, source: u8) -> i64 {
        match self.source_tolerance_ns.get(usize::from(source)) {
            Some(&t) if t > 0 => t,
            _ => self.tolerance_ns,
        }
    }
}

impl Default for VerifyConfig {
    fn default() -> VerifyConfig {
        VerifyConfig {
            require: Require::Quorum,
            quorum: 1,
            tolerance_ns: 100_000_000,
            source_tolerance_ns: [0; MAX_SOURCES],
            recheck_ns: 16 * 60 * NANOS_PER_SEC,
        }
    }
}

/// A source whose reading does not agree with the pulse-derived time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dissent {
    /// The source's index in the configuration.
    pub source: u8,
    /// Clock minus reference, whole seconds (0: the right second, but past the tolerance).
    pub seconds: i64,
    /// The rest within the second, ns.
    pub residual_ns: i64,
}

/// What the fresh readings say about the clock's numbering of the seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The policy is met on the clock's own numbering.
    Verified,
    /// The policy is met on a numbering `seconds` away (clock minus reference).
    Elsewhere {
        /// Whole seconds.
        seconds: i64,
    },
    /// The policy is not met and a fresh source dissents.
    Disputed {
        /// Whole seconds of the dissent (0 when only the tolerance is exceeded).
        seconds: i64,
    },
    /// The policy is not met and no fresh source dissents: too few fresh readings.
    Unverified,
}

/// The last reading of one source, judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Record {
    at_mono_ns: i64,
    authenticated: bool,
    tolerance_ns: i64,
    seconds: i64,
    residual_ns: i64,
}

/// The verifier's state: the last judged reading per source, and readings held until the
/// first pulse gives them something to be judged against.
#[derive(Clone, Debug)]
pub struct Verifier {
    cfg: VerifyConfig,
    records: [Option<Record>; MAX_SOURCES],
    held: [Option<(i64, TodSample)>; MAX_SOURCES],
    /// The policy was met at the last look (decide or lapse check).
    met: bool,
    /// Mono time of the last decision that met the policy.
    met_at_mono_ns: Option<i64>,
    /// The policy lapsed for want of fresh readings (not renewed since).
    lapsed: bool,
}

impl Verifier {
    /// A verifier that has seen nothing.
    pub fn new(cfg: VerifyConfig) -> Verifier {
        Verifier {
            cfg,
            records: [None; MAX_SOURCES],
            held: [None; MAX_SOURCES],
            met: false,
            met_at_mono_ns: None,
            lapsed: false,
        }
    }

    /// Takes new per-source tolerances (the references were reconfigured).
    pub fn set_source_tolerances(&mut self, ns: [i64; MAX_SOURCES]) {
        self.cfg.source_tolerance_ns = ns;
    }

    /// Keeps a reading taken at `at_mono_ns` before any pulse (the latest per source).
    pub fn hold(&mut self, at_mono_ns: i64, tod: TodSample) {
        if let Some(slot) = self.held.get_mut(usize::from(tod.source)) {
            *slot = Some((at_mono_ns, tod));
        }
    }

    /// Takes one held reading, if any.
    pub fn take_held(&mut self) -> Option<(i64, TodSample)> {
        self.held.iter_mut().find_map(Option::take)
    }

    /// Judges `tod`, taken at `at_mono_ns`, against the pulse-derived offset `pulse_offset_ns`
    /// (clock minus the nearest second of the last pulse). Returns the dissent to log when the
    /// source newly dissents, or dissents by another number of seconds than before.
    pub fn record(
        &mut self,
        at_mono_ns: i64,
        tod: &TodSample,
        pulse_offset_ns: i64,
    ) -> Option<Dissent> {
        let slot = self.records.get_mut(usize::from(tod.source))?;
        let diff = tod.offset_ns.saturating_sub(pulse_offset_ns);
        let seconds = diff
            .saturating_add(NANOS_PER_SEC / 2)
            .div_euclid(NANOS_PER_SEC);
        let residual_ns = diff.saturating_sub(seconds.saturating_mul(NANOS_PER_SEC));
        let new = Record {
            at_mono_ns,
            authenticated: tod.authenticated,
            tolerance_ns: self.cfg.tolerance_for(tod.source),
            seconds,
            residual_ns,
        };
        let before = slot.replace(new);
        if agrees(&new) {
            return None;
        }
        let same = before.is_some_and(|b| !agrees(&b) && b.seconds == seconds);
        (!same).then_some(Dissent {
            source: tod.source,
            seconds,
            residual_ns,
        })
    }

    /// The clock was stepped by `delta_ns`. Held readings (raw offsets) move with it; judged
    /// readings change their whole seconds only for a whole-second step (a phase step moves
    /// the clock and the pulse-derived time alike).
    pub fn stepped(&mut self, delta_ns: i64) {
        for (_, tod) in self.held.iter_mut().flatten() {
            tod.offset_ns = tod.offset_ns.saturating_add(delta_ns);
        }
        if delta_ns % NANOS_PER_SEC == 0 {
            let s = delta_ns / NANOS_PER_SEC;
            for r in self.records.iter_mut().flatten() {
                r.seconds = r.seconds.saturating_add(s);
            }
        }
    }

    /// Someone else changed the clock: every reading, judged or held, describes the clock
    /// before.
    pub fn forget(&mut self) {
        self.records = [None; MAX_SOURCES];
        self.held = [None; MAX_SOURCES];
        self.met = false;
    }

    /// What the readings fresh at `now_mono_ns` say.
    pub fn decide(&mut self, now_mono_ns: i64) -> Outcome {
        let outcome = self.outcome(now_mono_ns);
        self.met = outcome == Outcome::Verified;
        if self.met {
            self.met_at_mono_ns = Some(now_mono_ns);
        }
        outcome
    }

    /// True once after a lapse when the policy is met again (the engine logs the renewal).
    pub fn take_renewed(&mut self) -> bool {
        if self.met && self.lapsed {
            self.lapsed = false;
            return true;
        }
        false
    }

    /// Once per lapse: the policy, met before, is no longer met at `now_mono_ns` because
    /// readings grew old. Returns how long ago (ns) it was last met.
    pub fn lapse(&mut self, now_mono_ns: i64) -> Option<i64> {
        if !self.met || self.met_on(0, now_mono_ns) {
            return None;
        }
        self.met = false;
        self.lapsed = true;
        let since = self
            .met_at_mono_ns
            .map_or(0, |t| now_mono_ns.saturating_sub(t));
        Some(since)
    }

    fn fresh(&self, now_mono_ns: i64) -> impl Iterator<Item = &Record> {
        let recheck = self.cfg.recheck_ns;
        self.records.iter().flatten().filter(move |r| {
            let age = now_mono_ns.saturating_sub(r.at_mono_ns);
            (0..=recheck).contains(&age)
        })
    }

    /// Whether fresh readings meet the policy on a numbering `seconds` from the clock's.
    fn met_on(&self, seconds: i64, now_mono_ns: i64) -> bool {
        let (mut count, mut auth) = (0usize, 0usize);
        for r in self.fresh(now_mono_ns) {
            if r.seconds == seconds && r.residual_ns.saturating_abs() <= r.tolerance_ns {
                count += 1;
                auth += usize::from(r.authenticated);
            }
        }
        count >= usize::from(self.cfg.quorum.max(1))
            && (self.cfg.require != Require::Nts || auth >= 1)
    }

    fn outcome(&self, now_mono_ns: i64) -> Outcome {
        if self.met_on(0, now_mono_ns) {
            return Outcome::Verified;
        }
        let mut dissent = None;
        for r in self.fresh(now_mono_ns) {
            if r.seconds != 0 && self.met_on(r.seconds, now_mono_ns) {
                return Outcome::Elsewhere { seconds: r.seconds };
            }
            if !agrees(r) && matches!(dissent, None | Some(0)) {
                dissent = Some(r.seconds);
            }
        }
        match dissent {
            Some(seconds) => Outcome::Disputed { seconds },
            None => Outcome::Unverified,
        }
    }
}

fn agrees(r: &Record) -> bool {
    r.seconds == 0 && r.residual_ns.saturating_abs() <= r.tolerance_ns
}

#[cfg(test)]
mod tests;
