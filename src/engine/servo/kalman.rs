//! The Kalman servo, ppsd's own: a bank of two-state (phase, frequency) Kalman filters that
//! differ only in the assumed frequency wander, the one whose innovations are likeliest in
//! use; the capture noise measured online from second differences of the free-running phase;
//! and deadbeat control, which sets the frequency that brings the predicted offset at the next
//! pulse to zero. With that controller the offset left at each pulse is the filter's one-step
//! prediction error, the least any linear servo can leave (see `docs/servo.md`).
//!
//! The servo also refuses to follow a pulse train that suddenly moves: consistent outliers put
//! it in suspicion, where pulses are set aside and the clock holds its frequency, until the
//! train returns or the move has persisted long enough to be accepted and reported. While the
//! clock has never been trusted, pulses set aside for `reacquire_pulses` in a row that run at
//! another rate than the model's frequency mean the model is wrong, not the train: the servo
//! restarts acquisition from the line through those pulses (`aside.rs`) instead of rejecting
//! forever.
//!
//! For the trust engine it exposes its phase model ([`PhaseModel`]) with two empirical checks
//! of that model (`check.rs`): the prediction errors it really makes, and the wander of the
//! free-running phase over long lags.
//!
//! Pure arithmetic on small quantities (offsets in ns and frequencies in ppb as `f64`;
//! instants stay `i64` ns). It never reads a clock and allocates nothing after construction.

use super::{PhaseModel, PulseShift, Servo, ServoOutput, ServoSample, ServoState};

mod aside;
mod bank;
mod check;

use aside::AsideRun;
use bank::{Bank, NoiseEstimator, Step};
use check::{InnovationCheck, WanderCheck};

/// Innovations beyond this many standard deviations are outliers.
const GATE_SIGMAS: f64 = 5.0;
/// Consecutive, mutually consistent outliers that make the servo suspect the train moved.
const SHIFT_COUNT: u32 = 3;
/// Accepted samples before the outlier gate is applied (the first ones define the train).
const GATE_AFTER: u32 = 4;
/// While acquiring, pulses set aside for this many times `reacquire_pulses` in a row restart
/// acquisition even when their rate does not contradict the model's frequency by the gate.
const REACQUIRE_ANYWAY: u32 = 6;

const NS_PER_S: f64 = 1.0e9;

/// Tuning of the Kalman servo.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KalmanConfig {
    /// Standard deviation of the clock's frequency error before the first measurement, ppb.
    pub initial_freq_sigma_ppb: f64,
    /// Capture noise assumed until it has been measured, ns.
    pub initial_noise_ns: f64,
    /// Pulses of a moved train, in a row, after which the servo accepts the move; also the
    /// longest run of scattered outliers it sets aside once the clock has been trusted.
    pub shift_accept_pulses: u32,
    /// Pulses set aside in a row, while the clock has never been trusted, after which the
    /// servo restarts acquisition from those pulses if they run at another rate than its
    /// model's frequency (at least 3; checked again at every further pulse set aside), and
    /// after six times as many whatever their rate.
    pub reacquire_pulses: u32,
}

impl Default for KalmanConfig {
    fn default() -> Self {
        KalmanConfig {
            initial_freq_sigma_ppb: 500_000.0,
            initial_noise_ns: 1_000.0,
            shift_accept_pulses: 900,
            reacquire_pulses: 20,
        }
    }
}

/// A suspected move of the pulse train.
#[derive(Clone, Copy, Debug, Default)]
struct Suspicion {
    /// Mean distance of the moved pulses from the prediction, ns.
    shift: f64,
    /// Pulses of the moved train seen.
    count: u32,
    /// Pulses back on the predicted train, in a row.
    back: u32,
}

/// Outliers in a row, to tell a moved train from scattered spurious pulses.
#[derive(Clone, Copy, Debug, Default)]
struct OutlierRun {
    count: u32,
    sum: f64,
    sumsq: f64,
}

