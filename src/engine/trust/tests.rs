//! Unit tests of the trust engine with hand-made inputs: states and their reasons, hysteresis,
//! holdover with a phase model, pulse doubt, moved trains, staleness and the ledger events.

use super::*;
use crate::engine::servo::PhaseModel;

const S: i64 = 1_000_000_000;

fn at(t: i64) -> Stamp {
    Stamp {
        mono_ns: t,
        real: Timestamp::from_ns(t),
    }
}

/// A servo without a phase model (the fallback bound).
fn plain() -> ServoView {
    ServoView {
        locked: true,
        freq_uncertainty_ppb: 1.0,
        freq_ppb: 0.0,
        model: None,
        holdover: false,
    }
}

/// A Kalman-like model whose last pulse was at `pulse_s`: 36 ns, 3.7 ppb, q = 1.
fn model(pulse_s: i64) -> PhaseModel {
    PhaseModel {
        pulse_ns: pulse_s * S,
        since_ns: pulse_s * S + 10_000_000,
        offset_ns: 0.0,
        rate_ppb: 0.0,
        offset_sd_ns: 36.0,
        freq_sd_ppb: 3.7,
        wander: 1.0,
        wander_seen: None,
        prior_ratio_seen: None,
    }
}

fn with_model(pulse_s: i64, holdover: bool) -> ServoView {
    ServoView {
        model: Some(model(pulse_s)),
        holdover,
        ..plain()
    }
}

fn feed(trust: &mut Trust, from: i64, n: i64, offset_ns: i64, out: &mut Vec<Action>) {
    for i in from..from + n {
        trust.pulse(at(i * S), Timestamp::from_ns(i * S), offset_ns, &plain());
        trust.evaluate(at(i * S), &plain(), LeapState::None, out);
    }
}

fn feed_model(trust: &mut Trust, from: i64, n: i64, out: &mut Vec<Action>) -> TrustState {
    let mut last = TrustState::default();
    for i in from..from + n {
        let view = with_model(i, false);
        trust.pulse(at(i * S + 10_000_000), Timestamp::from_ns(i * S), 0, &view);
        last = trust.evaluate(at(i * S + 10_000_000), &view, LeapState::None, out);
    }
    last
}

fn config_100us() -> TrustConfig {
    TrustConfig {
        declared_accuracy_ns: 100_000,
        drift_bound_ppb_per_s: 0.01,
        ..TrustConfig::default()
    }
}

#[test]
fn unknown_until_verified_then_insync_after_good_pulses() {
    let mut trust = Trust::new(TrustConfig::default());
    let mut out = Vec::new();
    feed(&mut trust, 0, 30, 100, &mut out);
    assert_eq!(trust.state(), SyncState::Unknown);
    trust.reference(true);
    let ts = trust.evaluate(at(30 * S), &plain(), LeapState::None, &mut out);
    assert_eq!(
        (ts.state, ts.reason),
        (SyncState::Unknown, Reason::Recovering),
        "the agreement restarts the count of good pulses"
    );
    feed(&mut trust, 30, 10, 100, &mut out);
    assert_eq!(trust.state(), SyncState::InSync);
    let ts = trust.evaluate(at(39 * S + S / 2), &plain(), LeapState::None, &mut out);
    assert_eq!(ts.valid_until_mono_ns, 41 * S);
    // Last pulse at 39 s, valid until 41 s: t = 2 s.
    // 5·100 ns + 5·1 ppb·2 s + 1 ppb/s·2²/2 s² = 500 + 10 + 2.
    assert_eq!(ts.bound_ns, 512);
    assert_eq!(ts.reason, Reason::None);
    assert!(out.iter().any(|a| matches!(
        a,
        Action::Event(EngineEvent::StateChanged {
            to: SyncState::InSync,
            ..
        })
    )));
}

#[test]
fn foreign_change_latches_until_reverified_and_recovered() {
    let mut trust = Trust::new(TrustConfig::default());
    let mut out = Vec::new();
    trust.reference(true);
    // min_samples, then recover_pulses good ones in a row.
    feed(&mut trust, 0, 24, 100, &mut out);
    assert_eq!(trust.state(), SyncState::Unknown);
    feed(&mut trust, 24, 1, 100, &mut out);
    assert_eq!(trust.state(), SyncState::InSync);
    trust.foreign_change();
    let ts = trust.evaluate(at(25 * S), &plain(), LeapState::None, &mut out);
    assert_eq!(
        (ts.state, ts.reason),
        (SyncState::OutOfSync, Reason::ForeignChange)
    );
    feed(&mut trust, 26, 20, 100, &mut out);
    assert_eq!(trust.state(), SyncState::OutOfSync, "not re-verified");
    trust.reference(true);
    feed(&mut trust, 46, 9, 100, &mut out);
    assert_eq!(trust.state(), SyncState::OutOfSync, "hysteresis");
    feed(&mut trust, 55, 12, 100, &mut out);
    assert_eq!(trust.state(), SyncState::InSync);
}

