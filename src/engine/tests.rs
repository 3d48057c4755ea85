//! Engine tests with hand-made inputs: the seams (dedup, own vs foreign clock changes, kernel
//! check, whole-second check) without the simulator.

use super::*;
use crate::io::{ClockWrite, ScaledPpm};

const S: i64 = NANOS_PER_SEC;
const EPOCH: i64 = 1_767_225_600;

fn at(t_ns: i64) -> Stamp {
    Stamp {
        mono_ns: 1_000 * S + t_ns,
        real: Timestamp::new(EPOCH, t_ns),
    }
}

fn pulse(seq: u32, sec: i64, offset_ns: i64) -> Input {
    Input::Pulse(PpsFetch {
        assert: Timestamp::new(EPOCH + sec, offset_ns),
        assert_seq: seq,
        ..PpsFetch::default()
    })
}

fn engine() -> Engine {
    Engine::new(EngineConfig::default(), servo::by_name("pi").unwrap())
}

fn kernel(freq: ScaledPpm) -> Input {
    Input::Kernel(ClockSnapshot {
        freq,
        tick_us: 10_000,
        ..ClockSnapshot::default()
    })
}

fn writes(out: &[Action]) -> Vec<ClockWrite> {
    out.iter()
        .filter_map(|a| match a {
            Action::Write(w) => Some(*w),
            _ => None,
        })
        .collect()
}

fn published(out: &[Action]) -> Option<TrustState> {
    out.iter().rev().find_map(|a| match a {
        Action::Publish(s) => Some(*s),
        _ => None,
    })
}

/// Runs `n` pulses of a perfect clock from second `from`, with a reference that agrees.
fn settle(e: &mut Engine, from: i64, n: i64, out: &mut Vec<Action>) {
    for k in from..from + n {
        out.clear();
        let t = k * S + 10_000_000;
        e.handle(at(t), &pulse(k as u32 + 1, k, 0), out);
        if k == from {
            e.handle(at(t), &Input::Tod(TodSample::default()), out);
        }
    }
}

#[test]
fn duplicates_do_not_reach_the_servo() {
    let mut e = engine();
    let mut out = Vec::new();
    e.handle(at(10_000_000), &pulse(1, 0, 500), &mut out);
    out.clear();
    e.handle(at(S + 10_000_000), &pulse(1, 0, 500), &mut out);
    assert!(writes(&out).iter().all(|w| w.freq.is_none()));
    assert!(
        published(&out).is_some(),
        "a duplicate still renews the state"
    );
}

#[test]
fn trusts_after_agreement_and_a_foreign_step_is_out_of_sync_at_once() {
    let mut e = engine();
    let mut out = Vec::new();
    settle(&mut e, 0, 30, &mut out);
    assert_eq!(published(&out).unwrap().state, SyncState::InSync);
    out.clear();
    e.handle(at(30 * S + 300_000_000), &Input::ClockChanged, &mut out);
    assert_eq!(published(&out).unwrap().state, SyncState::OutOfSync);
    assert!(out.contains(&Action::Event(EngineEvent::ForeignChange(
        ForeignChange::Step
    ))));
    assert!(!out.iter().any(|a| matches!(a, Action::Step { .. })));
}

#[test]
fn own_step_notice_is_not_foreign() {
    let mut e = engine();
    let mut out = Vec::new();
    e.handle(at(10_000_000), &pulse(1, 0, 5_000_000), &mut out);
    out.clear();
    e.handle(at(S + 10_000_000), &pulse(2, 1, 5_000_000), &mut out);
    assert!(out.contains(&Action::Step {
        delta_ns: -5_000_000
    }));
    out.clear();
    // The clock now reads 5 ms less against the monotonic clock, as ppsd asked.
    let stepped = |t_ns: i64| Stamp {
        real: at(t_ns).real.add_ns(-5_000_000),
        ..at(t_ns)
    };
    e.handle(stepped(S + 10_050_000), &Input::ClockChanged, &mut out);
    assert!(!out
        .iter()
        .any(|a| matches!(a, Action::Event(EngineEvent::ForeignChange(_)))));
    // A second notice is someone else's.
    e.handle(stepped(S + 20_000_000), &Input::ClockChanged, &mut out);
    assert!(out.contains(&Action::Event(EngineEvent::ForeignChange(
        ForeignChange::Step
    ))));
}

