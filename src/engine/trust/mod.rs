//! Trust: from what the engine has seen, the state a time-stamp signer may rely on: a sync
//! state, an error bound that should cover the clock's true offset, and how long the verdict
//! holds (`valid_until`, CLOCK_MONOTONIC).
//!
//! First honest version (issue 6 deepens it): the state is UNKNOWN until a time-of-day reading
//! agrees with the pulses on the whole second and the servo is locked with enough samples;
//! the bound is the static uncertainty + k·σ (σ: smoothed rms of the measured offsets) + the
//! holdover growth (k·frequency uncertainty·t + drift bound·t²/2, t from the last good pulse to
//! `valid_until`); any foreign clock change or reference disagreement is OUT_OF_SYNC at once and
//! latched until the reference agrees again and `recover_pulses` good pulses have followed. It
//! must never say INSYNC on a guess: every missing input degrades the state.

use crate::time::Timestamp;

use super::event::EngineEvent;
use super::servo::PulseShift;
use super::{Action, Stamp};

/// Smoothing of the squared offsets behind σ. With `k_sigma = 4`, k·√α = 1: a sudden shift of
/// the pulses by S raises the bound by at least S at the very next pulse.
const MS_ALPHA: f64 = 1.0 / 16.0;

/// The sync states, after SignServer's TimeMonitor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub enum SyncState {
    /// The error bound is within the warning fraction of the declared accuracy.
    #[serde(rename = "INSYNC")]
    InSync,
    /// The error bound is past the warning fraction but within the declared accuracy.
    #[serde(rename = "SOON_OUT_OF_SYNC")]
    SoonOutOfSync,
    /// The error bound is past the declared accuracy, or the clock was changed behind ppsd's
    /// back, or the reference disagrees.
    #[serde(rename = "OUT_OF_SYNC")]
    OutOfSync,
    /// No valid measurement yet, seconds not verified, or state expired.
    #[default]
    #[serde(rename = "UNKNOWN")]
    Unknown,
}

impl SyncState {
    /// The name a signer sees (`INSYNC`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            SyncState::InSync => "INSYNC",
            SyncState::SoonOutOfSync => "SOON_OUT_OF_SYNC",
            SyncState::OutOfSync => "OUT_OF_SYNC",
            SyncState::Unknown => "UNKNOWN",
        }
    }
}

/// Leap state published with the sync state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub enum LeapState {
    /// No leap second announced.
    #[default]
    #[serde(rename = "NONE")]
    None,
    /// A second is inserted at the end of this UTC day.
    #[serde(rename = "POSITIVE")]
    Positive,
    /// A second is deleted at the end of this UTC day.
    #[serde(rename = "NEGATIVE")]
    Negative,
    /// Not known.
    #[serde(rename = "UNKNOWN")]
    Unknown,
}

/// What the engine publishes for signers.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TrustState {
    /// Sync state.
    pub state: SyncState,
    /// Leap state.
    pub leap: LeapState,
    /// Error bound, ns: the true offset should stay within ±bound until `valid_until`.
    pub bound_ns: i64,
    /// Last measured offset, ns (clock minus reference).
    pub offset_ns: i64,
    /// Frequency the engine has set, ppb.
    pub freq_ppb: f64,
    /// CLOCK_REALTIME stamp of the last accepted pulse.
    pub last_pulse: Option<Timestamp>,
    /// When this was computed, CLOCK_MONOTONIC ns.
    pub updated_mono_ns: i64,
    /// After this instant (CLOCK_MONOTONIC ns) the state is void: readers take it as UNKNOWN.
    pub valid_until_mono_ns: i64,
}

/// Trust parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrustConfig {
    /// Declared accuracy, ns: INSYNC only while the bound is within it.
    pub declared_accuracy_ns: i64,
    /// Receiver, cable and capture uncertainty added to every bound, ns.
    pub static_uncertainty_ns: i64,
    /// Multiplier of σ and of the frequency uncertainty.
    pub k_sigma: f64,
    /// Bound on the oscillator's frequency drift, ppb/s (holdover growth t²/2 term).
    pub drift_bound_ppb_per_s: f64,
    /// SOON_OUT_OF_SYNC when the bound passes this fraction of the declared accuracy.
    pub warn_fraction: f64,
    /// How long a published state holds, ns.
    pub lifetime_ns: i64,
    /// Good pulses in a row needed to return to INSYNC after OUT_OF_SYNC.
    pub recover_pulses: u32,
    /// Locked samples needed before σ is believed.
    pub min_samples: u32,
}

