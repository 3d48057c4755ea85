//! A vanished PPS device (the daemon's `Input::DeviceLost`) leaves INSYNC at the very input that
//! reports it, with its own reason, while pulses that merely stop stay holdover; once the device
//! is back the state returns only through the recovery hysteresis. Pure: hand-made inputs to
//! the engine, no clock and no device.

use ppsd::engine::ledger::UntrustedBegan;
use ppsd::engine::{
    servo, Action, Engine, EngineConfig, EngineEvent, Input, Reason, Stamp, SyncState, TodSample,
    TrustState,
};
use ppsd::io::PpsFetch;
use ppsd::time::{Timestamp, NANOS_PER_SEC};

const S: i64 = NANOS_PER_SEC;
const EPOCH: i64 = 1_767_225_600;

fn at(t_ns: i64) -> Stamp {
    Stamp {
        mono_ns: 1_000 * S + t_ns,
        real: Timestamp::new(EPOCH, t_ns),
    }
}

fn pulse(sec: i64) -> Input {
    Input::Pulse(PpsFetch {
        assert: Timestamp::new(EPOCH + sec, 0),
        assert_seq: sec as u32 + 1,
        ..PpsFetch::default()
    })
}

fn published(out: &[Action]) -> TrustState {
    out.iter()
        .rev()
        .find_map(|a| match a {
            Action::Publish(s) => Some(*s),
            _ => None,
        })
        .expect("a publication")
}

/// An engine fed seconds `0..n` of a perfect clock, with a reference that agrees.
fn insync_engine(n: i64) -> Engine {
    let mut e = Engine::new(EngineConfig::default(), servo::by_name("pi").unwrap());
    let mut out = Vec::new();
    for k in 0..n {
        let t = k * S + 10_000_000;
        e.handle(at(t), &pulse(k), &mut out);
        if k == 0 {
            e.handle(at(t), &Input::Tod(TodSample::default()), &mut out);
        }
    }
    assert_eq!(e.published().state, SyncState::InSync, "settled");
    e
}

fn handle(e: &mut Engine, t_ns: i64, input: &Input) -> (TrustState, Vec<Action>) {
    let mut out = Vec::new();
    e.handle(at(t_ns), input, &mut out);
    (published(&out), out)
}

#[test]
fn a_lost_device_is_out_of_sync_at_once_and_recovers_through_the_hysteresis() {
    let mut e = insync_engine(30);
    let lost_at = 29 * S + 300_000_000;
    let (st, out) = handle(&mut e, lost_at, &Input::DeviceLost);
    assert_eq!(
        (st.state, st.reason),
        (SyncState::OutOfSync, Reason::DeviceLost)
    );
    assert!(
        st.bound_ns < 1_000_000,
        "the bound alone would still allow INSYNC"
    );
    assert!(out.iter().any(|a| matches!(
        a,
        Action::Event(EngineEvent::StateChanged {
            from: SyncState::InSync,
            to: SyncState::OutOfSync,
            ..
        })
    )));
    assert!(
        out.iter().any(|a| matches!(
            a,
            Action::Event(EngineEvent::UntrustedBegan(UntrustedBegan {
                reason: Reason::DeviceLost,
                ..
            }))
        )),
        "the ledger opens an interval with the reason"
    );
    // Renewals while it is gone keep saying so.
    for k in 0..6 {
        let (st, _) = handle(&mut e, lost_at + k * S / 2, &Input::Tick);
        assert_eq!(
            (st.state, st.reason),
            (SyncState::OutOfSync, Reason::DeviceLost)
        );
    }
    let (st, _) = handle(&mut e, 33 * S, &Input::DeviceBack);
    assert_ne!(st.state, SyncState::InSync, "back is not yet trusted");
    assert_ne!(st.reason, Reason::DeviceLost);
    let mut insync_after = None;
    for k in 33..60 {
        let (st, _) = handle(&mut e, k * S + 10_000_000, &pulse(k));
        if st.state == SyncState::InSync {
            insync_after = Some(k - 32);
            break;
        }
    }
    let n = insync_after.expect("INSYNC again once pulses return");
    assert!(
        n >= 10,
        "at least recover_pulses (10) good pulses first, took {n}"
    );
}

#[test]
fn pulses_that_stop_with_the_device_present_stay_holdover() {
    let mut e = insync_engine(30);
    // No pulse after second 29: ticks find them lost (timeout 1.5 s) and hold over.
    let mut reasons = Vec::new();
    for k in 0..8 {
        let (st, _) = handle(&mut e, 29 * S + 500_000_000 + k * S / 2, &Input::Tick);
        reasons.push(st.reason);
        assert_ne!(st.reason, Reason::DeviceLost);
    }
    assert_eq!(e.published().state, SyncState::InSync, "{reasons:?}");
}

#[test]
fn device_inputs_while_not_trusted_never_raise_the_state() {
    let mut e = Engine::new(EngineConfig::default(), servo::by_name("pi").unwrap());
    let (st, _) = handle(&mut e, 0, &Input::DeviceBack);
    assert_eq!(st.state, SyncState::Unknown);
    let (st, _) = handle(&mut e, S, &Input::DeviceLost);
    assert_eq!(
        (st.state, st.reason),
        (SyncState::OutOfSync, Reason::DeviceLost)
    );
}
