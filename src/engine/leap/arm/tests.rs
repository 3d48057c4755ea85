//! The leap keeper with hand-made instants, notices, reference readings and kernel states.

use super::*;

/// 2026-07-01T00:00:00Z.
const M: i64 = 1_782_864_000;

fn ts(s: i64) -> Timestamp {
    Timestamp::new(s, 0)
}

fn keeper() -> LeapKeeper {
    LeapKeeper::new(DAY_S)
}

fn snap(state: ClockState, s: i64) -> ClockSnapshot {
    ClockSnapshot {
        state,
        time: ts(s),
        ..ClockSnapshot::default()
    }
}

fn insert_at_m() -> LeapNotice {
    LeapNotice::Leap {
        at_utc_s: M,
        leap: Leap::Insert,
    }
}

#[test]
fn month_and_day_ends() {
    assert_eq!(day_end_s(M - 1), M);
    assert_eq!(day_end_s(M), M + DAY_S);
    assert_eq!(month_end_s(M - 15 * DAY_S), M, "June 16 ends with July");
    // 2026-12-15 ends with 2027-01-01T00:00:00Z.
    assert_eq!(month_end_s(1_797_292_800), 1_798_761_600);
}

#[test]
fn arms_only_on_the_last_day_and_disarms_when_the_announcement_goes() {
    let mut k = keeper();
    let mut ev = Vec::new();
    k.notice(insert_at_m());
    let up = k.update(ts(M - DAY_S - 1), &mut ev);
    assert!(!up.status_changed);
    assert_eq!(
        k.status_bits(),
        ClockStatus::empty(),
        "never before the day"
    );
    assert_eq!(k.published(ts(M - DAY_S - 1)).0, LeapState::None);
    let up = k.update(ts(M - DAY_S), &mut ev);
    assert!(up.status_changed);
    assert_eq!(k.status_bits(), ClockStatus::INS);
    assert!(ev.contains(&EngineEvent::LeapArmed {
        leap: Leap::Insert,
        at_utc_s: M,
        source: LeapSource::File
    }));
    let (state, view) = k.published(ts(M - 10));
    assert_eq!(state, LeapState::Positive);
    assert_eq!((view.at_utc_s, view.pending), (M, true));
    ev.clear();
    k.notice(LeapNotice::Unusable);
    assert!(
        !k.update(ts(M - 6), &mut ev).status_changed,
        "unknown does not disarm"
    );
    assert_eq!(k.status_bits(), ClockStatus::INS);
    assert_eq!(k.published(ts(M - 6)).0, LeapState::Unknown);
    k.notice(LeapNotice::NoLeap);
    assert!(k.update(ts(M - 5), &mut ev).status_changed);
    assert_eq!(k.status_bits(), ClockStatus::empty());
    assert!(ev.contains(&EngineEvent::LeapDisarmed {
        leap: Leap::Insert,
        at_utc_s: M
    }));
    assert_eq!(k.published(ts(M - 5)).0, LeapState::None);
}

#[test]
fn lead_time_sets_when_the_state_is_published_not_when_the_kernel_is_armed() {
    let mut k = LeapKeeper::new(3_600);
    let mut ev = Vec::new();
    k.notice(insert_at_m());
    k.update(ts(M - 7_200), &mut ev);
    assert_eq!(k.status_bits(), ClockStatus::INS);
    assert_eq!(k.published(ts(M - 3_601)).0, LeapState::None);
    assert_eq!(k.published(ts(M - 3_600)).0, LeapState::Positive);
}

#[test]
fn applied_insertion_is_verified_from_the_kernel_states() {
    let mut k = keeper();
    let mut ev = Vec::new();
    k.notice(insert_at_m());
    k.update(ts(M - 100), &mut ev);
    k.kernel(&snap(ClockState::Ins, M - 2), &mut ev);
    assert_eq!(k.stepped(), Some(Leap::Insert));
    assert_eq!(
        k.status_bits(),
        ClockStatus::empty(),
        "STA_INS cleared once applied"
    );
    // The repeated second: still POSITIVE, no longer pending.
    let (state, view) = k.published(ts(M - 1));
    assert_eq!((state, view.pending), (LeapState::Positive, false));
    k.kernel(&snap(ClockState::Oop, M - 1), &mut ev);
    assert!(ev
        .iter()
        .all(|e| !matches!(e, EngineEvent::LeapVerified { .. })));
    k.kernel(&snap(ClockState::Wait, M), &mut ev);
    let verified = ev.iter().find_map(|e| match e {
        EngineEvent::LeapVerified {
            trail, as_expected, ..
        } => Some((*trail, *as_expected)),
        _ => None,
    });
    let (trail, ok) = verified.unwrap();
    assert!(ok);
    let mut s = String::new();
    trail.write_to(&mut s).unwrap();
    assert_eq!(s, "INS>OOP>WAIT");
    // After: NONE, the window's instant kept for a while, never re-armed for the same leap.
    let (state, view) = k.published(ts(M + 1));
    assert_eq!((state, view.at_utc_s), (LeapState::None, M));
    assert!(!k.update(ts(M - 1), &mut ev).status_changed);
    assert_eq!(k.status_bits(), ClockStatus::empty());
    assert_eq!(k.published(ts(M + KEEP_AFTER_S)).1.at_utc_s, 0);
}

