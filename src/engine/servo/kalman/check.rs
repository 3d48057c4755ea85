//! Empirical checks of the Kalman servo's model, so that a wrong model cannot shrink the trust
//! engine's error bound: the innovation check compares the one-step prediction errors the servo
//! actually makes with the variance its model claims, and the wander check measures how far the
//! free-running phase really wanders over long lags, independently of the model.
//!
//! Both only report figures; they never change what the servo does. Plain arithmetic on small
//! quantities, fixed-size state, no allocation after construction.

/// Memory of both checks, samples (about 68 minutes of pulses).
const MEMORY: f64 = 4096.0;
/// Innovations needed before the innovation check reports.
const INNOVATION_MIN: u32 = 256;
/// Lags of the wander check, s.
const LAGS: [i64; 2] = [64, 256];
/// Ring of free-running phases: two of the longest lag, plus the current second.
const RING: usize = 2 * 256 + 1;
const NS_PER_S: i64 = 1_000_000_000;

/// Running comparison of prediction errors with the model's claim.
///
/// Each accepted pulse gives an innovation ν whose model variance is S = P⁻ + R (prediction
/// plus capture noise). The statistic e = (ν² − S)/P⁻ has mean 0 when the model holds; its
/// mean plus one is the ratio of the prediction-error variance seen to the one claimed.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct InnovationCheck {
    n: u32,
    mean: f64,
    mean_sq: f64,
}

impl InnovationCheck {
    /// Takes one innovation `nu` (ns) whose model variance is `s` (ns²), of which `prior` is the
    /// prediction's share.
    pub fn add(&mut self, nu: f64, s: f64, prior: f64) {
        if !(prior > 0.0 && nu.is_finite() && s.is_finite()) {
            return;
        }
        let e = (nu * nu - s) / prior;
        self.n = self.n.saturating_add(1);
        let a = (1.0 / f64::from(self.n)).max(1.0 / MEMORY);
        self.mean += a * (e - self.mean);
        self.mean_sq += a * (e * e - self.mean_sq);
    }

    /// The prediction-error variance seen as a multiple of the model's, and the standard error
    /// of that figure (from the spread of the statistic; the estimate of R the statistic leans
    /// on moves slowly, so the real error is somewhat larger, which the trust engine allows for).
    pub fn ratio(&self) -> Option<(f64, f64)> {
        if self.n < INNOVATION_MIN {
            return None;
        }
        let n_eff = f64::from(self.n).min(2.0 * MEMORY - 1.0);
        let var = (self.mean_sq - self.mean * self.mean).max(0.0);
        Some((1.0 + self.mean, (var / n_eff).sqrt()))
    }
}

/// Second differences of one lag: D = φ(t) − 2φ(t−τ) + φ(t−2τ).
#[derive(Clone, Copy, Debug, Default)]
struct Lag {
    n: u32,
    mean_d2: f64,
}

/// Wander measured from the free-running phase φ (offset minus every correction the servo
/// applied): for a frequency random walk of intensity q and white capture noise of variance R,
/// E[D²] = (2/3)·q·τ³ + 6R at lag τ, whatever the filter believes.
#[derive(Clone, Debug)]
pub(super) struct WanderCheck {
    /// (second, φ) by second modulo the ring size; `i64::MIN` marks an empty slot.
    ring: [(i64, f64); RING],
    lags: [Lag; 2],
}

impl Default for WanderCheck {
    fn default() -> WanderCheck {
        WanderCheck {
            ring: [(i64::MIN, 0.0); RING],
            lags: [Lag::default(); 2],
        }
    }
}

impl WanderCheck {
    fn slot(sec: i64) -> usize {
        sec.rem_euclid(RING as i64) as usize
    }

    fn phase(&self, sec: i64) -> Option<f64> {
        let (s, phi) = self.ring[Self::slot(sec)];
        (s == sec).then_some(phi)
    }