impl Default for TrustConfig {
    fn default() -> TrustConfig {
        TrustConfig {
            declared_accuracy_ns: 1_000_000,
            static_uncertainty_ns: 0,
            k_sigma: 4.0,
            drift_bound_ppb_per_s: 1.0,
            warn_fraction: 0.8,
            lifetime_ns: 1_500_000_000,
            recover_pulses: 10,
            min_samples: 16,
        }
    }
}

/// Inputs to one evaluation that the trust engine does not track itself.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ServoView {
    /// The servo is locked.
    pub locked: bool,
    /// Its frequency uncertainty, ppb.
    pub freq_uncertainty_ppb: f64,
    /// The frequency set, ppb.
    pub freq_ppb: f64,
}

/// The trust engine's state.
#[derive(Clone, Debug)]
pub struct Trust {
    cfg: TrustConfig,
    verified: bool,
    disagrees: bool,
    foreign: bool,
    ms_ns2: f64,
    samples: u32,
    good_run: u32,
    last_pulse: Option<(i64, Timestamp)>,
    last_offset_ns: i64,
    state: SyncState,
    ever_trusted: bool,
    last_trusted: Option<Timestamp>,
    /// The pulse train is under suspicion of having moved.
    train_suspect: bool,
    /// Moves of the pulse train accepted without knowing which train was right, ns: added to
    /// every bound from then on.
    doubt_ns: i64,
}

impl Trust {
    /// A trust engine that has seen nothing: UNKNOWN.
    pub fn new(cfg: TrustConfig) -> Trust {
        Trust {
            cfg,
            verified: false,
            disagrees: false,
            foreign: false,
            ms_ns2: 0.0,
            samples: 0,
            good_run: 0,
            last_pulse: None,
            last_offset_ns: 0,
            state: SyncState::Unknown,
            ever_trusted: false,
            last_trusted: None,
            train_suspect: false,
            doubt_ns: 0,
        }
    }

    /// True once the state has been INSYNC (after which the engine no longer steps).
    pub fn ever_trusted(&self) -> bool {
        self.ever_trusted
    }

    /// The current state.
    pub fn state(&self) -> SyncState {
        self.state
    }

    /// Smoothed rms of the measured offsets, ns.
    pub fn sigma_ns(&self) -> f64 {
        self.ms_ns2.sqrt()
    }

    /// An accepted pulse at `at` stamped `stamp` measured `offset_ns`; `locked` says whether
    /// the servo was locked for it (samples before lock do not feed σ).
    pub fn pulse(&mut self, at: Stamp, stamp: Timestamp, offset_ns: i64, view: &ServoView) {
        self.last_pulse = Some((at.mono_ns, stamp));
        self.last_offset_ns = offset_ns;
        if !view.locked {
            return;
        }
        let x = offset_ns as f64;
        self.ms_ns2 = if self.samples == 0 {
            x * x
        } else {
            self.ms_ns2 + MS_ALPHA * (x * x - self.ms_ns2)
        };
        self.samples = self.samples.saturating_add(1);
        let good = self.bound_at(at.mono_ns + self.cfg.lifetime_ns, view) as f64
            <= self.cfg.warn_fraction * self.cfg.declared_accuracy_ns as f64;
        self.good_run = if good {
            self.good_run.saturating_add(1)
        } else {
            0
        };
    }

    /// The engine stepped the clock: offsets before the step say nothing about after it.
    pub fn stepped(&mut self) {
        self.samples = 0;
        self.ms_ns2 = 0.0;
        self.good_run = 0;
    }

    /// Someone else changed the clock: OUT_OF_SYNC until verified again.
    pub fn foreign_change(&mut self) {
        self.foreign = true;
        self.verified = false;
        self.good_run = 0;
    }

