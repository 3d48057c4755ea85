//! Trust: from what the engine has seen, the state a time-stamp signer may rely on — a sync
//! state, an error bound that covers the clock's true offset, the reason when the state is not
//! INSYNC, and how long the verdict holds (`valid_until`, CLOCK_MONOTONIC).
//!
//! The bound ([`bound`]) is the static uncertainty + the servo's estimate of its phase error
//! (k σ, guarded by the servo's empirical checks) + the holdover growth since the last accepted
//! pulse + the doubt left by pulses that disagree with the clock. The state follows from the
//! bound and from the checks that are not numbers: the whole second verified by a time-of-day
//! reference, no clock change by anyone else, no reference disagreement. Every return to a
//! better state waits for `recover_pulses` good pulses in a row (hysteresis). Each interval not
//! INSYNC is recorded in the [`Ledger`]. See `docs/trust.md`.
//!
//! It must never say INSYNC on a guess: every missing input degrades the state, and a figure
//! it cannot compute is no bound (`i64::MAX`), never a small one.

use crate::time::Timestamp;

use super::event::EngineEvent;
use super::ledger::Ledger;
use super::servo::PulseShift;
use super::{Action, Stamp};

pub mod bound;
mod config;
mod state;
mod steps;

pub use bound::BoundTerms;
pub use config::{ConfigError, TrustConfig, MAX_DECLARED_ACCURACY_NS};
pub use state::{LeapState, Reason, ServoView, SyncState, TrustState};
pub use steps::StepMeter;

/// Smoothing of the squared offsets behind the fallback σ (servos without a phase model). With
/// `k_sigma` ≥ 4, k·√α ≥ 1: a sudden shift of the pulses by S raises the bound by at least S at
/// the very next pulse.
const MS_ALPHA: f64 = 1.0 / 16.0;

/// Doubt left by pulses that disagree with the clock, ns.
#[derive(Clone, Copy, Debug, Default)]
struct Doubt {
    /// Largest distance from the prediction of a pulse not explained yet; cleared by the next
    /// pulse the servo accepts.
    outlier_ns: i64,
    /// Size of a move of the pulse train under suspicion; cleared when the train comes back.
    train_ns: i64,
    /// Moves of the pulse train accepted without knowing which train was right: for good.
    accepted_ns: i64,
    /// Largest uncertainty of the servo's prediction while a move is suspected.
    suspect_spread_ns: i64,
}

impl Doubt {
    fn total_ns(&self) -> i64 {
        self.outlier_ns
            .max(self.train_ns)
            .saturating_add(self.accepted_ns)
    }
}

/// The trust engine's state.
#[derive(Clone, Debug)]
pub struct Trust {
    cfg: TrustConfig,
    verified: bool,
    disagrees: bool,
    /// Latched by a foreign change until the reference agrees again and the state recovers.
    foreign: bool,
    /// The pulse source (device) is gone: OUT_OF_SYNC whatever the bound says.
    device_lost: bool,
    ms_ns2: f64,
    samples: u32,
    good_run: u32,
    last_pulse: Option<(i64, Timestamp)>,
    last_offset_ns: i64,
    doubt: Doubt,
    train_suspect: bool,
    state: SyncState,
    ever_trusted: bool,
    last_trusted: Option<Timestamp>,
    /// CLOCK_MONOTONIC until which the last publication holds.
    valid_until_mono_ns: Option<i64>,
    sigma_ns: f64,
    ledger: Ledger,
}

