//! Servos: the algorithms that turn measured offsets into a clock frequency (and, before the
//! clock is trusted, a step), behind one small trait so they are interchangeable.
//!
//! The [`Servo`] trait is the algorithm alone. [`ServoRunner`] holds the policy shared by every
//! algorithm, once: when a step is allowed and above what threshold, the frequency clamp, and the
//! promotion from `Locked` to `LockedStable`. The engine is the one caller that acts on the
//! output. Kernel units live here too: [`kernel_freq`] splits a frequency into `ADJ_FREQUENCY`
//! and `ADJ_TICK`. No servo reads a clock; none may return a non-finite frequency.

use crate::io::ScaledPpm;

pub mod kalman;
pub mod pi;

/// Where a servo is in its lock cycle (after linuxptp's servo states).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub enum ServoState {
    /// Collecting the first samples; no frequency to apply yet.
    #[default]
    Unlocked,
    /// Step the clock by the output's `step_ns`, then set the frequency.
    Jump,
    /// Tracking: set the frequency.
    Locked,
    /// Tracking, and the offset has stayed small for a while.
    LockedStable,
}

impl ServoState {
    /// True for `Locked` and `LockedStable`.
    pub fn is_locked(self) -> bool {
        matches!(self, ServoState::Locked | ServoState::LockedStable)
    }
}

/// One sample handed to a servo.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ServoSample {
    /// Clock minus reference, ns.
    pub offset_ns: i64,
    /// When the pulse happened, CLOCK_MONOTONIC ns (the kernel's stamp, moved onto the
    /// monotonic clock).
    pub pulse_ns: i64,
    /// When the servo's answer takes effect (the engine handles the pulse and writes the
    /// frequency right away), CLOCK_MONOTONIC ns; a few ms after `pulse_ns`.
    pub local_ns: i64,
    /// Step when the offset is above this (ns); `None` when stepping is not allowed now.
    pub step_threshold_ns: Option<i64>,
    /// Largest frequency magnitude the servo may ask for, ppb.
    pub max_freq_ppb: f64,
    /// True while the clock has never been trusted: the servo is still acquiring, so a model
    /// the pulses keep contradicting is restarted rather than defended (see `docs/servo.md`).
    pub acquiring: bool,
}

/// What a servo asks for after a sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ServoOutput {
    /// Frequency to set, ppb (positive makes the clock faster).
    pub freq_ppb: f64,
    /// Step to apply first, ns (added to the clock); only with [`ServoState::Jump`].
    pub step_ns: Option<i64>,
    /// Lock state.
    pub state: ServoState,
    /// The sample was not used (an outlier, or a pulse of a train under suspicion).
    pub rejected: bool,
    /// The pulse train moved, as far as the servo can tell.
    pub shift: Option<PulseShift>,
    /// The servo found its own model wrong (the pulses kept contradicting it while acquiring)
    /// and restarted acquisition from what the recent pulses show; `freq_ppb` is the
    /// frequency it restarts from. Any suspicion of a moved train is dropped with it.
    pub restarted: bool,
}

impl ServoOutput {
    /// Set `freq_ppb`, nothing else to report.
    pub fn freq(freq_ppb: f64, state: ServoState) -> ServoOutput {
        ServoOutput {
            freq_ppb,
            step_ns: None,
            state,
            rejected: false,
            shift: None,
            restarted: false,
        }
    }
}

/// A sudden move of the pulse train that the servo refuses to follow blindly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PulseShift {
    /// Pulses keep arriving this far (ns) from where the clock's own prediction puts them:
    /// they are set aside and the clock holds its frequency.
    Suspected(i64),
    /// The pulses came back to the predicted train; normal tracking resumes.
    Cleared,
    /// The moved train persisted and the servo now tracks it; which train was right is not
    /// known, so the size of the move (ns) stays in the error bound.
    Accepted(i64),
}

