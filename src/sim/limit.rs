//! The optimal-filter limit of a scenario: the steady-state rms offset that the best linear
//! controller could leave, for the model "phase + frequency, frequency random walk, white
//! measurement noise, one sample per second".
//!
//! State x = (phase, frequency); F = [[1, 1], [0, 1]]; process noise Q = q·[[1/3, 1/2], [1/2, 1]]
//! with q = wander² (ns²/s³); measurement H = [1, 0] with noise R = σ² + q_saw²/3. The discrete
//! Riccati equation is iterated to its fixed point; the limit is the square root of the
//! a-priori (one-step prediction) phase variance, because a controller that steers its own
//! prediction to zero leaves exactly the prediction error at the next pulse. Pure arithmetic;
//! never touches the simulation.

/// The limit, ns rms, for capture jitter `jitter_ns` (σ), sawtooth half-width `sawtooth_ns`
/// and frequency wander `wander_ppb_per_sqrt_s`.
pub fn limit_rms_ns(jitter_ns: f64, sawtooth_ns: f64, wander_ppb_per_sqrt_s: f64) -> f64 {
    let q = wander_ppb_per_sqrt_s * wander_ppb_per_sqrt_s;
    let r = jitter_ns * jitter_ns + sawtooth_ns * sawtooth_ns / 3.0;
    if q == 0.0 {
        return 0.0;
    }
    // Posterior covariance [[a, b], [b, c]], started large.
    let (mut a, mut b, mut c) = (1e18_f64, 0.0_f64, 1e12_f64);
    let mut prior00 = f64::INFINITY;
    for _ in 0..1_000_000 {
        // Predict: F P Fᵀ + Q.
        let pa = a + 2.0 * b + c + q / 3.0;
        let pb = b + c + q / 2.0;
        let pc = c + q;
        // Update with H = [1, 0].
        let s = pa + r;
        let (ka, kb) = (pa / s, pb / s);
        let (na, nb, nc) = ((1.0 - ka) * pa, (1.0 - ka) * pb, pc - kb * pb);
        let done = (pa - prior00).abs() <= 1e-12 * pa.max(1e-300);
        (a, b, c, prior00) = (na, nb, nc, pa);
        if done {
            break;
        }
    }
    prior00.sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_noise_no_limit_and_no_jitter_leaves_the_walk() {
        assert_eq!(limit_rms_ns(100.0, 0.0, 0.0), 0.0);
        // With R = 0 the phase is known exactly but the frequency is not: the fixed point has
        // frequency variance c with (c + q/2)² = q(c + q/3), so c = q/√12, and the prediction
        // variance is c + q/3.
        let q = 9.0;
        let closed = (q / 12f64.sqrt() + q / 3.0).sqrt();
        assert!((limit_rms_ns(0.0, 0.0, 3.0) - closed).abs() < 1e-6);
    }

    #[test]
    fn sawtooth_counts_as_its_variance() {
        let a = limit_rms_ns(0.0, 300.0, 1.0);
        let b = limit_rms_ns((300.0f64 * 300.0 / 3.0).sqrt(), 0.0, 1.0);
        assert!((a - b).abs() < 1e-9);
    }
}
