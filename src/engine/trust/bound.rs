//! The error bound, term by term: what the trust engine claims the clock's true offset stays
//! within over a window of CLOCK_MONOTONIC time (see `docs/trust.md` for each term).
//!
//! With a servo that keeps a phase model (the Kalman servo) the bound is built on the servo's
//! own uncertainty, guarded by its empirical checks so a wrong model can only widen it; without
//! one it falls back on the spread of the measured offsets. Pure arithmetic: it never sees a
//! clock, never returns a bound below any of its terms, and gives "no bound" (`i64::MAX`)
//! rather than a non-finite or overflowing figure.

use super::config::TrustConfig;
use crate::engine::servo::PhaseModel;

/// Standard errors the innovation check's ratio must clear before it widens the bound: the
/// check's own figure understates its error a little (the capture-noise estimate it leans on
/// moves slowly), so a mere fluctuation must not count as a wrong model, while a model that is
/// really too confident shows by far more.
const GUARD_SIGMAS: f64 = 3.0;

/// The terms of one error bound, ns. The bound is their sum.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BoundTerms {
    /// Configured receiver, cable and capture uncertainty.
    pub static_ns: f64,
    /// The servo's estimate of the offset (largest over the window) plus k σ of it.
    pub phase_ns: f64,
    /// k × the frequency uncertainty × the time since the last accepted pulse.
    pub freq_ns: f64,
    /// k × the random-walk growth √(q t³/3) since the last accepted pulse.
    pub wander_ns: f64,
    /// The configured drift bound × t²/2.
    pub drift_ns: f64,
    /// Pulses that disagree with the clock and are not explained yet, and accepted moves of
    /// the pulse train: which side was right is not known.
    pub doubt_ns: f64,
}

impl BoundTerms {
    /// The bound, ns, rounded up; `i64::MAX` (no bound) if it is not a finite number that fits.
    pub fn total_ns(&self) -> i64 {
        let sum = self.static_ns
            + self.phase_ns
            + self.freq_ns
            + self.wander_ns
            + self.drift_ns
            + self.doubt_ns;
        if sum.is_finite() && sum >= 0.0 && sum < i64::MAX as f64 {
            sum.ceil() as i64
        } else {
            i64::MAX
        }
    }
}

/// The variance factor the innovation check imposes on the model: 1 while the prediction
/// errors seen are within `GUARD_SIGMAS` standard errors of the model's claim, else the excess.
pub fn guard_factor(seen: Option<(f64, f64)>) -> f64 {
    match seen {
        Some((ratio, se)) if ratio.is_finite() && se.is_finite() => {
            (ratio - GUARD_SIGMAS * se).max(1.0)
        }
        _ => 1.0,
    }
}

/// The wander intensity the holdover growth uses: the model's, or what the free-running phase
/// showed if that is larger.
pub fn wander_used(m: &PhaseModel) -> f64 {
    m.wander.max(m.wander_seen.unwrap_or(0.0))
}

/// Seconds from `from_ns` to `to_ns` (CLOCK_MONOTONIC), never negative.
fn seconds(from_ns: i64, to_ns: i64) -> f64 {
    to_ns.saturating_sub(from_ns).max(0) as f64 * 1e-9
}

/// Holdover terms common to both kinds of bound, `t` seconds after the last accepted pulse.
fn drift_ns(cfg: &TrustConfig, t: f64) -> f64 {
    0.5 * cfg.drift_bound_ppb_per_s * t * t
}

/// The bound over CLOCK_MONOTONIC `[from_ns, until_ns]` from the servo's phase model.
pub fn with_model(
    cfg: &TrustConfig,
    m: &PhaseModel,
    from_ns: i64,
    until_ns: i64,
    doubt_ns: i64,
) -> BoundTerms {
    let k = cfg.k_sigma;
    let t = seconds(m.pulse_ns, until_ns);
    let g = guard_factor(m.prior_ratio_seen).sqrt();
    let q = wander_used(m);
    // The estimated offset moves linearly over the window: its largest magnitude is at an end.
    let first = m.offset_at(from_ns.max(m.since_ns)).abs();
    let last = m.offset_at(until_ns.max(m.since_ns)).abs();
    BoundTerms {
        static_ns: cfg.static_uncertainty_ns as f64,
        phase_ns: first.max(last) + k * g * m.offset_sd_ns,
        freq_ns: k * g * m.freq_sd_ppb * t,
        wander_ns: k * (q * t * t * t / 3.0).sqrt(),
        drift_ns: drift_ns(cfg, t),
        doubt_ns: doubt_ns as f64,
    }
}