#[test]
fn holdover_stays_insync_for_600_s_then_warns_before_the_accuracy() {
    let mut trust = Trust::new(config_100us());
    let mut out = Vec::new();
    trust.reference(true);
    let ts = feed_model(&mut trust, 0, 30, &mut out);
    assert_eq!(ts.state, SyncState::InSync);
    // 600 s later, the last pulse at 29 s.
    let t = 629 * S + S / 2;
    let ts = trust.evaluate(at(t), &with_model(29, true), LeapState::None, &mut out);
    assert_eq!(ts.state, SyncState::InSync, "{ts:?}");
    // Each term as documented, t = 600.5 + 1.5 s after the pulse.
    let dt = 602.0_f64;
    let expect = 5.0 * 36.0 + 5.0 * 3.7 * dt + 5.0 * (dt.powi(3) / 3.0).sqrt() + 0.005 * dt * dt;
    assert!(
        (ts.bound_ns as f64 - expect).abs() <= 1.0,
        "{}",
        ts.bound_ns
    );
    // Later the horizon or the warning fraction catches it before the accuracy.
    let mut warned = None;
    for s in 630..3_000 {
        let ts = trust.evaluate(at(s * S), &with_model(29, true), LeapState::None, &mut out);
        if ts.state != SyncState::InSync {
            warned = Some((s, ts));
            break;
        }
    }
    let (s, ts) = warned.expect("never warned");
    assert_eq!(
        (ts.state, ts.reason),
        (SyncState::SoonOutOfSync, Reason::Holdover)
    );
    assert!(
        ts.bound_ns < 100_000,
        "warned only past the accuracy: {s} s"
    );
    let ts = trust.evaluate(
        at(5_000 * S),
        &with_model(29, true),
        LeapState::None,
        &mut out,
    );
    assert_eq!(ts.state, SyncState::OutOfSync);
}

#[test]
fn pulses_back_after_holdover_need_good_pulses_before_insync() {
    let mut trust = Trust::new(config_100us());
    let mut out = Vec::new();
    trust.reference(true);
    feed_model(&mut trust, 0, 30, &mut out);
    let ts = trust.evaluate(
        at(2_000 * S),
        &with_model(29, true),
        LeapState::None,
        &mut out,
    );
    assert_ne!(ts.state, SyncState::InSync);
    let was = ts.state;
    let ts = feed_model(&mut trust, 2_001, 9, &mut out);
    assert_eq!((ts.state, ts.reason), (was, Reason::Recovering));
    let ts = feed_model(&mut trust, 2_010, 1, &mut out);
    assert_eq!(ts.state, SyncState::InSync);
}

#[test]
fn one_pulse_past_the_accuracy_stops_vouching_until_a_pulse_is_accepted() {
    let mut trust = Trust::new(config_100us());
    let mut out = Vec::new();
    trust.reference(true);
    feed_model(&mut trust, 0, 30, &mut out);
    trust.pulse_doubt(2_000_000);
    let ts = trust.evaluate(
        at(30 * S + 10_000_000),
        &with_model(29, false),
        LeapState::None,
        &mut out,
    );
    assert_eq!(
        (ts.state, ts.reason),
        (SyncState::OutOfSync, Reason::PulseDoubt)
    );
    assert!(ts.terms.doubt_ns >= 2e6 && ts.bound_ns > 2_000_000);
    // The next pulse is accepted: it was a glitch; good pulses bring INSYNC back.
    let ts = feed_model(&mut trust, 31, 1, &mut out);
    assert_eq!(ts.terms.doubt_ns, 0.0);
    assert_eq!(ts.state, SyncState::OutOfSync, "hysteresis");
    let ts = feed_model(&mut trust, 32, 10, &mut out);
    assert_eq!(ts.state, SyncState::InSync);
}

#[test]
fn a_small_moved_train_widens_the_bound_and_an_ambiguous_return_keeps_the_doubt() {
    let mut trust = Trust::new(TrustConfig::default());
    let mut out = Vec::new();
    trust.reference(true);
    feed_model(&mut trust, 0, 30, &mut out);
    let view = with_model(29, true);
    trust.before_pulse(trust.spread_at(30 * S, &view));
    trust.pulse_train_shift(PulseShift::Suspected(2_000));
    let ts = trust.evaluate(at(30 * S + 10_000_000), &view, LeapState::None, &mut out);
    assert_eq!(ts.state, SyncState::InSync, "2 µs is far within 1 ms");
    assert_eq!(ts.terms.doubt_ns, 2_000.0);
    // 300 s of holding later the prediction is uncertain by more than the move: the servo's
    // "train is back" cannot be trusted to tell the trains apart.
    let spread = trust.spread_at(330 * S, &view);
    assert!(spread > 1_000, "{spread}");
    trust.before_pulse(spread);
    trust.pulse_train_shift(PulseShift::Cleared);
    let ts = feed_model(&mut trust, 331, 12, &mut out);
    assert!(ts.terms.doubt_ns >= (2_000 + spread) as f64, "{ts:?}");
    // A clear return (a move far larger than the spread) leaves no doubt.
    let mut trust = Trust::new(TrustConfig::default());
    trust.reference(true);
    feed_model(&mut trust, 0, 30, &mut out);
    trust.before_pulse(trust.spread_at(30 * S, &with_model(29, false)));
    trust.pulse_train_shift(PulseShift::Suspected(2_000_000));
    let ts = trust.evaluate(at(30 * S + 10_000_000), &view, LeapState::None, &mut out);
    assert_eq!(ts.state, SyncState::OutOfSync);
    trust.pulse_train_shift(PulseShift::Cleared);
    let ts = feed_model(&mut trust, 31, 12, &mut out);
    assert_eq!((ts.state, ts.terms.doubt_ns), (SyncState::InSync, 0.0));
}