#[test]
fn kernel_frequency_changed_behind_our_back_is_found_and_restored() {
    let mut e = engine();
    let mut out = Vec::new();
    e.handle(at(0), &kernel(ScaledPpm(0)), &mut out);
    settle(&mut e, 0, 30, &mut out);
    let ours = writes(&out).last().and_then(|w| w.freq).unwrap();
    out.clear();
    e.handle(at(30 * S + 500_000_000), &kernel(ours), &mut out);
    assert!(out.is_empty(), "our own frequency is not foreign: {out:?}");
    let theirs = ScaledPpm::from_ppb(100_000.0);
    e.handle(at(30 * S + 600_000_000), &kernel(theirs), &mut out);
    assert!(out.contains(&Action::Event(EngineEvent::ForeignChange(
        ForeignChange::Frequency {
            expected: ours,
            found: theirs
        }
    ))));
    assert_eq!(writes(&out).last().and_then(|w| w.freq), Some(ours));
    assert_eq!(published(&out).unwrap().state, SyncState::OutOfSync);
}

#[test]
fn whole_seconds_are_stepped_before_trust_and_refused_after() {
    let mut e = engine();
    let mut out = Vec::new();
    e.handle(at(10_000_000), &pulse(1, 0, 0), &mut out);
    out.clear();
    let tod = TodSample {
        offset_ns: 3 * S + 20,
        leap: Leap::None,
        ..TodSample::default()
    };
    e.handle(at(20_000_000), &Input::Tod(tod), &mut out);
    assert!(out.contains(&Action::Step { delta_ns: -3 * S }));
    let mut e = engine();
    settle(&mut e, 0, 30, &mut out);
    out.clear();
    e.handle(at(30 * S + 250_000_000), &Input::Tod(tod), &mut out);
    assert!(!out.iter().any(|a| matches!(a, Action::Step { .. })));
    assert!(
        out.contains(&Action::Event(EngineEvent::ReferenceDisagrees {
            seconds: 3
        }))
    );
    assert_eq!(published(&out).unwrap().state, SyncState::OutOfSync);
}

#[test]
fn lost_pulses_mean_holdover_at_the_integral_frequency() {
    let mut e = engine();
    let mut out = Vec::new();
    settle(&mut e, 0, 30, &mut out);
    out.clear();
    e.handle(at(31 * S + 500_000_000), &Input::Tick, &mut out);
    assert!(out
        .iter()
        .any(|a| matches!(a, Action::Event(EngineEvent::PulseLost { .. }))));
    assert!(writes(&out).iter().any(|w| w.freq.is_some()));
    out.clear();
    e.handle(at(40 * S + 10_000_000), &pulse(41, 40, 0), &mut out);
    assert!(out
        .iter()
        .any(|a| matches!(a, Action::Event(EngineEvent::PulseRegained { .. }))));
}

#[test]
fn a_foreign_step_is_measured_from_the_stamps_and_acted_on_before_its_notice() {
    let mut e = engine();
    let mut out = Vec::new();
    settle(&mut e, 0, 30, &mut out);
    assert_eq!(published(&out).unwrap().state, SyncState::InSync);
    out.clear();
    // Someone stepped the clock 5 ms forward; the tick's stamp shows it before any notice.
    let jumped = |t_ns: i64| Stamp {
        real: at(t_ns).real.add_ns(5_000_000),
        ..at(t_ns)
    };
    e.handle(jumped(30 * S + 500_000_000), &Input::Tick, &mut out);
    assert!(out.contains(&Action::Event(EngineEvent::ForeignChange(
        ForeignChange::SteppedBy {
            delta_ns: 5_000_000
        }
    ))));
    assert_eq!(published(&out).unwrap().state, SyncState::OutOfSync);
    assert!(out
        .iter()
        .any(|a| matches!(a, Action::Event(EngineEvent::UntrustedBegan(_)))));
    out.clear();
    e.handle(jumped(30 * S + 500_050_000), &Input::ClockChanged, &mut out);
    assert!(
        !out.iter()
            .any(|a| matches!(a, Action::Event(EngineEvent::ForeignChange(_)))),
        "the notice is the same step: {out:?}"
    );
}

