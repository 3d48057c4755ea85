//! The pulses the Kalman servo has set aside in a row, and the straight line through their
//! free-running phase (offset minus every correction the servo applied): while the servo holds
//! a frequency its model got wrong, that line's slope is the clock's natural frequency error,
//! measured without the model. The servo restarts acquisition from it (see `docs/servo.md`).
//!
//! It only counts and fits; it never decides what the servo does. Running sums of fixed size,
//! no allocation; times are relative to the first pulse of the run so the sums stay small.

const NS_PER_S: f64 = 1.0e9;

/// A straight line through the set-aside phases, evaluated at one instant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Line {
    /// Free-running phase on the line at that instant, ns.
    pub phase_ns: f64,
    /// Slope: the clock's natural frequency error, ppb.
    pub slope_ppb: f64,
    /// Covariance of (phase, slope) from the scatter about the line.
    pub var_phase: f64,
    pub cov: f64,
    pub var_slope: f64,
}

/// Consecutive set-aside pulses and the least-squares sums of their free-running phase.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct AsideRun {
    n: u32,
    t0_ns: i64,
    phi0: f64,
    st: f64,
    stt: f64,
    sp: f64,
    stp: f64,
    spp: f64,
}

impl AsideRun {
    /// Books one set-aside pulse at CLOCK_MONOTONIC `t_ns` with free-running phase `phi` (ns).
    pub fn add(&mut self, t_ns: i64, phi: f64) {
        if !phi.is_finite() {
            return;
        }
        if self.n == 0 {
            self.t0_ns = t_ns;
            self.phi0 = phi;
        }
        let t = (t_ns - self.t0_ns) as f64 / NS_PER_S;
        let p = phi - self.phi0;
        self.n = self.n.saturating_add(1);
        self.st += t;
        self.stt += t * t;
        self.sp += p;
        self.stp += t * p;
        self.spp += p * p;
    }

    /// Pulses set aside in a row.
    pub fn count(&self) -> u32 {
        self.n
    }

    /// A pulse was used: the run ends.
    pub fn clear(&mut self) {
        *self = AsideRun::default();
    }

    /// The least-squares line through the run, evaluated at `t_ns`; the scatter about it is
    /// taken as at least `r` (ns², the capture noise in use). `None` with fewer than three
    /// pulses or when they all fall at one instant.
    pub fn fit(&self, t_ns: i64, r: f64) -> Option<Line> {
        if self.n < 3 {
            return None;
        }
        let n = f64::from(self.n);
        let (mt, mp) = (self.st / n, self.sp / n);
        let stt = self.stt - n * mt * mt;
        let stp = self.stp - n * mt * mp;
        let spp = self.spp - n * mp * mp;
        if stt.is_nan() || stt <= 0.0 {
            return None;
        }
        let slope = stp / stt;
        let scatter = ((spp - slope * stp) / (n - 2.0)).max(r).max(1.0);
        let dt = (t_ns - self.t0_ns) as f64 / NS_PER_S - mt;
        let line = Line {
            phase_ns: self.phi0 + mp + slope * dt,
            slope_ppb: slope,
            var_phase: scatter * (1.0 / n + dt * dt / stt),
            cov: scatter * dt / stt,
            var_slope: scatter / stt,
        };
        let finite = [
            line.phase_ns,
            line.slope_ppb,
            line.var_phase,
            line.var_slope,
        ]
        .iter()
        .all(|v| v.is_finite());
        finite.then_some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn fits_the_slope_and_phase_of_a_ramp() {
        let mut run = AsideRun::default();
        assert_eq!(run.fit(0, 1.0), None);
        // 6.44 ppm off, ±300 ns of alternating scatter, starting 5 µs off.
        for k in 0..20 {
            let wiggle = if k % 2 == 0 { 300.0 } else { -300.0 };
            run.add(100 * S + k * S, 5_000.0 + 6_440.0 * k as f64 + wiggle);
        }
        assert_eq!(run.count(), 20);
        let line = run.fit(119 * S, 1.0).unwrap();
        assert!((line.slope_ppb - 6_440.0).abs() < 40.0, "{line:?}");
        assert!(
            (line.phase_ns - (5_000.0 + 6_440.0 * 19.0)).abs() < 400.0,
            "{line:?}"
        );
        // The scatter is about 300 ns: the slope is known to a few tens of ppb.
        assert!(line.var_slope.sqrt() > 5.0 && line.var_slope.sqrt() < 50.0);
        run.clear();
        assert_eq!(run.count(), 0);
        run.add(0, 1.0);
        run.add(0, 2.0);
        run.add(0, 3.0);
        assert_eq!(run.fit(0, 1.0), None, "no time span, no slope");
    }
}
