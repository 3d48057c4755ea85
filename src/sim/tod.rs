//! The simulated time-of-day reference (an NTP server or NMEA receiver): every `interval_s`
//! true seconds a reading of the clock minus UTC, whole seconds included, with its own Gaussian
//! jitter, plus the leap second it announces for the end of the current UTC day.
//!
//! The reading is computed from ground truth handed in by the driver; this module never decides
//! what the truth is, and never reads the engine.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::engine::{Leap, TodSample};

/// Reference parameters (scenario `[tod]`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TodConfig {
    /// Jitter of a reading, one σ, ns.
    pub jitter_ns: f64,
    /// True seconds between readings.
    pub interval_s: i64,
}

impl Default for TodConfig {
    fn default() -> TodConfig {
        TodConfig {
            jitter_ns: 1_000_000.0,
            interval_s: 16,
        }
    }
}

/// One reading given the clock's true offset from UTC (`true_offset_ns`), the reference's own
/// error in whole seconds (`tod_offset` fault) and the announced leap.
pub fn reading(
    cfg: &TodConfig,
    rng: &mut ChaCha8Rng,
    true_offset_ns: f64,
    wrong_by_s: i64,
    leap: Leap,
) -> TodSample {
    let z: f64 = rng.sample(StandardNormal);
    let noisy = true_offset_ns + cfg.jitter_ns * z;
    TodSample {
        offset_ns: (noisy.round() as i64).saturating_sub(wrong_by_s.saturating_mul(1_000_000_000)),
        leap,
        authenticated: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn a_reference_ahead_makes_the_clock_look_behind() {
        let cfg = TodConfig {
            jitter_ns: 0.0,
            interval_s: 16,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let r = reading(&cfg, &mut rng, 1_500.0, 2, Leap::Insert);
        assert_eq!(r.offset_ns, 1_500 - 2_000_000_000);
        assert_eq!(r.leap, Leap::Insert);
    }
}