    /// The servo reports a move of the pulse train. While it is suspected the state is
    /// OUT_OF_SYNC; when the old train returns, trust recovers as after a foreign change; when
    /// the move is accepted its size joins the bound for good, since nothing here can tell
    /// which train was right.
    pub fn pulse_train_shift(&mut self, shift: PulseShift) {
        match shift {
            PulseShift::Suspected(_) => {
                self.train_suspect = true;
                self.foreign_change();
            }
            PulseShift::Cleared => self.train_suspect = false,
            PulseShift::Accepted(ns) => {
                self.train_suspect = false;
                self.doubt_ns = self.doubt_ns.saturating_add(ns.saturating_abs());
                self.stepped();
                self.foreign_change();
            }
        }
    }

    /// True while the pulse train is suspected of having moved.
    pub fn train_suspect(&self) -> bool {
        self.train_suspect
    }

    /// A time-of-day check: `agrees` when the reference and the pulses agree on the second.
    pub fn reference(&mut self, agrees: bool) {
        if !agrees || !self.verified {
            self.good_run = 0;
        }
        self.verified = agrees;
        self.disagrees = !agrees;
    }

    /// True while the whole second is verified.
    pub fn verified(&self) -> bool {
        self.verified
    }

    /// The error bound (ns) that holds until CLOCK_MONOTONIC `until_mono_ns`; `i64::MAX`
    /// (no bound) until σ rests on `min_samples` locked samples.
    pub fn bound_at(&self, until_mono_ns: i64, view: &ServoView) -> i64 {
        let Some((pulse_mono, _)) = self.last_pulse else {
            return i64::MAX;
        };
        if self.samples < self.cfg.min_samples {
            return i64::MAX;
        }
        let t_s = until_mono_ns.saturating_sub(pulse_mono).max(0) as f64 * 1e-9;
        let k = self.cfg.k_sigma;
        let growth =
            k * view.freq_uncertainty_ppb * t_s + 0.5 * self.cfg.drift_bound_ppb_per_s * t_s * t_s;
        let bound = self.cfg.static_uncertainty_ns as f64
            + self.doubt_ns as f64
            + k * self.sigma_ns()
            + growth;
        if bound.is_finite() && bound < i64::MAX as f64 {
            bound.ceil() as i64
        } else {
            i64::MAX
        }
    }

