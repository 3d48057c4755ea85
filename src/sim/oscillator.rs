//! The simulated oscillator: the true frequency error of the free-running clock, as a constant
//! (ppm) plus a random walk (ppb/√s) plus an optional sinusoid (temperature), and its integral,
//! the phase error in ns at any true instant.
//!
//! The random walk is the integrated-Wiener model the optimal-filter limit assumes: each true
//! second the pair (phase, frequency) gets a joint Gaussian increment with covariance
//! q·[[1/3, 1/2], [1/2, 1]], q = wander², so the phase at whole seconds is exact for that
//! model; between seconds it is interpolated linearly. The constant and the sinusoid are
//! integrated in closed form. Seeded and deterministic; queries must not go back more than two
//! seconds behind the latest one (the driver only moves forward).

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::time::NANOS_PER_SEC;

/// Oscillator parameters (scenario `[clock]`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OscillatorConfig {
    /// Constant frequency error, ppm (positive: the clock runs fast).
    pub freq_ppm: f64,
    /// Frequency random walk, ppb/√s.
    pub wander_ppb_per_sqrt_s: f64,
    /// Sinusoidal frequency error amplitude, ppb.
    pub temp_amplitude_ppb: f64,
    /// Period of the sinusoid, s.
    pub temp_period_s: f64,
}

/// Seconds of random-walk phase kept: queries may reach back this far minus one.
const KEPT: usize = 4;

/// The oscillator's state.
#[derive(Clone, Debug)]
pub struct Oscillator {
    cfg: OscillatorConfig,
    rng: ChaCha8Rng,
    /// Whole second of `walk[0]`.
    base: i64,
    /// Random-walk phase (ns) at seconds `base..base + KEPT`.
    walk: [f64; KEPT],
    /// Random-walk frequency (ppb) at second `base + KEPT - 1`.
    walk_freq: f64,
}

impl Oscillator {
    /// An oscillator with zero phase error at true time 0, drawing from `rng`.
    pub fn new(cfg: OscillatorConfig, rng: ChaCha8Rng) -> Oscillator {
        let mut osc = Oscillator {
            cfg,
            rng,
            base: 0,
            walk: [0.0; KEPT],
            walk_freq: 0.0,
        };
        for i in 1..KEPT {
            osc.walk[i] = osc.next_walk(osc.walk[i - 1]);
        }
        osc
    }

    /// The configuration.
    pub fn config(&self) -> &OscillatorConfig {
        &self.cfg
    }

    /// One second of random walk from phase `x`: returns the next phase, updates the frequency.
    fn next_walk(&mut self, x: f64) -> f64 {
        let w = self.cfg.wander_ppb_per_sqrt_s;
        if w == 0.0 {
            return x;
        }
        let z1: f64 = self.rng.sample(StandardNormal);
        let z2: f64 = self.rng.sample(StandardNormal);
        let next = x + self.walk_freq + w * z1 / 3f64.sqrt();
        self.walk_freq += w * (z1 * 3f64.sqrt() / 2.0 + z2 / 2.0);
        next
    }

    /// Phase error (ns) accumulated from true time 0 to true time `tau_ns`.
    pub fn phase_ns(&mut self, tau_ns: i64) -> f64 {
        let sec = tau_ns.div_euclid(NANOS_PER_SEC);
        let frac = tau_ns.rem_euclid(NANOS_PER_SEC) as f64 * 1e-9;
        let constant = self.cfg.freq_ppm * 1e3 * (sec as f64 + frac);
        constant + self.walk_at(sec, frac) + self.sinusoid_ns(tau_ns)
    }

    fn walk_at(&mut self, sec: i64, frac: f64) -> f64 {
        if self.cfg.wander_ppb_per_sqrt_s == 0.0 {
            return 0.0;
        }
        while sec + 1 >= self.base + KEPT as i64 {
            self.walk.rotate_left(1);
            self.walk[KEPT - 1] = self.next_walk(self.walk[KEPT - 2]);
            self.base += 1;
        }
        let i = (sec - self.base).clamp(0, KEPT as i64 - 2) as usize;
        self.walk[i] + (self.walk[i + 1] - self.walk[i]) * frac
    }

    fn sinusoid_ns(&self, tau_ns: i64) -> f64 {
        let (a, p) = (self.cfg.temp_amplitude_ppb, self.cfg.temp_period_s);
        if a == 0.0 || p <= 0.0 {
            return 0.0;
        }
        // ∫ a·sin(2πt/p) dt from 0, with t reduced modulo p to keep the argument small.
        let p_ns = (p * 1e9).round() as i64;
        let t = tau_ns.rem_euclid(p_ns.max(1)) as f64 * 1e-9;
        let w = std::f64::consts::TAU / p;
        a / w * (1.0 - (w * t).cos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn osc(cfg: OscillatorConfig) -> Oscillator {
        Oscillator::new(cfg, ChaCha8Rng::seed_from_u64(7))
    }

    #[test]
    fn constant_frequency_integrates_exactly() {
        let mut o = osc(OscillatorConfig {
            freq_ppm: 50.0,
            ..Default::default()
        });
        assert_eq!(o.phase_ns(0), 0.0);
        assert_eq!(o.phase_ns(1_000_000_000), 50_000.0);
        assert_eq!(o.phase_ns(86_400 * NANOS_PER_SEC), 4_320_000_000.0);
    }

    #[test]
    fn sinusoid_returns_to_zero_each_period() {
        let mut o = osc(OscillatorConfig {
            temp_amplitude_ppb: 10.0,
            temp_period_s: 100.0,
            ..Default::default()
        });
        assert!(o.phase_ns(100 * NANOS_PER_SEC).abs() < 1e-9);
        // Peak of the integral at half a period: 2·a·p/(2π).
        let peak = 2.0 * 10.0 * 100.0 / std::f64::consts::TAU;
        assert!((o.phase_ns(50 * NANOS_PER_SEC) - peak).abs() < 1e-9);
    }

    #[test]
    fn random_walk_frequency_has_the_configured_spread() {
        // Over 400 s the walk's frequency has variance w²·400; check over many runs.
        let cfg = OscillatorConfig {
            wander_ppb_per_sqrt_s: 2.0,
            ..Default::default()
        };
        let mut sum2 = 0.0;
        let runs = 400;
        for seed in 0..runs {
            let mut o = Oscillator::new(cfg, ChaCha8Rng::seed_from_u64(seed));
            let a = o.phase_ns(400 * NANOS_PER_SEC);
            let b = o.phase_ns(401 * NANOS_PER_SEC);
            let f = b - a;
            sum2 += f * f;
        }
        let var = sum2 / runs as f64;
        // Frequency over second 400 averages the walk: variance 4·(400 + 1/3) ± sampling.
        assert!((var / 1601.0 - 1.0).abs() < 0.2, "variance {var}");
    }
}