/// The Kalman servo's state.
#[derive(Clone, Debug)]
pub struct KalmanServo {
    cfg: KalmanConfig,
    bank: Bank,
    noise: NoiseEstimator,
    /// Local time of the last accepted sample, ns.
    t_last: Option<i64>,
    samples: u32,
    /// Frequency correction in force, ppb, and since when (local ns; `None`: since before
    /// the servo started).
    u: f64,
    u_since: Option<i64>,
    /// The correction in force before the last change, ppb.
    u_prev: f64,
    /// Control phase (frequency × time, steps) applied since `t_last`, ns.
    ctrl: f64,
    /// Control phase applied since start, ns (for the noise estimator).
    ctrl_total: f64,
    outliers: OutlierRun,
    suspicion: Option<Suspicion>,
    /// The frequency clamp of the last sample, ppb (the runner's policy).
    max_ppb: f64,
    /// Prediction errors seen against the model's claim.
    innovations: InnovationCheck,
    /// Wander of the free-running phase over long lags.
    wander_check: Box<WanderCheck>,
    /// The pulses set aside since the last one used.
    aside: AsideRun,
}

impl KalmanServo {
    /// A servo that knows nothing yet and holds frequency 0.
    pub fn new(cfg: KalmanConfig) -> KalmanServo {
        KalmanServo {
            cfg,
            bank: Bank::new(),
            noise: NoiseEstimator::default(),
            t_last: None,
            samples: 0,
            u: 0.0,
            u_since: None,
            u_prev: 0.0,
            ctrl: 0.0,
            ctrl_total: 0.0,
            outliers: OutlierRun::default(),
            suspicion: None,
            max_ppb: f64::MAX,
            innovations: InnovationCheck::default(),
            wander_check: Box::default(),
            aside: AsideRun::default(),
        }
    }

    /// Starts over (`KalmanServo::new`) keeping what the checks measured of the oscillator and
    /// the capture path; the stored phases are forgotten, since the phase lost its continuity.
    fn restart(&mut self) {
        let mut fresh = KalmanServo::new(self.cfg);
        std::mem::swap(&mut fresh.wander_check, &mut self.wander_check);
        fresh.wander_check.forget_phase();
        fresh.innovations = self.innovations;
        *self = fresh;
    }

    /// Capture-noise variance in use, ns².
    fn r(&self) -> f64 {
        self.noise
            .variance()
            .unwrap_or(self.cfg.initial_noise_ns * self.cfg.initial_noise_ns)
    }

    /// Books the phase the frequency in force moved the clock up to `t_ns`.
    fn close_segment(&mut self, t_ns: i64) {
        if let Some(since) = self.u_since {
            let phase = self.u * (t_ns - since) as f64 / NS_PER_S;
            self.ctrl += phase;
            self.ctrl_total += phase;
        }
        self.u_since = Some(t_ns);
    }

    fn set_freq(&mut self, u: f64, now_ns: i64, max_ppb: f64) -> f64 {
        self.close_segment(now_ns);
        self.u_prev = self.u;
        self.u = u.clamp(-max_ppb, max_ppb);
        self.u
    }

    /// The frequency that holds the clock's rate without correcting phase.
    fn hold_freq(&self) -> f64 {
        if self.samples >= 2 {
            -self.bank.best().y
        } else {
            self.u
        }
    }

    /// Starts over from the frequency in force, keeping the noise estimate.
    fn reacquire(&mut self) {
        let noise = self.noise;
        let (u, since, total, max) = (self.u, self.u_since, self.ctrl_total, self.max_ppb);
        self.restart();
        self.noise = noise;
        self.max_ppb = max;
        self.u = u;
        self.u_since = since;
        self.ctrl_total = total;
    }

    /// Takes the first sample of a (re)acquisition.
    fn first(&mut self, z: f64, pulse_ns: i64) {
        let p0 = self.cfg.initial_freq_sigma_ppb.powi(2);
        self.bank.init(z, -self.u, self.r(), p0);
        self.t_last = Some(pulse_ns);
        self.ctrl = 0.0;
    }