/// A servo's own model of the clock's phase after its last accepted pulse: what the trust
/// engine builds the error bound on (see `docs/trust.md`). Small quantities in `f64`; instants
/// are CLOCK_MONOTONIC ns.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PhaseModel {
    /// The last accepted pulse: the instant the estimate refers to.
    pub pulse_ns: i64,
    /// From this instant on the estimated offset moves at `rate_ppb` (the correction in force
    /// was set then); never before `pulse_ns`.
    pub since_ns: i64,
    /// Estimated offset of the clock at `since_ns`, ns.
    pub offset_ns: f64,
    /// Rate of the estimated offset from `since_ns` on: natural frequency error plus the
    /// correction in force, ppb (ns/s).
    pub rate_ppb: f64,
    /// Standard deviation of the offset estimate at the pulse (a posteriori), ns, under the
    /// most cautious model the pulses cannot rule out.
    pub offset_sd_ns: f64,
    /// Standard deviation of the natural frequency estimate, ppb, under that model.
    pub freq_sd_ppb: f64,
    /// Frequency wander intensity of that model, ns²/s³ (1 is a 1 ppb/√s random walk).
    pub wander: f64,
    /// Wander measured from the free-running phase over long lags, independently of the model,
    /// ns²/s³; `None` until enough pulses have been seen.
    pub wander_seen: Option<f64>,
    /// Innovation check: the one-step prediction-error variance seen, as a multiple of what the
    /// model predicted (about 1 while the model holds), and the standard error of that figure;
    /// `None` until enough pulses have been seen.
    pub prior_ratio_seen: Option<(f64, f64)>,
}

impl PhaseModel {
    /// The estimated offset at CLOCK_MONOTONIC `t_ns` (at or after `since_ns`), ns.
    pub fn offset_at(&self, t_ns: i64) -> f64 {
        self.offset_ns + self.rate_ppb * (t_ns.saturating_sub(self.since_ns)) as f64 * 1e-9
    }

    /// True when every figure is finite and the spreads are not negative.
    pub fn is_sane(&self) -> bool {
        let finite = [
            self.offset_ns,
            self.rate_ppb,
            self.offset_sd_ns,
            self.freq_sd_ppb,
            self.wander,
        ]
        .iter()
        .all(|v| v.is_finite());
        let wander_ok = match self.wander_seen {
            Some(q) => q.is_finite() && q >= 0.0,
            None => true,
        };
        let ratio_ok = match self.prior_ratio_seen {
            Some((r, se)) => r.is_finite() && se.is_finite() && se >= 0.0,
            None => true,
        };
        let seen_ok = wander_ok && ratio_ok;
        finite
            && seen_ok
            && self.offset_sd_ns >= 0.0
            && self.freq_sd_ppb >= 0.0
            && self.wander >= 0.0
            && self.since_ns >= self.pulse_ns
    }
}

/// A servo algorithm (PI, Kalman, ...). Implementations are pure: no clock, no I/O.
pub trait Servo: Send {
    /// Short name, as `--servo` takes it.
    fn name(&self) -> &'static str;
    /// Takes one offset sample and returns what to do.
    fn sample(&mut self, sample: &ServoSample) -> ServoOutput;
    /// Forgets everything and restarts from the frequency `freq_ppb` (what the kernel holds).
    fn reset(&mut self, freq_ppb: f64);
    /// Pulses stopped: the frequency to hold from CLOCK_MONOTONIC `now_ns` on, ppb (no phase
    /// correction in it).
    fn holdover(&mut self, now_ns: i64) -> f64;
    /// One standard deviation of the error of the holdover frequency, ppb; large while the
    /// servo has not converged.
    fn freq_uncertainty_ppb(&self) -> f64;
    /// The servo's model of the clock's phase, for servos that keep one (`None` by default:
    /// the trust engine then falls back on the spread of the measured offsets).
    fn phase_model(&self) -> Option<PhaseModel> {
        None
    }
}

/// The servo names `--servo` accepts.
pub const SERVO_NAMES: &[&str] = &["kalman", "pi"];