#[test]
fn a_leap_the_kernel_does_not_apply_makes_the_state_out_of_sync() {
    let mut e = engine();
    let mut out = Vec::new();
    settle(&mut e, 0, 30, &mut out);
    assert_eq!(e.published().state, SyncState::InSync);
    // The list announces a leap 10 s ahead (the engine does not care that it is no midnight;
    // the kernel never applies it, which is the case under test).
    let at_utc_s = EPOCH + 40;
    let notice = LeapNotice::Leap {
        at_utc_s,
        leap: Leap::Insert,
    };
    out.clear();
    e.handle(
        at(30 * S + 500_000_000),
        &Input::LeapNotice(notice),
        &mut out,
    );
    let ins = |out: &[Action]| {
        writes(out)
            .iter()
            .filter_map(|w| w.status)
            .next_back()
            .map(|s| s.contains(ClockStatus::INS))
    };
    assert_eq!(ins(&out), Some(true), "STA_INS written");
    assert_eq!(e.published().leap, LeapState::Positive);
    let mut events = Vec::new();
    for k in 31..45 {
        out.clear();
        e.handle(at(k * S + 10_000_000), &pulse(k as u32 + 1, k, 0), &mut out);
        events.extend(out.iter().filter_map(|a| match a {
            Action::Event(ev) => Some(*ev),
            _ => None,
        }));
        if k == at_utc_s - EPOCH + 3 {
            assert_eq!(ins(&out), Some(false), "STA_INS cleared");
        }
    }
    assert!(
        events
            .iter()
            .any(|ev| matches!(ev, EngineEvent::LeapNotApplied { .. })),
        "{events:?}"
    );
    assert_eq!(e.published().state, SyncState::OutOfSync);
    assert_eq!(e.published().leap, LeapState::None);
}

#[test]
fn a_reading_in_the_inserted_second_is_not_judged() {
    let mut e = engine();
    let mut out = Vec::new();
    settle(&mut e, 0, 30, &mut out);
    let at_utc_s = EPOCH + 40;
    let notice = LeapNotice::Leap {
        at_utc_s,
        leap: Leap::Insert,
    };
    e.handle(
        at(30 * S + 500_000_000),
        &Input::LeapNotice(notice),
        &mut out,
    );
    for k in 31..40 {
        e.handle(at(k * S + 10_000_000), &pulse(k as u32 + 1, k, 0), &mut out);
    }
    // True second 40 is the inserted one: the kernel steps the clock back by 1 s.
    let stepped = |t_ns: i64| Stamp {
        real: at(t_ns).real.add_ns(-S),
        ..at(t_ns)
    };
    e.handle(stepped(40 * S + 1_000_000), &Input::ClockChanged, &mut out);
    out.clear();
    // A reference sample stamped before the step, handled after it: it reads 1 s off.
    let off = TodSample {
        offset_ns: S,
        ..TodSample::default()
    };
    e.handle(stepped(40 * S + 150_000_000), &Input::Tod(off), &mut out);
    let events: Vec<EngineEvent> = out
        .iter()
        .filter_map(|a| match a {
            Action::Event(ev) => Some(*ev),
            _ => None,
        })
        .collect();
    assert!(
        events
            .iter()
            .any(|ev| matches!(ev, EngineEvent::LeapReadingSkipped { .. })),
        "{events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|ev| matches!(ev, EngineEvent::ReferenceDisagrees { .. })),
        "{events:?}"
    );
    assert_eq!(e.published().state, SyncState::InSync);
    for k in 40..44 {
        let p = Input::Pulse(PpsFetch {
            assert: Timestamp::new(EPOCH + k - 1, 0),
            assert_seq: k as u32 + 1,
            ..PpsFetch::default()
        });
        e.handle(stepped(k * S + 10_000_000), &p, &mut out);
    }
    assert_eq!(e.published().state, SyncState::InSync);
    // Past the window, the same 1 s disagreement is judged.
    out.clear();
    e.handle(stepped(44 * S + 150_000_000), &Input::Tod(off), &mut out);
    assert!(
        out.contains(&Action::Event(EngineEvent::ReferenceDisagrees {
            seconds: 1
        })),
        "{out:?}"
    );
    assert_ne!(e.published().state, SyncState::InSync);
}