    /// Measurement update of every filter with `z` at `pulse_ns`.
    fn update(&mut self, z: f64, pulse_ns: i64, dt: f64, q_floor: f64) {
        let r = self.r();
        let step = Step {
            dt,
            ctrl_ns: self.ctrl,
            q_floor,
        };
        self.bank.update(step, z, r, self.samples);
        self.t_last = Some(pulse_ns);
        self.ctrl = 0.0;
        self.outliers = OutlierRun::default();
    }

    /// Classifies a sample against the prediction; `Err` carries what to report when the
    /// sample is set aside.
    fn screen(&mut self, nu: f64, s: f64) -> Result<(), Option<PulseShift>> {
        let gate2 = GATE_SIGMAS * GATE_SIGMAS * s;
        if let Some(mut sus) = self.suspicion {
            // Closer to the predicted train than to the moved one: the old train is back.
            if nu.abs() <= (nu - sus.shift).abs() && nu * nu <= gate2 {
                sus.back += 1;
                if sus.back >= SHIFT_COUNT {
                    self.suspicion = None;
                    return Err(Some(PulseShift::Cleared));
                }
                self.suspicion = Some(sus);
                return Ok(());
            }
            sus.back = 0;
            sus.count += 1;
            sus.shift += (nu - sus.shift) / f64::from(sus.count.min(64));
            self.suspicion = Some(sus);
            if sus.count >= self.cfg.shift_accept_pulses {
                return Err(Some(PulseShift::Accepted(sus.shift.round() as i64)));
            }
            return Err(None);
        }
        if self.samples < GATE_AFTER || nu * nu <= gate2 {
            return Ok(());
        }
        let run = &mut self.outliers;
        run.count += 1;
        run.sum += nu;
        run.sumsq += nu * nu;
        if run.count < SHIFT_COUNT {
            return Err(None);
        }
        let n = f64::from(run.count);
        let mean = run.sum / n;
        let spread = (run.sumsq / n - mean * mean).max(0.0);
        *run = OutlierRun::default();
        if spread <= GATE_SIGMAS * GATE_SIGMAS * self.r() {
            self.suspicion = Some(Suspicion {
                shift: mean,
                count: SHIFT_COUNT,
                back: 0,
            });
            return Err(Some(PulseShift::Suspected(mean.round() as i64)));
        }
        Err(None)
    }

    /// Deadbeat control: the frequency that brings the predicted offset to zero one second
    /// after the pulse at `pulse_ns`, given that it takes effect at `now_ns`.
    fn control(&mut self, pulse_ns: i64, now_ns: i64, max_ppb: f64) -> f64 {
        if self.samples < 2 {
            // One sample says nothing about frequency: hold until the second.
            return self.set_freq(self.u, now_ns, max_ppb);
        }
        let f = self.bank.best();
        let delay = ((now_ns - pulse_ns) as f64 / NS_PER_S).clamp(0.0, 0.5);
        // Phase when the new frequency takes over, the old one running until then.
        let x_now = f.x + (f.y + self.u) * delay;
        let u = -f.y - x_now / (1.0 - delay);
        self.set_freq(u, now_ns, max_ppb)
    }

    /// Estimated offset at the last accepted pulse, ns.
    pub fn offset_ns(&self) -> f64 {
        self.bank.best().x
    }

    /// Standard deviation of that estimate, ns.
    pub fn offset_sigma_ns(&self) -> f64 {
        self.bank.best().pxx.max(0.0).sqrt()
    }

    /// Estimated natural frequency error of the clock (without correction), ppb.
    pub fn freq_error_ppb(&self) -> f64 {
        self.bank.best().y
    }

    /// Frequency wander intensity of the filter in use, ns²/s³.
    pub fn wander(&self) -> f64 {
        self.bank.best().q
    }