/// A servo by name, or `None` for a name not in [`SERVO_NAMES`].
pub fn by_name(name: &str) -> Option<Box<dyn Servo>> {
    match name {
        "kalman" => Some(Box::new(kalman::KalmanServo::new(
            kalman::KalmanConfig::default(),
        ))),
        "pi" => Some(Box::new(pi::PiServo::new(pi::KP, pi::KI))),
        _ => None,
    }
}

/// Policy shared by every servo.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ServoPolicy {
    /// Step when the offset is above this (ns) and stepping is allowed; 0 never steps.
    pub step_threshold_ns: i64,
    /// Frequency clamp, ppb; beyond ±500 ppm the engine uses `ADJ_TICK`.
    pub max_freq_ppb: f64,
    /// Offsets at or under this (ns) count towards `LockedStable`.
    pub stable_threshold_ns: i64,
    /// Consecutive small offsets needed for `LockedStable`.
    pub stable_count: u32,
}

impl Default for ServoPolicy {
    fn default() -> ServoPolicy {
        ServoPolicy {
            step_threshold_ns: 1_000_000,
            max_freq_ppb: 1_000_000.0,
            stable_threshold_ns: 10_000,
            stable_count: 16,
        }
    }
}

/// A servo with the shared policy around it.
pub struct ServoRunner {
    servo: Box<dyn Servo>,
    policy: ServoPolicy,
    small_run: u32,
    state: ServoState,
    acquiring: bool,
}

impl ServoRunner {
    /// Wraps `servo` in `policy`.
    pub fn new(servo: Box<dyn Servo>, policy: ServoPolicy) -> ServoRunner {
        ServoRunner {
            servo,
            policy,
            small_run: 0,
            state: ServoState::Unlocked,
            acquiring: true,
        }
    }

    /// Tells the servo whether the clock has never been trusted yet (`true`, the default):
    /// while acquiring, a model the pulses keep contradicting is restarted.
    pub fn set_acquiring(&mut self, acquiring: bool) {
        self.acquiring = acquiring;
    }

    /// The algorithm's name.
    pub fn name(&self) -> &'static str {
        self.servo.name()
    }

    /// The state after the last sample.
    pub fn state(&self) -> ServoState {
        self.state
    }

    /// Feeds one offset of the pulse at `pulse_ns`, answered at `local_ns` (both
    /// CLOCK_MONOTONIC); `may_step` says whether the clock may be stepped now.
    pub fn sample(
        &mut self,
        offset_ns: i64,
        pulse_ns: i64,
        local_ns: i64,
        may_step: bool,
    ) -> ServoOutput {
        let threshold = self.policy.step_threshold_ns;
        let input = ServoSample {
            offset_ns,
            pulse_ns,
            local_ns,
            step_threshold_ns: (may_step && threshold > 0).then_some(threshold),
            max_freq_ppb: self.policy.max_freq_ppb,
            acquiring: self.acquiring,
        };
        let mut out = self.servo.sample(&input);
        out.freq_ppb = self.clamp(out.freq_ppb);
        if input.step_threshold_ns.is_none() {
            out.step_ns = None;
            if out.state == ServoState::Jump {
                out.state = ServoState::Locked;
            }
        }
        if out.state.is_locked() && offset_ns.abs() <= self.policy.stable_threshold_ns {
            self.small_run = self.small_run.saturating_add(1);
        } else {
            self.small_run = 0;
        }
        if out.state.is_locked() {
            out.state = if self.small_run >= self.policy.stable_count {
                ServoState::LockedStable
            } else {
                ServoState::Locked
            };
        }
        self.state = out.state;
        out
    }

    /// Restarts the servo from `freq_ppb`.
    pub fn reset(&mut self, freq_ppb: f64) {
        self.servo.reset(self.clamp(freq_ppb));
        self.small_run = 0;
        self.state = ServoState::Unlocked;
    }

    /// Pulses stopped: the frequency to hold from `now_ns` on, ppb, clamped.
    pub fn holdover(&mut self, now_ns: i64) -> f64 {
        let ppb = self.servo.holdover(now_ns);
        self.clamp(ppb)
    }

    /// The servo's frequency uncertainty, ppb (never negative or NaN).
    pub fn freq_uncertainty_ppb(&self) -> f64 {
        let u = self.servo.freq_uncertainty_ppb();
        if u.is_finite() {
            u.abs()
        } else {
            self.policy.max_freq_ppb
        }
    }

    /// The servo's phase model, when it keeps one and every figure in it is sane.
    pub fn phase_model(&self) -> Option<PhaseModel> {
        self.servo.phase_model().filter(PhaseModel::is_sane)
    }

    fn clamp(&self, ppb: f64) -> f64 {
        let max = self.policy.max_freq_ppb;
        if ppb.is_finite() {
            ppb.clamp(-max, max)
        } else {
            0.0
        }
    }
}