#[test]
fn the_kernel_tai_offset_follows_the_list_away_from_midnight() {
    let mut e = engine();
    let mut out = Vec::new();
    let snap = |tai_s: i32, sec: i64| {
        Input::Kernel(ClockSnapshot {
            tick_us: 10_000,
            tai_s,
            time: Timestamp::new(sec, 0),
            ..ClockSnapshot::default()
        })
    };
    let tai_writes = |out: &[Action]| {
        writes(out)
            .iter()
            .filter_map(|w| w.tai_s)
            .collect::<Vec<_>>()
    };
    e.handle(at(0), &snap(0, EPOCH + 3_600), &mut out);
    assert!(tai_writes(&out).is_empty(), "no list: left alone");
    e.handle(at(0), &Input::TaiOffset(Some(37)), &mut out);
    out.clear();
    // EPOCH is a UTC midnight: 5 s before the next one, nothing is written.
    e.handle(at(S), &snap(0, EPOCH + 86_395), &mut out);
    assert!(tai_writes(&out).is_empty(), "{out:?}");
    e.handle(at(2 * S), &snap(0, EPOCH + 3_600), &mut out);
    assert_eq!(tai_writes(&out), vec![37]);
    assert!(out.contains(&Action::Event(EngineEvent::TaiSet {
        from_s: 0,
        to_s: 37
    })));
    out.clear();
    e.handle(at(3 * S), &snap(37, EPOCH + 3_601), &mut out);
    assert!(tai_writes(&out).is_empty());
}

#[test]
fn an_insertion_not_applied_is_out_of_sync_half_a_second_after_midnight() {
    let mut e = engine();
    let mut out = Vec::new();
    settle(&mut e, 0, 30, &mut out);
    let at_utc_s = EPOCH + 40;
    let notice = LeapNotice::Leap {
        at_utc_s,
        leap: Leap::Insert,
    };
    e.handle(
        at(30 * S + 500_000_000),
        &Input::LeapNotice(notice),
        &mut out,
    );
    for k in 31..40 {
        e.handle(at(k * S + 10_000_000), &pulse(k as u32 + 1, k, 0), &mut out);
    }
    // The kernel never steps: the clock reads past midnight.
    e.handle(at(40 * S + 10_000_000), &pulse(41, 40, 0), &mut out);
    e.handle(at(40 * S + 499_000_000), &Input::Tick, &mut out);
    assert_eq!(e.published().state, SyncState::InSync, "within the grace");
    out.clear();
    e.handle(at(40 * S + 500_000_000), &Input::Tick, &mut out);
    assert!(
        out.iter()
            .any(|a| matches!(a, Action::Event(EngineEvent::LeapNotApplied { .. }))),
        "{out:?}"
    );
    assert_eq!(e.published().state, SyncState::OutOfSync);
}

#[test]
fn a_wrong_early_model_restarts_with_a_frequency_reset_and_reaches_insync() {
    // The bad start of the real-kernel test, closed loop: a clock 20 ppm fast, the first three
    // pulses captured µs off, so the Kalman servo's first frequency is wrong. It must not set
    // pulses aside for ever: it restarts (logged as a frequency reset) and the clock is INSYNC.
    let mut e = Engine::new(EngineConfig::default(), servo::by_name("kalman").unwrap());
    let mut out = Vec::new();
    e.handle(at(0), &kernel(ScaledPpm(0)), &mut out);
    let (y, early) = (20_000.0, [-9_449.0, 8_833.0, 6_708.0]);
    let (mut x, mut u) = (200_000.0_f64, 0.0_f64);
    let (mut resets, mut rejected, mut insync_at) = (0, 0, None);
    for k in 1..200_i64 {
        out.clear();
        let jitter = early.get(k as usize - 1).copied().unwrap_or(0.0);
        let t = k * S + 10_000_000;
        e.handle(
            at(t),
            &pulse(k as u32, k, (x + jitter).round() as i64),
            &mut out,
        );
        if k == 1 {
            e.handle(at(t), &Input::Tod(TodSample::default()), &mut out);
        }
        for a in &out {
            match a {
                Action::Event(EngineEvent::FrequencyReset { .. }) => resets += 1,
                Action::Event(EngineEvent::PulseRejected { .. }) => rejected += 1,
                _ => {}
            }
        }
        let new_u = writes(&out)
            .iter()
            .rev()
            .find_map(|w| w.freq)
            .map_or(u, |f| f.to_ppb());
        x += y + u * 0.01 + new_u * 0.99;
        u = new_u;
        if insync_at.is_none() && published(&out).is_some_and(|s| s.state == SyncState::InSync) {
            insync_at = Some(k);
        }
    }
    assert_eq!(resets, 1, "one restart of the model");
    assert!((19..40).contains(&rejected), "{rejected} pulses set aside");
    assert!(insync_at.is_some_and(|k| k < 80), "INSYNC at {insync_at:?}");
    assert!(x.abs() < 1_000.0, "offset left {x} ns");
}