    /// Decides the state at `at`, pushes a `StateChanged` event when it changes, and returns
    /// what to publish.
    pub fn evaluate(
        &mut self,
        at: Stamp,
        view: &ServoView,
        leap: LeapState,
        out: &mut Vec<Action>,
    ) -> TrustState {
        let valid_until = at.mono_ns.saturating_add(self.cfg.lifetime_ns);
        let bound_ns = self.bound_at(valid_until, view);
        let acc = self.cfg.declared_accuracy_ns;
        let recovering = self.foreign || self.state == SyncState::OutOfSync;
        let state = if self.disagrees || self.train_suspect || (self.foreign && !self.verified) {
            SyncState::OutOfSync
        } else if !self.verified || !view.locked || self.samples < self.cfg.min_samples {
            if recovering {
                SyncState::OutOfSync
            } else {
                SyncState::Unknown
            }
        } else if bound_ns > acc || (recovering && self.good_run < self.cfg.recover_pulses) {
            SyncState::OutOfSync
        } else if bound_ns as f64 > self.cfg.warn_fraction * acc as f64 {
            SyncState::SoonOutOfSync
        } else {
            SyncState::InSync
        };
        if state == SyncState::InSync || state == SyncState::SoonOutOfSync {
            self.foreign = false;
        }
        if state != self.state {
            out.push(Action::Event(EngineEvent::StateChanged {
                from: self.state,
                to: state,
                bound_ns,
                last_trusted: self.last_trusted,
            }));
            self.state = state;
        }
        if state == SyncState::InSync {
            self.ever_trusted = true;
            self.last_trusted = Some(at.real);
        }
        TrustState {
            state,
            leap,
            bound_ns,
            offset_ns: self.last_offset_ns,
            freq_ppb: view.freq_ppb,
            last_pulse: self.last_pulse.map(|(_, stamp)| stamp),
            updated_mono_ns: at.mono_ns,
            valid_until_mono_ns: valid_until,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn at(t: i64) -> Stamp {
        Stamp {
            mono_ns: t,
            real: Timestamp::from_ns(t),
        }
    }

    fn view() -> ServoView {
        ServoView {
            locked: true,
            freq_uncertainty_ppb: 1.0,
            freq_ppb: 0.0,
        }
    }

    fn feed(trust: &mut Trust, from: i64, n: i64, offset_ns: i64, out: &mut Vec<Action>) {
        for i in from..from + n {
            trust.pulse(at(i * S), Timestamp::from_ns(i * S), offset_ns, &view());
            trust.evaluate(at(i * S), &view(), LeapState::None, out);
        }
    }

    #[test]
    fn unknown_until_verified_then_insync() {
        let mut trust = Trust::new(TrustConfig::default());
        let mut out = Vec::new();
        feed(&mut trust, 0, 30, 100, &mut out);
        assert_eq!(trust.state(), SyncState::Unknown);
        trust.reference(true);
        let ts = trust.evaluate(at(30 * S), &view(), LeapState::None, &mut out);
        assert_eq!(ts.state, SyncState::InSync);
        assert_eq!(ts.valid_until_mono_ns, 31 * S + S / 2);
        // Last pulse at 29 s, valid until 31.5 s: t = 2.5 s.
        // 4·100 ns + 4·1 ppb·2.5 s + 1 ppb/s·2.5²/2 s² = 400 + 10 + 3.125, rounded up.
        assert_eq!(ts.bound_ns, 414);
        assert!(matches!(
            out.last(),
            Some(Action::Event(EngineEvent::StateChanged {
                to: SyncState::InSync,
                ..
            }))
        ));
    }

    #[test]
    fn foreign_change_latches_until_reverified_and_recovered() {
        let mut trust = Trust::new(TrustConfig::default());
        let mut out = Vec::new();
        trust.reference(true);
        feed(&mut trust, 0, 20, 100, &mut out);
        assert_eq!(trust.state(), SyncState::InSync);
        trust.foreign_change();
        let ts = trust.evaluate(at(20 * S), &view(), LeapState::None, &mut out);
        assert_eq!(ts.state, SyncState::OutOfSync);
        feed(&mut trust, 21, 20, 100, &mut out);
        assert_eq!(trust.state(), SyncState::OutOfSync, "not re-verified");
        trust.reference(true);
        feed(&mut trust, 41, 9, 100, &mut out);
        assert_eq!(trust.state(), SyncState::OutOfSync, "hysteresis");
        feed(&mut trust, 50, 12, 100, &mut out);
        assert_eq!(trust.state(), SyncState::InSync);
    }

    #[test]
    fn holdover_grows_the_bound_to_out_of_sync() {
        let mut trust = Trust::new(TrustConfig::default());
        let mut out = Vec::new();
        trust.reference(true);
        feed(&mut trust, 0, 20, 100, &mut out);
        // Without pulses: 1 ppb/s · t²/2 passes 0.8 ms near t = 1265 s, 1 ms near 1414 s.
        let ts = trust.evaluate(at(1_300 * S), &view(), LeapState::None, &mut out);
        assert_eq!(ts.state, SyncState::SoonOutOfSync);
        let ts = trust.evaluate(at(1_500 * S), &view(), LeapState::None, &mut out);
        assert_eq!(ts.state, SyncState::OutOfSync);
    }

    #[test]
    fn a_pulse_shift_raises_the_bound_by_at_least_the_shift() {
        let mut trust = Trust::new(TrustConfig::default());
        let mut out = Vec::new();
        trust.reference(true);
        feed(&mut trust, 0, 40, 0, &mut out);
        feed(&mut trust, 40, 1, 2_000_000, &mut out);
        assert_eq!(trust.state(), SyncState::OutOfSync);
        trust.reference(false);
        let ts = trust.evaluate(at(41 * S), &view(), LeapState::None, &mut out);
        assert_eq!(ts.state, SyncState::OutOfSync);
    }
}