/// Nominal `ADJ_TICK` value, µs per tick (USER_HZ = 100).
pub const NOMINAL_TICK_US: i64 = 10_000;
/// Frequency change of one µs of tick, ppb (1 µs in 10 000 µs).
pub const TICK_STEP_PPB: f64 = 100_000.0;

/// Splits a frequency (ppb) into the kernel's `ADJ_FREQUENCY` and `ADJ_TICK` values: the tick
/// stays nominal within ±500 ppm and takes the whole-100-ppm part beyond that.
pub fn kernel_freq(ppb: f64) -> (ScaledPpm, i64) {
    let ppb = if ppb.is_finite() {
        ppb.clamp(-1e8, 1e8)
    } else {
        0.0
    };
    if ppb.abs() <= ScaledPpm::MAX.to_ppb() {
        return (ScaledPpm::from_ppb(ppb), NOMINAL_TICK_US);
    }
    let ticks = (ppb / TICK_STEP_PPB).round();
    let rest = ppb - ticks * TICK_STEP_PPB;
    (ScaledPpm::from_ppb(rest), NOMINAL_TICK_US + ticks as i64)
}

/// The frequency (ppb) that a kernel `freq` and `tick_us` add up to.
pub fn kernel_rate_ppb(freq: ScaledPpm, tick_us: i64) -> f64 {
    freq.to_ppb() + (tick_us - NOMINAL_TICK_US) as f64 * TICK_STEP_PPB
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_freq_uses_tick_only_beyond_500_ppm() {
        assert_eq!(
            kernel_freq(-50_000.0),
            (ScaledPpm::from_ppb(-50_000.0), 10_000)
        );
        let (f, t) = kernel_freq(730_000.0);
        assert_eq!(t, 10_007);
        assert!((kernel_rate_ppb(f, t) - 730_000.0).abs() < 0.02);
        let (f, t) = kernel_freq(-1_000_000.0);
        assert_eq!((f, t), (ScaledPpm(0), 9_990));
        assert_eq!(kernel_freq(f64::NAN), (ScaledPpm(0), 10_000));
    }

    #[test]
    fn runner_forbids_steps_when_not_allowed_and_promotes_to_stable() {
        let mut r = ServoRunner::new(by_name("pi").unwrap(), ServoPolicy::default());
        assert_eq!(r.sample(5_000_000, 0, 0, false).state, ServoState::Unlocked);
        let out = r.sample(5_000_000, 1_000_000_000, 1_000_000_000, false);
        assert_eq!((out.state, out.step_ns), (ServoState::Locked, None));
        let mut r = ServoRunner::new(by_name("pi").unwrap(), ServoPolicy::default());
        r.sample(5_000_000, 0, 0, true);
        let out = r.sample(5_000_000, 1_000_000_000, 1_000_000_000, true);
        assert_eq!(
            (out.state, out.step_ns),
            (ServoState::Jump, Some(-5_000_000))
        );
        let mut state = ServoState::Unlocked;
        for i in 2..40 {
            state = r
                .sample(0, i * 1_000_000_000, i * 1_000_000_000, true)
                .state;
        }
        assert_eq!(state, ServoState::LockedStable);
        assert!(by_name("kalman-nonexistent").is_none());
    }
}
