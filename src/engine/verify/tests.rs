//! Tests of the verification policy with hand-made readings: k of n met and not met, NTS
//! required, tolerance, stale readings, a liar among three, steps and foreign changes.

use super::*;
use crate::engine::Leap;

const S: i64 = NANOS_PER_SEC;
const MS: i64 = 1_000_000;
const MIN: i64 = 60 * S;

fn cfg(require: Require, quorum: u8) -> VerifyConfig {
    VerifyConfig {
        require,
        quorum,
        ..VerifyConfig::default()
    }
}

/// A reading from `source` that is `offset_ns` from the pulse-derived time (whole seconds
/// included), authenticated or not.
fn tod(source: u8, offset_ns: i64, authenticated: bool) -> TodSample {
    TodSample {
        offset_ns,
        leap: Leap::None,
        source,
        authenticated,
    }
}

/// Records `readings` at mono `at` against a pulse-derived offset of 0.
fn feed(v: &mut Verifier, at: i64, readings: &[TodSample]) -> Vec<Dissent> {
    readings.iter().filter_map(|t| v.record(at, t, 0)).collect()
}

#[test]
fn defaults_are_one_of_any_within_100_ms_rechecked_every_16_min() {
    let d = VerifyConfig::default();
    assert_eq!(
        (d.require, d.quorum, d.tolerance_ns, d.recheck_ns),
        (Require::Quorum, 1, 100 * MS, 16 * MIN)
    );
}

#[test]
fn two_of_three_is_met_by_two_and_not_by_one() {
    let mut v = Verifier::new(cfg(Require::Quorum, 2));
    assert_eq!(v.decide(0), Outcome::Unverified, "nothing read yet");
    feed(&mut v, 0, &[tod(0, 3 * MS, false)]);
    assert_eq!(v.decide(0), Outcome::Unverified, "one of the two needed");
    feed(&mut v, S, &[tod(0, -2 * MS, false)]);
    assert_eq!(
        v.decide(S),
        Outcome::Unverified,
        "the same source twice is one source"
    );
    feed(&mut v, 2 * S, &[tod(2, MS, false)]);
    assert_eq!(v.decide(2 * S), Outcome::Verified);
}

#[test]
fn nts_required_is_never_met_by_ntp_alone() {
    let mut v = Verifier::new(cfg(Require::Nts, 1));
    feed(
        &mut v,
        0,
        &[tod(0, MS, false), tod(1, MS, false), tod(2, 0, false)],
    );
    assert_eq!(
        v.decide(0),
        Outcome::Unverified,
        "three unauthenticated sources"
    );
    feed(&mut v, S, &[tod(3, 2 * MS, true)]);
    assert_eq!(v.decide(S), Outcome::Verified, "one NTS source agrees");
}

#[test]
fn nts_required_with_a_quorum_needs_both() {
    let mut v = Verifier::new(cfg(Require::Nts, 2));
    feed(&mut v, 0, &[tod(0, MS, true)]);
    assert_eq!(
        v.decide(0),
        Outcome::Unverified,
        "one NTS source of the two needed"
    );
    feed(&mut v, 0, &[tod(1, MS, false)]);
    assert_eq!(v.decide(0), Outcome::Verified, "NTS plus NTP make two");
    let mut v = Verifier::new(cfg(Require::Nts, 2));
    feed(&mut v, 0, &[tod(0, MS, false), tod(1, MS, false)]);
    assert_eq!(v.decide(0), Outcome::Unverified, "two, none authenticated");
}