#[test]
fn an_accepted_move_stays_in_every_bound() {
    let mut trust = Trust::new(TrustConfig::default());
    let mut out = Vec::new();
    trust.reference(true);
    feed_model(&mut trust, 0, 30, &mut out);
    trust.pulse_train_shift(PulseShift::Suspected(3_000));
    trust.before_pulse(500);
    trust.pulse_train_shift(PulseShift::Accepted(3_000));
    let ts = feed_model(&mut trust, 31, 40, &mut out);
    assert_eq!(ts.state, SyncState::InSync);
    assert_eq!(ts.terms.doubt_ns, 3_500.0);
}

#[test]
fn a_servo_without_a_model_that_follows_a_jump_past_the_accuracy_is_never_trusted_again() {
    let mut trust = Trust::new(TrustConfig::default());
    let mut out = Vec::new();
    trust.reference(true);
    feed(&mut trust, 0, 30, 100, &mut out);
    assert_eq!(trust.state(), SyncState::InSync);
    feed(&mut trust, 30, 1, 2_000_000, &mut out);
    assert_eq!(trust.state(), SyncState::OutOfSync);
    feed(&mut trust, 31, 200, 100, &mut out);
    assert_eq!(trust.state(), SyncState::OutOfSync);
}

#[test]
fn a_disagreeing_reference_is_out_of_sync_and_its_agreement_recovers() {
    let mut trust = Trust::new(TrustConfig::default());
    let mut out = Vec::new();
    trust.reference(true);
    feed(&mut trust, 0, 30, 100, &mut out);
    assert_eq!(trust.state(), SyncState::InSync);
    trust.reference(false);
    let ts = trust.evaluate(at(30 * S), &plain(), LeapState::None, &mut out);
    assert_eq!(
        (ts.state, ts.reason),
        (SyncState::OutOfSync, Reason::ReferenceDisagrees)
    );
    trust.reference(true);
    feed(&mut trust, 31, 9, 100, &mut out);
    assert_eq!(trust.state(), SyncState::OutOfSync);
    feed(&mut trust, 40, 1, 100, &mut out);
    assert_eq!(trust.state(), SyncState::InSync);
}

#[test]
fn an_expired_state_and_every_untrusted_interval_reach_the_ledger() {
    let mut trust = Trust::new(TrustConfig::default());
    let mut out = Vec::new();
    trust.reference(true);
    feed(&mut trust, 0, 30, 100, &mut out);
    out.clear();
    // The daemon stalled: nothing was published for 3 s.
    trust.pulse(at(33 * S), Timestamp::from_ns(33 * S), 100, &plain());
    let ts = trust.evaluate(at(33 * S), &plain(), LeapState::None, &mut out);
    assert_eq!(ts.state, SyncState::InSync);
    let events: Vec<EngineEvent> = out
        .iter()
        .filter_map(|a| match a {
            Action::Event(e) => Some(*e),
            _ => None,
        })
        .collect();
    assert!(
        matches!(events[0], EngineEvent::UntrustedBegan(b) if b.reason == Reason::Stale
            && b.start == Timestamp::from_ns(29 * S)),
        "{events:?}"
    );
    assert!(
        matches!(events[1], EngineEvent::UntrustedEnded(i) if i.end == Timestamp::from_ns(33 * S)
            && i.worst_state == SyncState::Unknown),
        "{events:?}"
    );
    assert!(trust.ledger().open().is_none());
}

#[test]
fn no_bound_and_no_insync_on_non_finite_figures() {
    let mut trust = Trust::new(TrustConfig::default());
    let mut out = Vec::new();
    trust.reference(true);
    feed(&mut trust, 0, 30, 100, &mut out);
    let view = ServoView {
        freq_uncertainty_ppb: f64::INFINITY,
        ..plain()
    };
    let ts = trust.evaluate(at(30 * S), &view, LeapState::None, &mut out);
    assert_eq!(ts.bound_ns, i64::MAX);
    assert_ne!(ts.state, SyncState::InSync);
}
