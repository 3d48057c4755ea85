//! The baseline PI servo, after linuxptp's `pi.c`: the first two samples estimate the
//! frequency (and ask for a step when the offset is above the threshold), then each sample sets
//! frequency = integral − kp·offset − ki·offset with the integral taking −ki·offset unless the
//! output is clamped (no wind-up).
//!
//! It is the in-run yardstick the real servo must beat, so it stays plain: fixed gains per
//! one-second sample (kp 0.7, ki 0.3), no noise model. It must never read a clock.

use super::{Servo, ServoOutput, ServoSample, ServoState};

/// Proportional gain per sample.
pub const KP: f64 = 0.7;
/// Integral gain per sample.
pub const KI: f64 = 0.3;

/// Smoothing of the integral's spread, which stands for the frequency uncertainty.
const SPREAD_ALPHA: f64 = 1.0 / 64.0;

/// The PI servo's state.
#[derive(Clone, Debug)]
pub struct PiServo {
    kp: f64,
    ki: f64,
    count: u8,
    first_offset_ns: i64,
    first_local_ns: i64,
    integral_ppb: f64,
    mean_ppb: f64,
    var_ppb2: f64,
}

impl PiServo {
    /// A PI servo with gains `kp` and `ki` per sample.
    pub fn new(kp: f64, ki: f64) -> PiServo {
        PiServo {
            kp,
            ki,
            count: 0,
            first_offset_ns: 0,
            first_local_ns: 0,
            integral_ppb: 0.0,
            mean_ppb: 0.0,
            var_ppb2: f64::INFINITY,
        }
    }

    fn track_spread(&mut self) {
        let d = self.integral_ppb - self.mean_ppb;
        if self.var_ppb2.is_finite() {
            self.mean_ppb += SPREAD_ALPHA * d;
            self.var_ppb2 = (1.0 - SPREAD_ALPHA) * (self.var_ppb2 + SPREAD_ALPHA * d * d);
        } else {
            self.mean_ppb = self.integral_ppb;
            self.var_ppb2 = 0.0;
        }
    }
}

impl Servo for PiServo {
    fn name(&self) -> &'static str {
        "pi"
    }

    fn sample(&mut self, s: &ServoSample) -> ServoOutput {
        let offset = s.offset_ns as f64;
        let unlocked = ServoOutput::freq(self.integral_ppb, ServoState::Unlocked);
        match self.count {
            0 => {
                self.first_offset_ns = s.offset_ns;
                self.first_local_ns = s.local_ns;
                self.count = 1;
                unlocked
            }
            1 => {
                let dt_ns = s.local_ns.saturating_sub(self.first_local_ns);
                if dt_ns <= 0 {
                    self.count = 0;
                    return unlocked;
                }
                // The offset grew this fast (ns/s = ppb) with the current frequency set.
                let rate_ppb = (s.offset_ns - self.first_offset_ns) as f64 / dt_ns as f64 * 1e9;
                self.integral_ppb =
                    (self.integral_ppb - rate_ppb).clamp(-s.max_freq_ppb, s.max_freq_ppb);
                self.count = 2;
                self.var_ppb2 = f64::INFINITY;
                self.track_spread();
                let step = s.step_threshold_ns.filter(|t| s.offset_ns.abs() > *t);
                ServoOutput {
                    step_ns: step.map(|_| -s.offset_ns),
                    ..ServoOutput::freq(
                        self.integral_ppb,
                        if step.is_some() {
                            ServoState::Jump
                        } else {
                            ServoState::Locked
                        },
                    )
                }
            }
            _ => {
                if s.step_threshold_ns.is_some_and(|t| s.offset_ns.abs() > t) {
                    // Far off while a step is allowed: start over, estimate, then step.
                    self.count = 0;
                    return unlocked;
                }
                let ki_term = -self.ki * offset;
                let mut freq = self.integral_ppb - self.kp * offset + ki_term;
                if freq.abs() > s.max_freq_ppb {
                    freq = freq.clamp(-s.max_freq_ppb, s.max_freq_ppb);
                } else {
                    self.integral_ppb += ki_term;
                }
                self.track_spread();
                ServoOutput::freq(freq, ServoState::Locked)
            }
        }
    }

    fn reset(&mut self, freq_ppb: f64) {
        *self = PiServo::new(self.kp, self.ki);
        self.integral_ppb = freq_ppb;
    }

    fn holdover(&mut self, _now_ns: i64) -> f64 {
        self.integral_ppb
    }

    fn freq_uncertainty_ppb(&self) -> f64 {
        if self.count < 2 {
            f64::INFINITY
        } else {
            self.var_ppb2.sqrt()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(offset_ns: i64, t: i64, threshold: Option<i64>) -> ServoSample {
        ServoSample {
            offset_ns,
            pulse_ns: t * 1_000_000_000,
            local_ns: t * 1_000_000_000,
            step_threshold_ns: threshold,
            max_freq_ppb: 1e6,
            acquiring: true,
        }
    }

    #[test]
    fn estimates_frequency_then_steps() {
        let mut pi = PiServo::new(KP, KI);
        pi.reset(0.0);
        assert_eq!(
            pi.sample(&sample(10_000_000, 0, Some(1_000_000))).state,
            ServoState::Unlocked
        );
        // The clock gained 50 µs in one second: it runs 50 ppm fast.
        let out = pi.sample(&sample(10_050_000, 1, Some(1_000_000)));
        assert_eq!(out.state, ServoState::Jump);
        assert_eq!(out.step_ns, Some(-10_050_000));
        assert!((out.freq_ppb + 50_000.0).abs() < 1e-6);
    }

    #[test]
    fn pulls_a_simulated_clock_in_without_a_step() {
        // A clock 50 ppm fast, 200 µs ahead; the loop is closed by hand here.
        let (mut x, mut pi) = (200_000.0_f64, PiServo::new(KP, KI));
        pi.reset(0.0);
        let mut freq = 0.0;
        for t in 0..3_000 {
            let out = pi.sample(&sample(x.round() as i64, t, None));
            freq = out.freq_ppb;
            x += 50_000.0 + freq;
        }
        assert!(x.abs() < 1.0, "offset {x}");
        assert!((freq + 50_000.0).abs() < 1.0);
        assert!((pi.holdover(0) + 50_000.0).abs() < 1.0);
        assert!(pi.freq_uncertainty_ppb() < 1.0);
    }

    #[test]
    fn clamps_without_wind_up() {
        let mut pi = PiServo::new(KP, KI);
        pi.reset(0.0);
        pi.sample(&sample(400_000_000, 0, None));
        pi.sample(&sample(400_000_000, 1, None));
        let before = pi.holdover(0);
        let out = pi.sample(&sample(400_000_000, 2, None));
        assert_eq!(out.freq_ppb, -1e6);
        assert_eq!(pi.holdover(0), before);
    }
}
