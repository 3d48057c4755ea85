//! Tests of the Kalman servo against small closed-form worlds.

use super::*;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};

const S: i64 = 1_000_000_000;
const DELAY: i64 = 10_000_000;
const MAX: f64 = 1_000_000.0;

/// A clock with a constant natural frequency error, driven by the servo: the old correction
/// runs for DELAY after each pulse, the new one after that.
struct World {
    x: f64,
    y: f64,
    u: f64,
}

impl World {
    fn advance(&mut self, out: &ServoOutput) {
        let d = DELAY as f64 / 1e9;
        if let Some(step) = out.step_ns {
            self.x += step as f64;
        }
        self.x += self.y + self.u * d + out.freq_ppb * (1.0 - d);
        self.u = out.freq_ppb;
    }
}

/// One pulse to a servo whose clock has been trusted (a moved train is defended).
fn sample(k: &mut KalmanServo, offset_ns: i64, t: i64, step: Option<i64>) -> ServoOutput {
    sample_as(k, offset_ns, t, step, false)
}

fn sample_as(
    k: &mut KalmanServo,
    offset_ns: i64,
    t: i64,
    step: Option<i64>,
    acquiring: bool,
) -> ServoOutput {
    k.sample(&ServoSample {
        offset_ns,
        pulse_ns: t * S,
        local_ns: t * S + DELAY,
        step_threshold_ns: step,
        max_freq_ppb: MAX,
        acquiring,
    })
}

fn run(k: &mut KalmanServo, w: &mut World, from: i64, to: i64) {
    for t in from..to {
        let out = sample(k, w.x.round() as i64, t, None);
        w.advance(&out);
    }
}

#[test]
fn locks_a_noiseless_clock_within_three_pulses() {
    let mut k = KalmanServo::new(KalmanConfig::default());
    let mut w = World {
        x: 300_000.0,
        y: 50_000.0,
        u: 0.0,
    };
    run(&mut k, &mut w, 0, 3);
    assert!(w.x.abs() < 2.0, "offset after 3 pulses: {} ns", w.x);
    assert!((k.freq_error_ppb() - 50_000.0).abs() < 1.0);
}

#[test]
fn steps_a_far_offset_and_keeps_the_frequency_learned() {
    let mut k = KalmanServo::new(KalmanConfig::default());
    let mut w = World {
        x: 10_000_000.0,
        y: 20_000.0,
        u: 0.0,
    };
    let out = sample(&mut k, w.x.round() as i64, 0, Some(1_000_000));
    assert_eq!(out.state, ServoState::Jump);
    assert_eq!(out.step_ns, Some(-10_000_000));
    assert_eq!(out.freq_ppb, 0.0, "no frequency is known after one pulse");
    w.advance(&out);
    run(&mut k, &mut w, 1, 4);
    assert!(w.x.abs() < 2.0, "offset after the step: {} ns", w.x);
    assert!((k.freq_error_ppb() - 20_000.0).abs() < 1.0);
}

#[test]
fn sets_aside_a_single_outlier() {
    let mut k = KalmanServo::new(KalmanConfig::default());
    let mut w = World {
        x: 0.0,
        y: 1_000.0,
        u: 0.0,
    };
    run(&mut k, &mut w, 0, 50);
    let before = k.freq_error_ppb();
    let out = sample(&mut k, w.x.round() as i64 + 1_000_000, 50, None);
    assert!(out.rejected);
    assert_eq!(out.shift, None);
    assert_eq!(k.freq_error_ppb(), before);
    assert!(
        (out.freq_ppb + 1_000.0).abs() < 1.0,
        "holds {}",
        out.freq_ppb
    );
}

#[test]
fn suspects_a_moved_train_then_clears_when_it_returns() {
    let mut k = KalmanServo::new(KalmanConfig::default());
    let mut w = World {
        x: 0.0,
        y: 1_000.0,
        u: 0.0,
    };
    run(&mut k, &mut w, 0, 50);
    let mut reports = Vec::new();
    for t in 50..80 {
        let moved = if t < 70 { 2_000 } else { 0 };
        let out = sample(&mut k, w.x.round() as i64 + moved, t, None);
        if let Some(shift) = out.shift {
            reports.push((t, shift));
        }
        if (50..70).contains(&t) {
            assert!(out.rejected, "moved pulse at {t} was used");
        }
        w.advance(&out);
    }
    assert_eq!(reports.len(), 2, "{reports:?}");
    let (t0, PulseShift::Suspected(ns)) = reports[0] else {
        panic!("first report {reports:?}")
    };
    assert_eq!(t0, 52);
    assert!((ns - 2_000).abs() < 10, "shift {ns}");
    assert_eq!(reports[1], (72, PulseShift::Cleared));
    assert!(
        w.x.abs() < 5.0,
        "the clock followed the moved train: {} ns",
        w.x
    );
}