    /// Capture noise in use, ns.
    pub fn noise_ns(&self) -> f64 {
        self.r().sqrt()
    }

    /// True when the pulses set aside run away from the prediction at another rate than the
    /// model's frequency: the slope of their free-running phase differs from the model's
    /// natural frequency by more than the gate. A moved train keeps the model's rate (its
    /// pulses sit a constant distance away) and is not a wrong model.
    fn frequency_contradicted(&self, t_ns: i64) -> bool {
        let Some(line) = self.aside.fit(t_ns, self.r()) else {
            return false;
        };
        let f = self.bank.best();
        let var = line.var_slope + f.pyy.max(0.0);
        let d = line.slope_ppb - f.y;
        d * d > GATE_SIGMAS * GATE_SIGMAS * var
    }

    /// The model is wrong: starts acquisition over from the line through the pulses set aside
    /// (their free-running phase gives the natural frequency error without the model), taking
    /// the pulse `z` at `s.pulse_ns` as the first of the new model, and sets the frequency that
    /// brings the clock onto the pulses.
    fn restart_from_aside(&mut self, z: f64, s: &ServoSample) -> ServoOutput {
        let line = self.aside.fit(s.pulse_ns, self.r());
        // Offset = free-running phase + all the control applied (booked up to the pulse).
        let ctrl_total = self.ctrl_total;
        self.reacquire();
        match line {
            Some(l) => {
                self.bank.init_with(
                    l.phase_ns + ctrl_total,
                    l.slope_ppb,
                    l.var_phase,
                    l.cov,
                    l.var_slope,
                );
                self.t_last = Some(s.pulse_ns);
                self.ctrl = 0.0;
                self.samples = 2;
            }
            None => {
                self.first(z, s.pulse_ns);
                self.samples = 1;
            }
        }
        self.note_phase(s.pulse_ns, z);
        let freq = self.control(s.pulse_ns, s.local_ns, s.max_freq_ppb);
        let state = if self.samples >= 2 {
            ServoState::Locked
        } else {
            ServoState::Unlocked
        };
        ServoOutput {
            restarted: true,
            ..ServoOutput::freq(freq, state)
        }
    }

    /// Books the free-running phase of an accepted pulse with the noise and wander checks.
    fn note_phase(&mut self, pulse_ns: i64, z: f64) {
        let phi = z - self.ctrl_total;
        self.noise.sample(pulse_ns, phi);
        self.wander_check.add(pulse_ns, phi);
    }
}