/// The bound until CLOCK_MONOTONIC `until_ns` without a phase model: k × the rms of the
/// measured offsets `rms_ns` (which holds the estimate's error and the capture noise both)
/// and the servo's frequency uncertainty `freq_sd_ppb` over the time since the pulse at
/// `pulse_ns`.
pub fn without_model(
    cfg: &TrustConfig,
    rms_ns: f64,
    freq_sd_ppb: f64,
    pulse_ns: i64,
    until_ns: i64,
    doubt_ns: i64,
) -> BoundTerms {
    let k = cfg.k_sigma;
    let t = seconds(pulse_ns, until_ns);
    BoundTerms {
        static_ns: cfg.static_uncertainty_ns as f64,
        phase_ns: k * rms_ns,
        freq_ns: k * freq_sd_ppb * t,
        wander_ns: 0.0,
        drift_ns: drift_ns(cfg, t),
        doubt_ns: doubt_ns as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn model() -> PhaseModel {
        PhaseModel {
            pulse_ns: 100 * S,
            since_ns: 100 * S + 10_000_000,
            offset_ns: 20.0,
            rate_ppb: -20.0,
            offset_sd_ns: 36.0,
            freq_sd_ppb: 3.7,
            wander: 1.0,
            wander_seen: None,
            prior_ratio_seen: None,
        }
    }

    #[test]
    fn each_term_as_documented() {
        let cfg = TrustConfig {
            static_uncertainty_ns: 50,
            drift_bound_ppb_per_s: 0.01,
            ..TrustConfig::default()
        };
        let m = model();
        // 600 s after the pulse.
        let b = with_model(&cfg, &m, 100 * S + 500_000_000, 700 * S, 0);
        assert_eq!(b.static_ns, 50.0);
        // Offset 20 ns at since, −20 ppb: 20 − 20·(599.99 s) at the end.
        let end = (20.0_f64 - 20.0 * 599.99).abs();
        assert!((b.phase_ns - (end + 5.0 * 36.0)).abs() < 1e-6);
        assert!((b.freq_ns - 5.0 * 3.7 * 600.0).abs() < 1e-9);
        assert!((b.wander_ns - 5.0 * (600.0_f64.powi(3) / 3.0).sqrt()).abs() < 1e-6);
        assert!((b.drift_ns - 0.5 * 0.01 * 600.0 * 600.0).abs() < 1e-9);
        let total = b.static_ns + b.phase_ns + b.freq_ns + b.wander_ns + b.drift_ns;
        assert_eq!(b.total_ns(), total.ceil() as i64);
    }

    #[test]
    fn the_checks_can_only_widen_the_bound() {
        let cfg = TrustConfig::default();
        let base = with_model(&cfg, &model(), 101 * S, 102 * S, 0);
        let calm = PhaseModel {
            prior_ratio_seen: Some((1.1, 0.05)),
            wander_seen: Some(0.5),
            ..model()
        };
        assert_eq!(with_model(&cfg, &calm, 101 * S, 102 * S, 0), base);
        let wrong = PhaseModel {
            prior_ratio_seen: Some((4.3, 0.1)),
            wander_seen: Some(4.0),
            ..model()
        };
        let wide = with_model(&cfg, &wrong, 101 * S, 102 * S, 0);
        // Variance 4 times the model's: σ doubles.
        assert!((wide.phase_ns - base.phase_ns - 5.0 * 36.0).abs() < 1e-6);
        assert!((wide.wander_ns - 2.0 * base.wander_ns).abs() < 1e-9);
        assert!(wide.total_ns() > base.total_ns());
    }

    #[test]
    fn no_bound_rather_than_a_wrong_number() {
        let b = BoundTerms {
            phase_ns: f64::NAN,
            ..BoundTerms::default()
        };
        assert_eq!(b.total_ns(), i64::MAX);
        let b = BoundTerms {
            drift_ns: 1e30,
            ..BoundTerms::default()
        };
        assert_eq!(b.total_ns(), i64::MAX);
        let cfg = TrustConfig::default();
        let b = without_model(&cfg, 100.0, f64::INFINITY, 0, S, 0);
        assert_eq!(b.total_ns(), i64::MAX);
    }
}
