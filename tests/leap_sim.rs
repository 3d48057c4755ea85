//! Simulated leap seconds (issue 11): the kernel armed from the world's leap-seconds list
//! through the engine, positive and negative, over seeds 1–20 with 100 ns pulse jitter. No false
//! INSYNC, no bound violation, the true offset under 100 ns by 10 s after the leap, the kernel's
//! TIME_INS/OOP/WAIT (or DEL/WAIT) sequence verified, and the leap state and window that the shm
//! publisher writes right for every second from 5 s before the leap to 12 s after it.

use ppsd::engine::{servo, EngineEvent, Leap, LeapSource, SyncState};
use ppsd::io::ClockState;
use ppsd::sim::leaptrace::{LeapRow, LeapTrace};
use ppsd::sim::run;
use ppsd::sim::scenario::{self, Scenario};
use ppsd_shm::LeapState;
use std::path::Path;

/// 2026-07-01T00:00:00Z, the midnight both scenarios' leap ends at.
const MIDNIGHT: i64 = 1_782_864_000;

fn load(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name);
    let mut sc = scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    // The leap is at 7200 s; the tail after it is what matters here.
    sc.duration_s = 7_500;
    sc
}

fn traced(sc: &Scenario, seed: u64) -> (ppsd::sim::report::Report, LeapTrace) {
    let mut sc = sc.clone();
    sc.seed = seed;
    let kalman = servo::by_name("kalman").unwrap();
    run::run_with_leap_trace(&sc, kalman, LeapTrace::default()).unwrap()
}

/// The leap state, in-window flag and kernel state a row must show, from the true timeline:
/// `k` is the true second relative to the instant UTC reaches the end of the day.
fn expected(k: i64, sign: i64) -> (LeapState, bool) {
    if sign > 0 {
        // 23:59:58, 23:59:59, 23:59:60 (the clock repeats 23:59:59), 00:00:00 in the window.
        let leap = if k <= 0 {
            LeapState::Positive
        } else {
            LeapState::None
        };
        (leap, (-2..=1).contains(&k))
    } else {
        // 23:59:58, then 00:00:00 (23:59:59 skipped) in the window.
        let leap = if k <= -2 {
            LeapState::Negative
        } else {
            LeapState::None
        };
        (leap, (-2..=-1).contains(&k))
    }
}

fn check_rows(name: &str, seed: u64, rows: &[LeapRow]) {
    assert_eq!(
        rows.len(),
        18,
        "{name} seed {seed}: 5 s before to 12 s after"
    );
    for r in rows {
        let (leap, in_window) = expected(r.k_s, r.sign);
        let at = format!("{name} seed {seed} second {:+}", r.k_s);
        assert_eq!((r.leap, r.in_window), (leap, in_window), "{at}: {r:?}");
        if leap != LeapState::None {
            assert_eq!(r.next_leap_utc_s, MIDNIGHT, "{at}");
        }
        assert_eq!(r.source, LeapSource::File, "{at}");
        assert_eq!(r.state, SyncState::InSync, "{at}: {r:?}");
        let pending = if r.sign > 0 { r.k_s < 0 } else { r.k_s < -1 };
        let want_kernel = match (pending, r.sign > 0) {
            (true, true) => Some(ClockState::Ins),
            (true, false) => Some(ClockState::Del),
            (false, true) if r.k_s == 0 => Some(ClockState::Oop),
            _ if r.k_s >= 2 => Some(ClockState::Ok),
            _ => None,
        };
        if let Some(k) = want_kernel {
            assert_eq!(r.kernel, k, "{at}");
        }
    }
}

fn check_events(name: &str, seed: u64, t: &LeapTrace, leap: Leap) {
    let events: Vec<&EngineEvent> = t.events().iter().map(|(_, e)| e).collect();
    let armed = events
        .iter()
        .filter(|e| matches!(e, EngineEvent::LeapArmed { .. }))
        .count();
    assert_eq!(armed, 1, "{name} seed {seed}: armed once: {events:?}");
    assert!(
        events.contains(&&EngineEvent::LeapApplied(leap)),
        "{name} seed {seed}: {events:?}"
    );
    let verified = events.iter().find_map(|e| match e {
        EngineEvent::LeapVerified {
            leap: l,
            as_expected,
            trail,
        } => Some((*l, *as_expected, *trail)),
        _ => None,
    });
    let (l, ok, trail) = verified.unwrap_or_else(|| panic!("{name} seed {seed}: {events:?}"));
    assert_eq!((l, ok), (leap, true), "{name} seed {seed}: {trail:?}");
    assert!(
        !events.iter().any(|e| matches!(
            e,
            EngineEvent::LeapNotApplied { .. }
                | EngineEvent::LeapDisarmed { .. }
                | EngineEvent::LeapDisagreement { .. }
        )),
        "{name} seed {seed}: {events:?}"
    );
}

fn sweep(name: &str, leap: Leap) {
    let sc = load(name);
    let mut worst_after_10 = 0.0f64;
    let mut worst_all = 0.0f64;
    for seed in 1..=20 {
        let (r, t) = traced(&sc, seed);
        assert_eq!(
            (r.false_insync_s, r.bound_violation_s),
            (0, 0),
            "{name} seed {seed}"
        );
        check_rows(name, seed, t.rows());
        check_events(name, seed, &t, leap);
        for row in t.rows() {
            worst_all = worst_all.max(row.true_offset_ns.abs());
            if row.k_s >= 10 {
                worst_after_10 = worst_after_10.max(row.true_offset_ns.abs());
            }
        }
    }
    println!(
        "{name}: seeds 1-20, |true offset| max {worst_all:.1} ns from 5 s before to 12 s after, \
         {worst_after_10:.1} ns from 10 s after"
    );
    assert!(worst_after_10 < 100.0, "{name}: {worst_after_10} ns");
}

#[test]
fn positive_leap_over_seeds_1_to_20() {
    sweep("leap.toml", Leap::Insert);
}

#[test]
fn negative_leap_over_seeds_1_to_20() {
    sweep("leap-negative.toml", Leap::Delete);
}