#[test]
fn a_leap_the_kernel_does_not_apply_fails_closed() {
    let mut k = keeper();
    let mut ev = Vec::new();
    k.notice(LeapNotice::Leap {
        at_utc_s: M,
        leap: Leap::Delete,
    });
    k.update(ts(M - 100), &mut ev);
    assert_eq!(k.status_bits(), ClockStatus::DEL);
    k.kernel(&snap(ClockState::Del, M - 2), &mut ev);
    // The kernel deletes at 23:59:59 (M − 1 s by the clock).
    let grace_end = Timestamp::from_ns((M - 1) * 1_000_000_000 + APPLY_GRACE_NS);
    assert!(
        !k.update(Timestamp::from_ns(grace_end.as_ns() - 1), &mut ev)
            .not_applied,
        "still within the grace"
    );
    k.kernel(&snap(ClockState::Del, M - 1), &mut ev);
    let up = k.update(grace_end, &mut ev);
    assert!(up.not_applied && up.status_changed, "given up at once");
    assert!(ev.iter().any(|e| matches!(
        e,
        EngineEvent::LeapNotApplied {
            leap: Leap::Delete,
            ..
        }
    )));
    assert_eq!(k.status_bits(), ClockStatus::empty());
}

#[test]
fn reference_indication_is_for_the_month_end() {
    let mut k = keeper();
    let mut ev = Vec::new();
    // No list configured: the reference speaks. On June 15 LI=insert means July 1.
    k.reference(ts(M - 15 * DAY_S), Leap::Insert, false, &mut ev);
    k.update(ts(M - 15 * DAY_S), &mut ev);
    assert_eq!(k.status_bits(), ClockStatus::empty(), "not tonight");
    let (state, view) = k.published(ts(M - 15 * DAY_S));
    assert_eq!(
        (state, view.source),
        (LeapState::None, LeapSource::Reference)
    );
    k.reference(ts(M - 3_600), Leap::Insert, false, &mut ev);
    k.update(ts(M - 3_600), &mut ev);
    assert_eq!(k.status_bits(), ClockStatus::INS, "tonight on the last day");
    assert_eq!(k.published(ts(M - 3_600)).0, LeapState::Positive);
}

#[test]
fn unusable_list_is_unknown_unless_an_authenticated_reference_covers_it() {
    let mut k = keeper();
    let mut ev = Vec::new();
    k.notice(LeapNotice::Unusable);
    k.reference(ts(M - 3_600), Leap::Insert, false, &mut ev);
    k.update(ts(M - 3_600), &mut ev);
    let (state, view) = k.published(ts(M - 3_600));
    assert_eq!((state, view.source), (LeapState::Unknown, LeapSource::None));
    assert_eq!(
        k.status_bits(),
        ClockStatus::empty(),
        "an unbacked LI never arms"
    );
    k.reference(ts(M - 3_500), Leap::Insert, true, &mut ev);
    k.update(ts(M - 3_500), &mut ev);
    let (state, view) = k.published(ts(M - 3_500));
    assert_eq!(
        (state, view.source),
        (LeapState::Positive, LeapSource::Reference)
    );
    assert_eq!(k.status_bits(), ClockStatus::INS);
    assert!(ev.contains(&EngineEvent::LeapSource(LeapSource::Reference)));
}

