//! The trust engine's parameters and their validation, shared by the scenario parser and the
//! daemon's configuration so both refuse the same things with the same words.
//!
//! Validation never panics and never adjusts a value: a parameter that would let the engine
//! vouch for a clock on a guess (a declared accuracy above 1 s, fewer than 3 σ, a static
//! uncertainty that already exceeds the accuracy) is an error naming the key.

use std::fmt;

use crate::time::NANOS_PER_SEC;

/// Largest declared accuracy, ns: EN 319 421 (7.7.2) asks a time-stamp authority for an
/// accuracy of 1 s or better.
pub const MAX_DECLARED_ACCURACY_NS: i64 = NANOS_PER_SEC;

/// Trust parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrustConfig {
    /// Declared accuracy, ns: INSYNC only while the bound is within it; at most 1 s.
    pub declared_accuracy_ns: i64,
    /// Receiver, cable and capture uncertainty added to every bound, ns.
    pub static_uncertainty_ns: i64,
    /// Multiplier of every standard deviation in the bound.
    pub k_sigma: f64,
    /// Bound on the oscillator's frequency drift beyond its random wander, ppb/s (holdover
    /// growth t²/2 term).
    pub drift_bound_ppb_per_s: f64,
    /// SOON_OUT_OF_SYNC when the bound passes this fraction of the declared accuracy.
    pub warn_fraction: f64,
    /// How long a published state holds, ns.
    pub lifetime_ns: i64,
    /// Good pulses in a row needed before the state improves again (hysteresis).
    pub recover_pulses: u32,
    /// Locked samples needed before any bound is given.
    pub min_samples: u32,
    /// In holdover, SOON_OUT_OF_SYNC once the bound would pass the accuracy within this long,
    /// ns.
    pub holdover_horizon_ns: i64,
}

impl Default for TrustConfig {
    fn default() -> TrustConfig {
        TrustConfig {
            declared_accuracy_ns: 1_000_000,
            static_uncertainty_ns: 0,
            k_sigma: 5.0,
            drift_bound_ppb_per_s: 1.0,
            warn_fraction: 0.8,
            lifetime_ns: 1_500_000_000,
            recover_pulses: 10,
            min_samples: 16,
            holdover_horizon_ns: 60 * NANOS_PER_SEC,
        }
    }
}

/// A trust parameter out of bounds: the key (as in the `[trust]` table) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The parameter, named as its configuration key.
    pub key: &'static str,
    /// What is wrong with it, in one line.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

impl std::error::Error for ConfigError {}

fn err(key: &'static str, message: String) -> Result<(), ConfigError> {
    Err(ConfigError { key, message })
}

fn in_range(key: &'static str, v: f64, lo: f64, hi: f64, why: &str) -> Result<(), ConfigError> {
    if v.is_finite() && (lo..=hi).contains(&v) {
        Ok(())
    } else {
        err(key, format!("must be between {lo} and {hi}{why}, got {v}"))
    }
}

impl TrustConfig {
    /// Checks every parameter.
    ///
    /// # Errors
    /// The first parameter out of bounds, with its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let acc = self.declared_accuracy_ns;
        if acc > MAX_DECLARED_ACCURACY_NS {
            return err(
                "declared_accuracy_ns",
                format!(
                    "{acc} ns is above 1 s; EN 319 421 (7.7.2) requires a time-stamp accuracy \
                     of 1 s or better"
                ),
            );
        }
        if acc < 1 {
            return err(
                "declared_accuracy_ns",
                format!("must be positive, got {acc}"),
            );
        }
        let s = self.static_uncertainty_ns;
        if !(0..acc).contains(&s) {
            return err(
                "static_uncertainty_ns",
                format!(
                    "must be at least 0 and below the declared accuracy ({acc} ns), or the \
                     clock could never be trusted; got {s}"
                ),
            );
        }
        in_range(
            "k_sigma",
            self.k_sigma,
            3.0,
            20.0,
            " (fewer σ would make the bound a guess)",
        )?;
        in_range(
            "drift_bound_ppb_per_s",
            self.drift_bound_ppb_per_s,
            0.0,
            1e6,
            "",
        )?;
        if !(self.warn_fraction > 0.0 && self.warn_fraction <= 1.0) {
            return err(
                "warn_fraction",
                format!("must be above 0 and at most 1, got {}", self.warn_fraction),
            );
        }
        let ms = 1_000_000;
        if !(ms..=60_000 * ms).contains(&self.lifetime_ns) {
            return err(
                "lifetime_ms",
                format!(
                    "must be between 1 and 60000 ms, got {} ms",
                    self.lifetime_ns as f64 / 1e6
                ),
            );
        }
        if !(1..=100_000).contains(&self.recover_pulses) {
            let n = self.recover_pulses;
            return err(
                "recover_pulses",
                format!("must be between 1 and 100000, got {n}"),
            );
        }
        if !(2..=100_000).contains(&self.min_samples) {
            let n = self.min_samples;
            return err(
                "min_samples",
                format!("must be between 2 and 100000, got {n}"),
            );
        }
        let day = 86_400 * NANOS_PER_SEC;
        if !(0..=day).contains(&self.holdover_horizon_ns) {
            return err(
                "holdover_horizon_s",
                format!(
                    "must be between 0 and 86400 s, got {} s",
                    self.holdover_horizon_ns as f64 / 1e9
                ),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_an_accuracy_above_one_second_is_refused() {
        assert_eq!(TrustConfig::default().validate(), Ok(()));
        let one_s = TrustConfig {
            declared_accuracy_ns: NANOS_PER_SEC,
            ..TrustConfig::default()
        };
        assert_eq!(one_s.validate(), Ok(()));
        let e = TrustConfig {
            declared_accuracy_ns: NANOS_PER_SEC + 1,
            ..TrustConfig::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(e.key, "declared_accuracy_ns");
        assert!(e.to_string().contains("EN 319 421"), "{e}");
        assert!(!e.to_string().contains('\n'));
    }

    #[test]
    fn refuses_settings_that_would_vouch_on_a_guess() {
        let base = TrustConfig::default();
        let cases: [(TrustConfig, &str); 6] = [
            (
                TrustConfig {
                    static_uncertainty_ns: 1_000_000,
                    ..base
                },
                "static_uncertainty_ns",
            ),
            (
                TrustConfig {
                    k_sigma: 2.0,
                    ..base
                },
                "k_sigma",
            ),
            (
                TrustConfig {
                    k_sigma: f64::NAN,
                    ..base
                },
                "k_sigma",
            ),
            (
                TrustConfig {
                    drift_bound_ppb_per_s: -1.0,
                    ..base
                },
                "drift_bound_ppb_per_s",
            ),
            (
                TrustConfig {
                    warn_fraction: 0.0,
                    ..base
                },
                "warn_fraction",
            ),
            (
                TrustConfig {
                    recover_pulses: 0,
                    ..base
                },
                "recover_pulses",
            ),
        ];
        for (cfg, key) in cases {
            assert_eq!(cfg.validate().unwrap_err().key, key);
        }
    }
}