    /// Takes the free-running phase `phi` (ns) of the pulse at CLOCK_MONOTONIC `t_ns`.
    pub fn add(&mut self, t_ns: i64, phi: f64) {
        if !phi.is_finite() {
            return;
        }
        let sec = t_ns.saturating_add(NS_PER_S / 2).div_euclid(NS_PER_S);
        for (i, lag) in LAGS.iter().enumerate() {
            let (Some(a), Some(b)) = (self.phase(sec - lag), self.phase(sec - 2 * lag)) else {
                continue;
            };
            let d = phi - 2.0 * a + b;
            let stat = &mut self.lags[i];
            stat.n = stat.n.saturating_add(1);
            let w = (1.0 / f64::from(stat.n)).max(1.0 / MEMORY);
            stat.mean_d2 += w * (d * d - stat.mean_d2);
        }
        self.ring[Self::slot(sec)] = (sec, phi);
    }

    /// The phase lost its continuity (a clock change ppsd did not make, an accepted move of
    /// the pulse train): forget the stored phases, keep what was measured.
    pub fn forget_phase(&mut self) {
        self.ring = [(i64::MIN, 0.0); RING];
    }

    /// The wander intensity (ns²/s³) measured at the longest lag with at least a lag's worth
    /// of second differences, given capture-noise variance `r` (ns²); `None` before that.
    pub fn wander(&self, r: f64) -> Option<f64> {
        for i in (0..LAGS.len()).rev() {
            let (lag, stat) = (LAGS[i], self.lags[i]);
            if i64::from(stat.n) >= lag {
                let tau3 = (lag as f64).powi(3);
                return Some(1.5 * (stat.mean_d2 - 6.0 * r).max(0.0) / tau3);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};

    #[test]
    fn innovations_as_large_as_claimed_give_a_ratio_near_one_and_larger_ones_show() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let (prior, r) = (1_500.0_f64, 10_000.0_f64);
        let mut right = InnovationCheck::default();
        let mut wrong = InnovationCheck::default();
        assert_eq!(right.ratio(), None);
        let claimed = Normal::new(0.0, (prior + r).sqrt()).unwrap();
        let twice = Normal::new(0.0, (2.0 * prior + r).sqrt()).unwrap();
        for _ in 0..20_000 {
            right.add(claimed.sample(&mut rng), prior + r, prior);
            wrong.add(twice.sample(&mut rng), prior + r, prior);
        }
        let (ok, se) = right.ratio().unwrap();
        assert!((ok - 1.0).abs() < 4.0 * se, "{ok} ± {se}");
        assert!(se < 0.2, "{se}");
        let (bad, se) = wrong.ratio().unwrap();
        assert!((bad - 2.0).abs() < 4.0 * se, "{bad} ± {se}");
    }

    #[test]
    fn measures_a_random_walk_of_frequency_through_capture_noise() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let (q, r) = (4.0_f64, 10_000.0_f64);
        let step = Normal::new(0.0, 1.0).unwrap();
        let noise = Normal::new(0.0, r.sqrt()).unwrap();
        let mut check = WanderCheck::default();
        let (mut x, mut y) = (0.0, 0.0);
        for k in 0..20_000_i64 {
            // The integrated Wiener increment over one second, drawn exactly.
            let (a, b): (f64, f64) = (step.sample(&mut rng), step.sample(&mut rng));
            let dy = q.sqrt() * a;
            let dx = q.sqrt() * (a / 2.0 + b / 12.0_f64.sqrt());
            x += y + dx;
            y += dy;
            if k == 150 {
                // The shorter lag needs 2·64 s of phases and then 64 second differences.
                assert_eq!(check.wander(r), None, "too early");
            }
            check.add(k * NS_PER_S + 3, x + noise.sample(&mut rng));
        }
        let seen = check.wander(r).unwrap();
        assert!((seen / q - 1.0).abs() < 0.35, "seen {seen}, true {q}");
        check.forget_phase();
        check.add(20_000 * NS_PER_S, 0.0);
        assert!(check.wander(r).is_some(), "what was measured is kept");
    }
}