impl Trust {
    /// A trust engine that has seen nothing: UNKNOWN.
    pub fn new(cfg: TrustConfig) -> Trust {
        Trust {
            cfg,
            verified: false,
            disagrees: false,
            foreign: false,
            device_lost: false,
            ms_ns2: 0.0,
            samples: 0,
            good_run: 0,
            last_pulse: None,
            last_offset_ns: 0,
            doubt: Doubt::default(),
            train_suspect: false,
            state: SyncState::Unknown,
            ever_trusted: false,
            last_trusted: None,
            valid_until_mono_ns: None,
            sigma_ns: f64::INFINITY,
            ledger: Ledger::default(),
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

    /// One standard deviation of the clock's offset as last evaluated, ns (for the kernel's
    /// `esterror`): the servo's own when it keeps a model, else the rms of measured offsets.
    pub fn sigma_ns(&self) -> f64 {
        self.sigma_ns
    }

    /// The ledger of untrusted intervals.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The clock was stepped by `delta_ns` (by anyone): the ledger books its size.
    pub fn clock_stepped(&mut self, delta_ns: i64) {
        self.ledger.clock_stepped(delta_ns);
    }

    /// An accepted pulse at `at` stamped `stamp` measured `offset_ns`; samples taken before the
    /// servo locked do not count.
    pub fn pulse(&mut self, at: Stamp, stamp: Timestamp, offset_ns: i64, view: &ServoView) {
        self.last_pulse = Some((at.mono_ns, stamp));
        self.last_offset_ns = offset_ns;
        // The servo took this pulse: the pulses before it that it set aside were glitches.
        self.doubt.outlier_ns = 0;
        if !view.locked {
            return;
        }
        if view.model.is_none()
            && self.samples >= self.cfg.min_samples
            && offset_ns.saturating_abs() > self.cfg.declared_accuracy_ns
        {
            // A servo without a model follows any pulse; a jump past the accuracy that it
            // follows can never be told from a moved train again.
            self.keep_doubt(offset_ns.saturating_abs());
        }
        let x = offset_ns as f64;
        self.ms_ns2 = if self.samples == 0 {
            x * x
        } else {
            self.ms_ns2 + MS_ALPHA * (x * x - self.ms_ns2)
        };
        self.samples = self.samples.saturating_add(1);
        let until = at.mono_ns.saturating_add(self.cfg.lifetime_ns);
        let good = self.bound_at(at.mono_ns, until, view) as f64
            <= self.cfg.warn_fraction * self.cfg.declared_accuracy_ns as f64;
        self.good_run = if good {
            self.good_run.saturating_add(1)
        } else {
            0
        };
    }

    /// A pulse was set aside `distance_ns` away from where the servo predicted it (an outlier,
    /// a pulse of a moved train, an interval that is no whole second): until a pulse is
    /// accepted again, nothing tells whether the pulse or the clock moved, so the distance
    /// joins the bound.
    pub fn pulse_doubt(&mut self, distance_ns: i64) {
        self.doubt.outlier_ns = self.doubt.outlier_ns.max(distance_ns.saturating_abs());
        self.good_run = 0;
    }

    /// The engine stepped the clock: offsets before the step say nothing about after it.
    pub fn stepped(&mut self) {
        self.samples = 0;
        self.ms_ns2 = 0.0;
        self.good_run = 0;
    }

    /// Someone else changed the clock: OUT_OF_SYNC until verified again and recovered. The
    /// engine restarts the servo, so its samples start over too.
    pub fn foreign_change(&mut self) {
        self.foreign = true;
        self.verified = false;
        self.stepped();
    }

    /// The pulse source is gone (`false`) or there again (`true`). While it is gone the state
    /// is OUT_OF_SYNC; once back, pulses must earn the way up through the hysteresis.
    pub fn device_present(&mut self, present: bool) {
        self.device_lost = !present;
        self.good_run = 0;
    }

    /// A pulse is about to reach the servo, whose prediction for it is uncertain by
    /// `spread_ns` (k σ with the holdover growth; see [`Trust::spread_at`]).
    pub fn before_pulse(&mut self, spread_ns: i64) {
        if self.train_suspect {
            self.doubt.suspect_spread_ns = self.doubt.suspect_spread_ns.max(spread_ns.max(0));
        }
    }

    /// The servo reports a move of the pulse train.
    ///
    /// While a move is suspected its size is doubt in the bound. When the servo finds the old
    /// train back, the doubt goes — unless its prediction became too uncertain meanwhile to tell
    /// the two trains apart (the move is within twice the largest spread seen while suspected),
    /// in which case the servo may now be tracking the moved train, and the move plus that
    /// spread stay in every bound for good. When the servo accepts the move the same holds:
    /// nothing here can tell which train was right, and the size of the move is only known to
    /// within the spread.
    pub fn pulse_train_shift(&mut self, shift: PulseShift) {
        match shift {
            PulseShift::Suspected(ns) => {
                self.train_suspect = true;
                self.doubt.train_ns = ns.saturating_abs();
                self.good_run = 0;
            }
            PulseShift::Cleared => {
                self.train_suspect = false;
                let moved = std::mem::take(&mut self.doubt.train_ns);
                let spread = std::mem::take(&mut self.doubt.suspect_spread_ns);
                if moved <= spread.saturating_mul(2) {
                    self.keep_doubt(moved.saturating_add(spread));
                }
            }
            PulseShift::Accepted(ns) => {
                self.train_suspect = false;
                self.doubt.train_ns = 0;
                let spread = std::mem::take(&mut self.doubt.suspect_spread_ns);
                self.keep_doubt(ns.saturating_abs().saturating_add(spread));
                self.stepped();
            }
        }
    }

    /// The servo found its own model wrong while the clock had never been trusted, and
    /// restarted acquisition (see `docs/servo.md`): the pulses it set aside were not a moved
    /// train but a model that did not fit them, so the suspicion and the doubts it left go.
    /// Nothing was ever vouched for, so no move needs keeping; the new model must earn its
    /// samples and good pulses from scratch.
    pub fn model_restarted(&mut self) {
        self.train_suspect = false;
        self.doubt.outlier_ns = 0;
        self.doubt.train_ns = 0;
        self.doubt.suspect_spread_ns = 0;
        if !self.ever_trusted {
            self.doubt.accepted_ns = 0;
        }
        self.stepped();
    }

    fn keep_doubt(&mut self, ns: i64) {
        self.doubt.accepted_ns = self.doubt.accepted_ns.saturating_add(ns);
        self.good_run = 0;
    }

    /// The uncertainty of the servo's prediction at CLOCK_MONOTONIC `t_ns`, ns: the bound at
    /// that instant without the static and doubt terms; `i64::MAX` without a bound.
    pub fn spread_at(&self, t_ns: i64, view: &ServoView) -> i64 {
        self.terms(t_ns, t_ns, view).map_or(i64::MAX, |t| {
            BoundTerms {
                static_ns: 0.0,
                doubt_ns: 0.0,
                ..t
            }
            .total_ns()
        })
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

    /// The terms of the bound over CLOCK_MONOTONIC `[from_ns, until_ns]`; `None` (no bound)
    /// until the servo is locked with `min_samples` samples.
    pub fn terms(&self, from_ns: i64, until_ns: i64, view: &ServoView) -> Option<BoundTerms> {
        let (pulse_mono, _) = self.last_pulse?;
        if self.samples < self.cfg.min_samples || !view.locked {
            return None;
        }
        let doubt = self.doubt.total_ns();
        Some(match &view.model {
            Some(m) => bound::with_model(&self.cfg, m, from_ns, until_ns, doubt),
            None => bound::without_model(
                &self.cfg,
                self.ms_ns2.sqrt(),
                view.freq_uncertainty_ppb,
                pulse_mono,
                until_ns,
                doubt,
            ),
        })
    }

    /// The bound (ns) over `[from_ns, until_ns]`; `i64::MAX` when there is none.
    pub fn bound_at(&self, from_ns: i64, until_ns: i64, view: &ServoView) -> i64 {
        self.terms(from_ns, until_ns, view)
            .map_or(i64::MAX, |t| t.total_ns())
    }

    /// The state the checks and the bound allow, before hysteresis, with its reason; and
    /// whether the bound itself is what keeps it from INSYNC.
    fn decide(&self, at: Stamp, bound_ns: i64, view: &ServoView) -> (SyncState, Reason, bool) {
        let acc = self.cfg.declared_accuracy_ns;
        let latched = self.foreign || self.state == SyncState::OutOfSync;
        let unsure = if latched {
            SyncState::OutOfSync
        } else {
            SyncState::Unknown
        };
        if self.device_lost {
            return (SyncState::OutOfSync, Reason::DeviceLost, false);
        }
        if self.disagrees {
            return (SyncState::OutOfSync, Reason::ReferenceDisagrees, false);
        }
        if self.foreign && !self.verified {
            return (SyncState::OutOfSync, Reason::ForeignChange, false);
        }
        if bound_ns == i64::MAX {
            let reason = if self.foreign {
                Reason::ForeignChange
            } else {
                Reason::Starting
            };
            return (unsure, reason, false);
        }
        if !self.verified {
            return (unsure, Reason::SecondsUnverified, false);
        }
        let why = if self.doubt.total_ns() > 0 {
            Reason::PulseDoubt
        } else if view.holdover {
            Reason::Holdover
        } else {
            Reason::Bound
        };
        if bound_ns > acc {
            return (SyncState::OutOfSync, why, true);
        }
        let warn = self.cfg.warn_fraction * acc as f64;
        let horizon_crossed = view.holdover && {
            let until = at.mono_ns.saturating_add(self.cfg.lifetime_ns);
            let later = until.saturating_add(self.cfg.holdover_horizon_ns);
            self.bound_at(at.mono_ns, later, view) > acc
        };
        if bound_ns as f64 > warn || horizon_crossed {
            return (SyncState::SoonOutOfSync, why, true);
        }
        (SyncState::InSync, Reason::None, false)
    }

    /// Decides the state at `at`, pushes `StateChanged` and ledger events, and returns what to
    /// publish.
    pub fn evaluate(
        &mut self,
        at: Stamp,
        view: &ServoView,
        leap: LeapState,
        out: &mut Vec<Action>,
    ) -> TrustState {
        if self
            .valid_until_mono_ns
            .is_some_and(|until| at.mono_ns > until && self.state == SyncState::InSync)
        {
            // Readers saw the last INSYNC expire before this renewal.
            self.ledger
                .observe(at, SyncState::Unknown, Reason::Stale, i64::MAX, out);
        }
        if view.holdover {
            // Pulses must come back and prove themselves before the state improves.
            self.good_run = 0;
        }
        let valid_until = at.mono_ns.saturating_add(self.cfg.lifetime_ns);
        let terms = self.terms(at.mono_ns, valid_until, view);
        let bound_ns = terms.map_or(i64::MAX, |t| t.total_ns());
        let (mut state, mut reason, by_bound) = self.decide(at, bound_ns, view);
        if by_bound {
            self.good_run = 0;
        }
        if state.level() > self.state.level() && self.good_run < self.cfg.recover_pulses {
            state = self.state;
            reason = Reason::Recovering;
        }
        if state.level() > 0 {
            self.foreign = false;
        }
        self.sigma_ns = match (&view.model, terms) {
            (Some(m), Some(_)) => m.offset_sd_ns * bound::guard_factor(m.prior_ratio_seen).sqrt(),
            (None, Some(_)) => self.ms_ns2.sqrt(),
            _ => f64::INFINITY,
        };
        if state != self.state {
            out.push(Action::Event(EngineEvent::StateChanged {
                from: self.state,
                to: state,
                bound_ns,
                last_trusted: self.last_trusted,
            }));
            self.state = state;
        }
        self.ledger.observe(at, state, reason, bound_ns, out);
        if state == SyncState::InSync {
            self.ever_trusted = true;
            self.last_trusted = Some(at.real);
        }
        self.valid_until_mono_ns = Some(valid_until);
        TrustState {
            state,
            leap,
            bound_ns,
            offset_ns: self.last_offset_ns,
            freq_ppb: view.freq_ppb,
            last_pulse: self.last_pulse.map(|(_, stamp)| stamp),
            updated_mono_ns: at.mono_ns,
            valid_until_mono_ns: valid_until,
            reason,
            terms: terms.unwrap_or_default(),
            leap_view: crate::engine::LeapView::default(),
        }
    }
}

#[cfg(test)]
mod tests;