#[test]
fn accepts_a_move_that_persists() {
    let cfg = KalmanConfig {
        shift_accept_pulses: 20,
        ..KalmanConfig::default()
    };
    let mut k = KalmanServo::new(cfg);
    let mut w = World {
        x: 0.0,
        y: 1_000.0,
        u: 0.0,
    };
    run(&mut k, &mut w, 0, 50);
    let mut accepted = None;
    for t in 50..100 {
        let out = sample(&mut k, w.x.round() as i64 + 5_000, t, None);
        if let Some(PulseShift::Accepted(ns)) = out.shift {
            accepted = Some((t, ns));
        }
        w.advance(&out);
    }
    let (t, ns) = accepted.expect("a persistent move was never accepted");
    assert_eq!(t, 50 + 20 - 1);
    assert!((ns - 5_000).abs() < 10);
    // Now tracking the moved train: the clock sits 5 µs off the truth, on the new train.
    assert!((w.x + 5_000.0).abs() < 5.0, "x {}", w.x);
}

#[test]
fn holdover_holds_the_frequency_estimate() {
    let mut k = KalmanServo::new(KalmanConfig::default());
    let mut w = World {
        x: 0.0,
        y: -20_000.0,
        u: 0.0,
    };
    run(&mut k, &mut w, 0, 20);
    let u = k.holdover(21 * S);
    assert!((u - 20_000.0).abs() < 1.0, "holdover frequency {u}");
}

#[test]
fn measures_the_capture_noise() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let noise = Normal::new(0.0, 300.0).unwrap();
    let mut k = KalmanServo::new(KalmanConfig::default());
    let mut w = World {
        x: 0.0,
        y: 3_000.0,
        u: 0.0,
    };
    for t in 0..3000 {
        let z = (w.x + noise.sample(&mut rng)).round() as i64;
        let out = sample(&mut k, z, t, None);
        w.advance(&out);
    }
    let est = k.noise_ns();
    assert!(
        (est - 300.0).abs() < 30.0,
        "noise estimate {est} ns for 300 ns"
    );
}

#[test]
fn the_phase_model_predicts_the_offset_between_pulses() {
    let mut k = KalmanServo::new(KalmanConfig::default());
    assert_eq!(k.phase_model(), None, "nothing known yet");
    // A noiseless clock 20 ppm fast, 50 µs off: the model must follow it between pulses,
    // through the write DELAY after each pulse.
    let mut w = World {
        x: 50_000.0,
        y: 20_000.0,
        u: 0.0,
    };
    run(&mut k, &mut w, 0, 40);
    let out = sample(&mut k, w.x.round() as i64, 40, None);
    let m = k.phase_model().expect("a model after 41 pulses");
    assert_eq!((m.pulse_ns, m.since_ns), (40 * S, 40 * S + DELAY));
    // Where the world will be half a second and one second after the pulse.
    let d = DELAY as f64 / 1e9;
    let at = |t: f64| w.x + (w.y + w.u) * d + (w.y + out.freq_ppb) * (t - d);
    for t in [0.5, 1.0] {
        let predicted = m.offset_at(40 * S + (t * 1e9) as i64);
        assert!(
            (predicted - at(t)).abs() < 1.0,
            "{t} s: {predicted} vs {}",
            at(t)
        );
    }
    assert!(m.offset_sd_ns > 0.0 && m.freq_sd_ppb > 0.0 && m.wander > 0.0);
    assert!(m.is_sane());
}

/// The bug the real-kernel test found, on the servo alone: jittery first pulses (tens of µs,
/// while the servo still assumes 1 µs of capture noise) give a frequency several ppm wrong; the
/// pulses then run away from the prediction in a straight line and are set aside as a moved
/// train. Returns the world and the reports.
fn bad_start(k: &mut KalmanServo, acquiring: bool, until: i64) -> (World, Vec<(i64, ServoOutput)>) {
    let mut w = World {
        x: 200_000.0,
        y: 20_000.0,
        u: 0.0,
    };
    let early = [-9_449.0, 8_833.0, 6_708.0];
    let mut seen = Vec::new();
    for t in 0..until {
        let jitter = early.get(t as usize).copied().unwrap_or(0.0);
        let out = sample_as(k, (w.x + jitter).round() as i64, t, None, acquiring);
        if out.rejected || out.shift.is_some() || out.restarted {
            seen.push((t, out));
        }
        w.advance(&out);
    }
    (w, seen)
}