impl Servo for KalmanServo {
    fn name(&self) -> &'static str {
        "kalman"
    }

    fn sample(&mut self, s: &ServoSample) -> ServoOutput {
        let z = s.offset_ns as f64;
        let max = s.max_freq_ppb;
        self.close_segment(s.pulse_ns);
        self.max_ppb = max;
        let far = s.step_threshold_ns.is_some_and(|t| s.offset_ns.abs() > t);
        match self.t_last {
            None => self.first(z, s.pulse_ns),
            Some(t_last) => {
                let dt = (s.pulse_ns - t_last) as f64 / NS_PER_S;
                let q_floor = self.wander_check.wander(self.r()).unwrap_or(0.0);
                let (nu, var) = self
                    .bank
                    .best()
                    .predicted(dt, self.ctrl, q_floor, z, self.r());
                let verdict = if far { Ok(()) } else { self.screen(nu, var) };
                match verdict {
                    Ok(()) => {
                        if !far {
                            self.innovations.add(nu, var, var - self.r());
                        }
                        self.aside.clear();
                        self.update(z, s.pulse_ns, dt, q_floor)
                    }
                    Err(mut report) => {
                        if report == Some(PulseShift::Cleared) {
                            self.aside.clear();
                        } else {
                            self.aside.add(s.pulse_ns, z - self.ctrl_total);
                        }
                        let n = self.aside.count();
                        let min = self.cfg.reacquire_pulses.max(3);
                        if s.acquiring
                            && n >= min
                            && (self.frequency_contradicted(s.pulse_ns)
                                || n >= min.saturating_mul(REACQUIRE_ANYWAY))
                        {
                            return self.restart_from_aside(z, s);
                        }
                        if report.is_none()
                            && self.suspicion.is_none()
                            && self.aside.count() >= self.cfg.shift_accept_pulses
                        {
                            // Scattered outliers for as long as a moved train is given: the
                            // pulses disagree with the model too long to be glitches; follow
                            // them, with the distance kept as doubt (as for a moved train).
                            report = Some(PulseShift::Accepted(nu.round() as i64));
                        }
                        if let Some(PulseShift::Accepted(_)) = report {
                            self.reacquire();
                            self.first(z, s.pulse_ns);
                            self.samples = 1;
                            self.note_phase(s.pulse_ns, z);
                            let freq = self.set_freq(self.u, s.local_ns, max);
                            return ServoOutput {
                                rejected: false,
                                shift: report,
                                ..ServoOutput::freq(freq, ServoState::Unlocked)
                            };
                        }
                        let freq = self.set_freq(self.hold_freq(), s.local_ns, max);
                        let state = if self.samples >= 2 {
                            ServoState::Locked
                        } else {
                            ServoState::Unlocked
                        };
                        return ServoOutput {
                            rejected: !matches!(report, Some(PulseShift::Cleared)),
                            shift: report,
                            ..ServoOutput::freq(freq, state)
                        };
                    }
                }
            }
        }
        self.samples += 1;
        self.note_phase(s.pulse_ns, z);
        if far {
            let step = -self.bank.best().x.round() as i64;
            self.close_segment(s.local_ns);
            self.ctrl += step as f64;
            self.ctrl_total += step as f64;
            let hold = if self.samples >= 2 {
                -self.bank.best().y
            } else {
                self.u
            };
            let freq = self.set_freq(hold, s.local_ns, max);
            return ServoOutput {
                step_ns: Some(step),
                ..ServoOutput::freq(freq, ServoState::Jump)
            };
        }
        let freq = self.control(s.pulse_ns, s.local_ns, max);
        let state = if self.samples >= 2 {
            ServoState::Locked
        } else {
            ServoState::Unlocked
        };
        ServoOutput::freq(freq, state)
    }

    fn reset(&mut self, freq_ppb: f64) {
        self.restart();
        self.u = freq_ppb;
    }

    fn holdover(&mut self, now_ns: i64) -> f64 {
        let hold = self.hold_freq();
        self.set_freq(hold, now_ns, self.max_ppb)
    }

    fn freq_uncertainty_ppb(&self) -> f64 {
        if self.samples < 2 {
            f64::INFINITY
        } else {
            self.bank.best().pyy.max(0.0).sqrt()
        }
    }

    fn phase_model(&self) -> Option<PhaseModel> {
        let pulse_ns = self.t_last.filter(|_| self.samples >= 2)?;
        let f = self.bank.best();
        // The spreads come from the most cautious model the pulses cannot rule out.
        let c = self.bank.cautious();
        let since_ns = self.u_since.unwrap_or(pulse_ns).max(pulse_ns);
        let dt = (since_ns - pulse_ns) as f64 / NS_PER_S;
        Some(PhaseModel {
            pulse_ns,
            since_ns,
            // The estimate at the pulse, moved by the natural frequency and by the correction
            // booked between the pulse and `since_ns`.
            offset_ns: f.x + f.y * dt + self.ctrl,
            rate_ppb: f.y + self.u,
            offset_sd_ns: c.pxx.max(f.pxx).max(0.0).sqrt(),
            freq_sd_ppb: c.pyy.max(f.pyy).max(0.0).sqrt(),
            wander: c.q.max(f.q),
            wander_seen: self.wander_check.wander(self.r()),
            prior_ratio_seen: self.innovations.ratio(),
        })
    }
}

#[cfg(test)]
mod tests;
