//! The engine applying the second-verification policy (`engine/verify.rs`) with readings from
//! several references: a quorum met and not met, NTS required, a liar among three, the
//! tolerance, whole-second steps before trust, and a recheck that cannot be made. The policy
//! comes from a configuration text, as the daemon reads it. Pulses are perfect (offset 0), so
//! a reading's offset is its distance from the pulse-derived time.

mod verify_util;

use ppsd::config;
use ppsd::engine::verify::Dissent;
use ppsd::engine::{EngineEvent, Reason, SyncState};
use verify_util::{Rig, MS, S};

fn rig(verify_toml: &str) -> Rig {
    let text = format!("[verify]\n{verify_toml}\n");
    Rig::new(&config::parse("test.toml", &text).unwrap())
}

#[test]
fn a_quorum_of_two_waits_for_the_second_source() {
    let mut r = rig("quorum = 2");
    r.run(2);
    r.tod(0, 2 * MS, false);
    r.run(60);
    assert_eq!(r.state(), (SyncState::Unknown, Reason::SecondsUnverified));
    r.tod(0, -MS, false);
    r.run(30);
    assert_eq!(
        r.state(),
        (SyncState::Unknown, Reason::SecondsUnverified),
        "the same source again is still one source"
    );
    r.tod(2, MS, false);
    r.run(15);
    assert_eq!(r.state().0, SyncState::InSync);
    assert_eq!(r.count(|e| *e == EngineEvent::ReferenceAgrees), 1);
}

#[test]
fn nts_required_never_verifies_on_ntp_and_does_on_one_nts_reading() {
    let mut r = rig("require = \"nts\"");
    r.run(2);
    for _ in 0..5 {
        r.tod(0, MS, false);
        r.tod(1, -MS, false);
        r.run(16);
    }
    assert_eq!(r.state(), (SyncState::Unknown, Reason::SecondsUnverified));
    assert_eq!(r.count(|e| *e == EngineEvent::ReferenceAgrees), 0);
    r.tod(2, 3 * MS, true);
    r.run(15);
    assert_eq!(r.state().0, SyncState::InSync);
}

#[test]
fn one_liar_among_three_is_logged_by_name_index_and_outvoted_then_a_second_breaks_the_quorum() {
    let mut r = rig("quorum = 2");
    r.run(2);
    r.tod(0, MS, false);
    r.tod(1, -MS, false);
    r.tod(2, 0, true);
    r.run(40);
    assert_eq!(r.state().0, SyncState::InSync);
    r.tod(1, S + 4 * MS, false);
    r.run(2);
    assert!(r.events.contains(&EngineEvent::ReferenceDissents(Dissent {
        source: 1,
        seconds: 1,
        residual_ns: 4 * MS
    })));
    assert_eq!(r.state().0, SyncState::InSync, "two still agree");
    assert!(r.steps.is_empty(), "a trusted clock is never stepped");
    r.tod(2, S, true);
    r.run(1);
    assert_eq!(
        r.state(),
        (SyncState::OutOfSync, Reason::ReferenceDisagrees)
    );
    assert_eq!(
        r.count(|e| matches!(e, EngineEvent::ReferenceDisagrees { seconds: 1 })),
        1
    );
    assert!(r.steps.is_empty(), "two liars after trust: still no step");
    // Both come back: the quorum is met again and the state recovers.
    r.tod(1, 0, false);
    r.tod(2, 0, true);
    r.run(15);
    assert_eq!(r.state().0, SyncState::InSync);
}

#[test]
fn a_reading_past_the_tolerance_takes_the_state_out_of_sync() {
    let mut r = rig("tolerance_ms = 100");
    r.run(2);
    r.tod(0, 20 * MS, false);
    r.run(40);
    assert_eq!(r.state().0, SyncState::InSync);
    r.tod(0, 300 * MS, false);
    r.run(1);
    assert!(r.events.contains(&EngineEvent::ReferenceDissents(Dissent {
        source: 0,
        seconds: 0,
        residual_ns: 300 * MS
    })));
    assert_eq!(
        r.state(),
        (SyncState::OutOfSync, Reason::ReferenceDisagrees)
    );
}