#[test]
fn a_wrong_early_model_defended_as_a_moved_train_locks_the_servo_out() {
    // What the servo did before it could restart, and still does once the clock was trusted:
    // every pulse set aside for the whole run, the clock drifting away.
    let mut k = KalmanServo::new(KalmanConfig::default());
    let (w, seen) = bad_start(&mut k, false, 300);
    let rejected = seen.iter().filter(|(_, o)| o.rejected).count();
    assert!(rejected > 280, "only {rejected} pulses set aside");
    assert!(matches!(seen[0].1.shift, Some(PulseShift::Suspected(_))) || seen[0].1.shift.is_none());
    assert!(seen.iter().all(|(_, o)| !o.restarted));
    assert!(w.x.abs() > 100_000.0, "x {}", w.x);
}

#[test]
fn a_wrong_model_while_acquiring_restarts_from_the_pulses_and_converges() {
    let mut k = KalmanServo::new(KalmanConfig::default());
    let (w, seen) = bad_start(&mut k, true, 300);
    let restarts: Vec<i64> = seen
        .iter()
        .filter(|(_, o)| o.restarted)
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(restarts.len(), 1, "{seen:?}");
    // Set aside from the first gated pulse on: the restart comes reacquire_pulses later.
    let first_aside = seen.iter().find(|(_, o)| o.rejected).unwrap().0;
    assert_eq!(restarts[0], first_aside + 19);
    let last_rejected = seen
        .iter()
        .filter(|(_, o)| o.rejected)
        .map(|(t, _)| *t)
        .max();
    assert!(last_rejected < Some(restarts[0]), "{seen:?}");
    assert!(
        (k.freq_error_ppb() - 20_000.0).abs() < 1.0,
        "{}",
        k.freq_error_ppb()
    );
    assert!(w.x.abs() < 5.0, "x {}", w.x);
}

#[test]
fn after_trust_scattered_outliers_end_in_an_accepted_move() {
    // A frequency the pulses leave faster than three outliers can agree: never suspected as a
    // moved train, but not set aside for ever either.
    let cfg = KalmanConfig {
        shift_accept_pulses: 30,
        ..KalmanConfig::default()
    };
    let mut k = KalmanServo::new(cfg);
    let mut w = World {
        x: 0.0,
        y: 1_000.0,
        u: 0.0,
    };
    run(&mut k, &mut w, 0, 50);
    w.y += 10_000.0;
    let mut accepted = None;
    for t in 50..120 {
        let out = sample(&mut k, w.x.round() as i64, t, None);
        assert!(!out.restarted);
        if let Some(PulseShift::Accepted(ns)) = out.shift {
            accepted.get_or_insert((t, ns));
        }
        w.advance(&out);
    }
    let (t, ns) = accepted.expect("the outliers were set aside for ever");
    assert!(t <= 50 + 30, "accepted at {t}");
    assert!(ns > 100_000, "the distance kept as doubt: {ns}");
    assert!(w.x.abs() < 100.0, "x {}", w.x);
}

/// Random bad starts: 3 to 6 first pulses jittered by up to ±10, 20 or 30 µs. Returns, for
/// each, whether the servo restarted and the offset left after 300 pulses.
fn sweep(acquiring: bool) -> Vec<(bool, f64)> {
    use rand::Rng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    (0..200)
        .map(|_| {
            let n = rng.gen_range(3..7);
            let amp = [10_000.0, 20_000.0, 30_000.0][rng.gen_range(0..3)];
            let early: Vec<f64> = (0..n).map(|_| rng.gen_range(-amp..amp)).collect();
            let mut k = KalmanServo::new(KalmanConfig::default());
            let mut w = World {
                x: 200_000.0,
                y: 20_000.0,
                u: 0.0,
            };
            let mut restarted = false;
            for t in 0..300 {
                let j = early.get(t as usize).copied().unwrap_or(0.0);
                let out = sample_as(&mut k, (w.x + j).round() as i64, t, None, acquiring);
                restarted |= out.restarted;
                w.advance(&out);
            }
            (restarted, w.x)
        })
        .collect()
}

#[test]
fn every_bad_start_of_a_sweep_converges_while_acquiring() {
    let defended = sweep(false);
    let stuck = defended.iter().filter(|(_, x)| x.abs() > 1_000.0).count();
    let fixed = sweep(true);
    let restarts = fixed.iter().filter(|(r, _)| *r).count();
    println!("200 bad starts: {stuck} stuck without restart; {restarts} restarts with it");
    // The sweep does reach the bug (about half of the starts), so the fix is exercised.
    assert!(stuck >= 50, "only {stuck} of 200 bad starts stuck");
    assert!(
        restarts >= stuck,
        "{restarts} restarts for {stuck} stuck starts"
    );
    let worst = fixed.iter().map(|(_, x)| x.abs()).fold(0.0, f64::max);
    println!("worst offset after 300 pulses with restarts: {worst:.2} ns");
    for (i, (_, x)) in fixed.iter().enumerate() {
        assert!(x.abs() < 1_000.0, "start {i} left {x} ns after 300 pulses");
    }
}