#[test]
fn disagreement_is_logged_once_after_two_readings() {
    let mut k = keeper();
    let mut ev = Vec::new();
    k.notice(LeapNotice::NoLeap);
    k.reference(ts(M - 20 * DAY_S), Leap::Insert, false, &mut ev);
    assert!(ev.is_empty(), "one reading may predate a list update");
    for i in 1..5 {
        k.reference(ts(M - 20 * DAY_S + i), Leap::Insert, false, &mut ev);
    }
    let n = |ev: &[EngineEvent]| {
        ev.iter()
            .filter(|e| matches!(e, EngineEvent::LeapDisagreement { .. }))
            .count()
    };
    assert_eq!(n(&ev), 1);
    assert!(ev.contains(&EngineEvent::LeapDisagreement {
        reference: Leap::Insert,
        month_end_utc_s: M,
        list: Leap::None
    }));
    // Agreement again, then a new disagreement: logged again.
    k.reference(ts(M - 19 * DAY_S), Leap::None, false, &mut ev);
    k.notice(insert_at_m());
    k.reference(ts(M - 3_600), Leap::None, false, &mut ev);
    k.reference(ts(M - 3_500), Leap::None, false, &mut ev);
    assert_eq!(n(&ev), 2, "{ev:?}");
    // A reference silent before the last day does not contradict a listed leap.
    let mut k = keeper();
    let mut ev = Vec::new();
    k.notice(insert_at_m());
    for i in 0..3 {
        k.reference(ts(M - 10 * DAY_S + i), Leap::None, false, &mut ev);
    }
    assert_eq!(n(&ev), 0);
}

#[test]
fn trail_skips_repeats_and_error() {
    let mut t = StateTrail::default();
    for s in [
        ClockState::Ins,
        ClockState::Ins,
        ClockState::Error,
        ClockState::Oop,
        ClockState::Wait,
        ClockState::Ok,
    ] {
        t.push(s);
    }
    assert!(t.hidden);
    assert!(t.shows(Leap::Insert));
    assert!(!t.shows(Leap::Delete));
    assert_eq!(t.states().len(), 4);
}

#[test]
fn an_insertion_not_applied_is_given_up_half_a_second_after_midnight() {
    let mut k = keeper();
    let mut ev = Vec::new();
    k.notice(insert_at_m());
    k.update(ts(M - 100), &mut ev);
    let grace_end = M * 1_000_000_000 + APPLY_GRACE_NS;
    assert!(!k.update(ts(M), &mut ev).not_applied, "midnight itself");
    // The stamps show the leap's step whose notice has not come yet: wait for it.
    k.set_jump_seen(true);
    assert!(!k.update(Timestamp::from_ns(grace_end), &mut ev).not_applied);
    assert_eq!(k.status_bits(), ClockStatus::INS);
    k.set_jump_seen(false);
    let up = k.update(Timestamp::from_ns(grace_end), &mut ev);
    assert!(up.not_applied && up.status_changed);
    assert_eq!(k.status_bits(), ClockStatus::empty());
}

#[test]
fn readings_near_an_armed_or_applied_leap_are_ambiguous() {
    let mut k = keeper();
    let mut ev = Vec::new();
    let ns = |s: i64| s * 1_000_000_000;
    assert!(!k.ambiguous_at(ns(M)), "nothing armed");
    k.notice(insert_at_m());
    k.update(ts(M - 100), &mut ev);
    assert!(!k.ambiguous_at(ns(M) - AMBIGUOUS_NS - 1));
    assert!(k.ambiguous_at(ns(M) - AMBIGUOUS_NS));
    assert!(k.ambiguous_at(ns(M) + AMBIGUOUS_NS));
    assert!(!k.ambiguous_at(ns(M) + AMBIGUOUS_NS + 1));
    k.stepped();
    k.kernel(&snap(ClockState::Oop, M - 1), &mut ev);
    k.kernel(&snap(ClockState::Wait, M), &mut ev);
    assert!(k.ambiguous_at(ns(M) + 1), "after the leap too");
    assert!(!k.ambiguous_at(ns(M + 3)));
}

#[test]
fn the_applied_leap_stays_published_whatever_the_list_says_after_midnight() {
    let mut k = keeper();
    let mut ev = Vec::new();
    k.notice(insert_at_m());
    k.update(ts(M - 100), &mut ev);
    k.kernel(&snap(ClockState::Ins, M - 1), &mut ev);
    assert_eq!(k.stepped(), Some(Leap::Insert));
    k.kernel(&snap(ClockState::Oop, M - 1), &mut ev);
    k.kernel(&snap(ClockState::Wait, M), &mut ev);
    // Past midnight the list announces no further leap.
    k.notice(LeapNotice::NoLeap);
    k.update(ts(M), &mut ev);
    for s in [M, M + 1, M + KEEP_AFTER_S - 1] {
        let (_, view) = k.published(ts(s));
        assert_eq!(
            (view.at_utc_s, view.leap),
            (M, Leap::Insert),
            "at {}",
            s - M
        );
    }
}