#[test]
fn before_trust_a_step_needs_the_quorum_on_the_same_second() {
    let mut r = rig("quorum = 2");
    r.run(2);
    r.tod(0, 3 * S + MS, false);
    r.run(5);
    assert!(r.steps.is_empty(), "one source's word is not enough");
    r.tod(1, 3 * S - MS, false);
    assert_eq!(r.steps, vec![-3 * S]);
    r.run(40);
    assert_eq!(
        r.state().0,
        SyncState::InSync,
        "the step verified the numbering"
    );
}

#[test]
fn a_recheck_that_cannot_be_made_is_logged_once_and_the_state_stays() {
    let mut r = rig("recheck_min = 2");
    r.run(2);
    r.tod(0, MS, false);
    r.run(60);
    assert_eq!(r.state().0, SyncState::InSync);
    let lapsed = |e: &EngineEvent| matches!(e, EngineEvent::VerificationLapsed { .. });
    assert_eq!(r.count(lapsed), 0);
    r.run(120);
    assert_eq!(r.count(lapsed), 1, "once, 2 min after the reading");
    assert_eq!(
        r.state().0,
        SyncState::InSync,
        "the pulses keep the numbering"
    );
    r.run(300);
    assert_eq!(r.count(lapsed), 1, "not again while it lasts");
    r.tod(0, -MS, false);
    assert_eq!(
        r.events.last(),
        Some(&EngineEvent::ReferenceAgrees),
        "the renewal is logged"
    );
    // A dissent after the lapse is still a dissent.
    r.tod(0, -S, false);
    r.run(1);
    assert_eq!(
        r.state(),
        (SyncState::OutOfSync, Reason::ReferenceDisagrees)
    );
}

#[test]
fn readings_before_the_first_pulse_are_judged_at_it() {
    let mut r = rig("quorum = 2");
    r.tod(0, 2 * S, false);
    r.tod(1, 2 * S + MS, false);
    assert!(r.steps.is_empty());
    r.run(1);
    assert_eq!(r.steps, vec![-2 * S], "both held readings count");
}

#[test]
fn a_reload_of_the_references_drops_their_readings_and_keeps_the_numbering() {
    let mut r = rig("quorum = 1");
    r.run(2);
    r.tod(0, 0, false);
    r.tod(1, 0, false);
    r.run(40);
    assert_eq!(r.state().0, SyncState::InSync);
    r.engine.references_changed(&Default::default());
    r.tod(0, 0, false);
    r.run(5);
    assert_eq!(
        r.state().0,
        SyncState::InSync,
        "the numbering stays verified"
    );
    // Source 1's old reading no longer counts (without the reload it would still meet the
    // quorum of one): a dissent by source 0 now breaks it.
    r.tod(0, S, false);
    r.run(1);
    assert_eq!(
        r.state(),
        (SyncState::OutOfSync, Reason::ReferenceDisagrees)
    );
}

#[test]
fn agreement_after_a_lapse_and_a_dispute_is_logged_once() {
    let mut r = rig("recheck_min = 1");
    r.run(2);
    r.tod(0, 0, false);
    r.run(90);
    assert_eq!(
        r.count(|e| matches!(e, EngineEvent::VerificationLapsed { .. })),
        1
    );
    r.tod(0, S, false);
    r.run(1);
    assert_eq!(
        r.state(),
        (SyncState::OutOfSync, Reason::ReferenceDisagrees)
    );
    let agrees = |r: &Rig| r.count(|e| *e == EngineEvent::ReferenceAgrees);
    let before = agrees(&r);
    r.tod(0, 0, false);
    r.run(1);
    r.tod(0, 0, false);
    r.run(1);
    assert_eq!(
        agrees(&r),
        before + 1,
        "one agreement, not a second one for the lapse"
    );
}