#[test]
fn a_reading_past_the_tolerance_is_no_agreement_and_is_reported() {
    let mut v = Verifier::new(VerifyConfig::default());
    let d = feed(&mut v, 0, &[tod(0, 300 * MS, false)]);
    assert_eq!(
        d,
        vec![Dissent {
            source: 0,
            seconds: 0,
            residual_ns: 300 * MS
        }]
    );
    assert_eq!(v.decide(0), Outcome::Disputed { seconds: 0 });
    // Just inside the tolerance, either side.
    let mut v = Verifier::new(VerifyConfig::default());
    assert!(feed(&mut v, 0, &[tod(0, -100 * MS, false)]).is_empty());
    assert_eq!(v.decide(0), Outcome::Verified);
    // 300 ms past the whole second: one second off *and* past the tolerance.
    let mut v = Verifier::new(VerifyConfig::default());
    let d = feed(&mut v, 0, &[tod(0, S + 300 * MS, false)]);
    assert_eq!((d[0].seconds, d[0].residual_ns), (1, 300 * MS));
    assert_eq!(
        v.decide(0),
        Outcome::Disputed { seconds: 1 },
        "no step on it either"
    );
}

#[test]
fn readings_older_than_the_recheck_period_do_not_count() {
    let mut v = Verifier::new(cfg(Require::Quorum, 2));
    feed(&mut v, 0, &[tod(0, 0, false)]);
    feed(&mut v, 10 * MIN, &[tod(1, 0, false)]);
    assert_eq!(v.decide(10 * MIN), Outcome::Verified);
    assert_eq!(
        v.decide(16 * MIN),
        Outcome::Verified,
        "exactly 16 min still counts"
    );
    assert_eq!(v.lapse(16 * MIN), None);
    assert_eq!(
        v.lapse(16 * MIN + 1),
        Some(16 * MIN + 1 - 16 * MIN),
        "source 0 went stale: lapsed, once"
    );
    assert_eq!(v.lapse(20 * MIN), None, "reported once per lapse");
    assert_eq!(v.decide(20 * MIN), Outcome::Unverified);
    assert!(!v.take_renewed());
    feed(&mut v, 21 * MIN, &[tod(0, MS, false)]);
    assert_eq!(v.decide(21 * MIN), Outcome::Verified);
    assert!(v.take_renewed(), "the renewal after a lapse is reported");
    assert!(!v.take_renewed(), "once");
}

#[test]
fn an_old_dissent_does_not_block_and_a_reading_from_the_future_does_not_count() {
    let mut v = Verifier::new(VerifyConfig::default());
    feed(&mut v, 0, &[tod(1, 2 * S, false)]);
    assert_eq!(v.decide(0), Outcome::Elsewhere { seconds: 2 });
    assert_eq!(v.decide(17 * MIN), Outcome::Unverified);
    feed(&mut v, 20 * MIN, &[tod(0, 0, false)]);
    assert_eq!(v.decide(19 * MIN), Outcome::Unverified, "taken after `now`");
}

#[test]
fn one_liar_among_three_is_logged_and_outvoted() {
    let mut v = Verifier::new(cfg(Require::Quorum, 2));
    let d = feed(
        &mut v,
        0,
        &[
            tod(0, MS, false),
            tod(1, S + 2 * MS, false),
            tod(2, -MS, true),
        ],
    );
    assert_eq!(
        d,
        vec![Dissent {
            source: 1,
            seconds: 1,
            residual_ns: 2 * MS
        }]
    );
    assert_eq!(v.decide(0), Outcome::Verified);
    // The liar goes on lying: logged once, not at every reading.
    assert!(feed(&mut v, S, &[tod(1, S, false)]).is_empty());
    // It changes its story: logged again.
    assert_eq!(feed(&mut v, 2 * S, &[tod(1, -S, false)]).len(), 1);
    // Two liars that agree with each other outvote one honest source: the policy is met on
    // their numbering (the engine steps only before trust), never on the clock's.
    let mut v = Verifier::new(cfg(Require::Quorum, 2));
    feed(
        &mut v,
        0,
        &[tod(0, 0, false), tod(1, S, false), tod(2, S, false)],
    );
    assert_eq!(v.decide(0), Outcome::Elsewhere { seconds: 1 });
}

#[test]
fn disagreement_that_breaks_the_policy_is_disputed() {
    let mut v = Verifier::new(cfg(Require::Quorum, 2));
    feed(&mut v, 0, &[tod(0, 0, false), tod(1, 0, false)]);
    assert_eq!(v.decide(0), Outcome::Verified);
    feed(&mut v, S, &[tod(1, -S, false)]);
    assert_eq!(v.decide(S), Outcome::Disputed { seconds: -1 });
    // With NTS required, an NTS source that dissents is not outvoted by NTP.
    let mut v = Verifier::new(cfg(Require::Nts, 1));
    feed(&mut v, 0, &[tod(0, 0, false), tod(1, S, true)]);
    assert_eq!(v.decide(0), Outcome::Elsewhere { seconds: 1 });
    let mut v = Verifier::new(cfg(Require::Nts, 2));
    feed(&mut v, 0, &[tod(0, 0, false), tod(1, S, true)]);
    assert_eq!(v.decide(0), Outcome::Disputed { seconds: 1 });
}

#[test]
fn a_whole_second_step_moves_judged_readings_a_phase_step_does_not() {
    let mut v = Verifier::new(VerifyConfig::default());
    feed(&mut v, 0, &[tod(0, -3 * S + MS, false)]);
    assert_eq!(v.decide(0), Outcome::Elsewhere { seconds: -3 });
    v.stepped(3 * S);
    assert_eq!(v.decide(0), Outcome::Verified);
    v.stepped(400 * MS);
    assert_eq!(
        v.decide(0),
        Outcome::Verified,
        "a phase step moves pulses and clock alike"
    );
}

#[test]
fn held_readings_move_with_any_step_and_a_foreign_change_forgets_everything() {
    let mut v = Verifier::new(VerifyConfig::default());
    v.hold(0, tod(0, 5 * S, false));
    v.hold(0, tod(1, 7 * S, false));
    v.stepped(-400 * MS);
    let mut held = Vec::new();
    while let Some((_, t)) = v.take_held() {
        held.push(t.offset_ns);
    }
    assert_eq!(held, vec![5 * S - 400 * MS, 7 * S - 400 * MS]);
    feed(&mut v, 0, &[tod(0, 0, false)]);
    v.hold(0, tod(1, 0, false));
    assert_eq!(v.decide(0), Outcome::Verified);
    v.forget();
    assert_eq!(v.decide(0), Outcome::Unverified);
    assert!(v.take_held().is_none());
}

#[test]
fn a_source_past_the_table_never_counts() {
    let mut v = Verifier::new(VerifyConfig::default());
    let far = tod(MAX_SOURCES as u8, 0, true);
    assert_eq!(v.record(0, &far, 0), None);
    v.hold(0, far);
    assert!(v.take_held().is_none());
    assert_eq!(v.decide(0), Outcome::Unverified);
}

#[test]
fn the_residual_is_measured_from_the_pulse_derived_time() {
    let mut v = Verifier::new(VerifyConfig::default());
    // The pulses put the clock 450 ms ahead; the reading says 2 s + 430 ms ahead.
    let t = tod(0, 2 * S + 430 * MS, false);
    let d = v.record(0, &t, 450 * MS).unwrap();
    assert_eq!((d.seconds, d.residual_ns), (2, -20 * MS));
    assert_eq!(v.decide(0), Outcome::Elsewhere { seconds: 2 });
}

#[test]
fn a_source_with_its_own_tolerance_is_judged_by_it() {
    let mut c = VerifyConfig::default();
    c.source_tolerance_ns[1] = 450 * MS;
    let mut v = Verifier::new(c);
    assert_eq!(
        v.record(0, &tod(1, 300 * MS, false), 0),
        None,
        "a late gpsd report"
    );
    assert_eq!(v.decide(0), Outcome::Verified);
    assert!(
        v.record(0, &tod(0, 300 * MS, false), 0).is_some(),
        "source 0: 100 ms"
    );
    assert!(v.record(0, &tod(1, 460 * MS, false), 0).is_some());
    assert_eq!(v.record(0, &tod(1, 300 * MS, false), 0), None);
    // Reconfigured: source 1 falls back to the policy's tolerance.
    v.set_source_tolerances([0; MAX_SOURCES]);
    assert!(v.record(0, &tod(1, 300 * MS, false), 0).is_some());
}
