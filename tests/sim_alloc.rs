//! The engine's pulse path allocates nothing once warmed up: a thousand seconds of kernel
//! reads, pulses and ticks measured with the `allocation-counter` global allocator (linked into
//! this test binary only).

use ppsd::engine::{servo, Action, Engine, EngineConfig, Input, Stamp, SyncState, TodSample};
use ppsd::io::{ClockSnapshot, PpsFetch, ScaledPpm};
use ppsd::time::Timestamp;

const S: i64 = 1_000_000_000;
const EPOCH: i64 = 1_767_225_600;

fn at(t_ns: i64) -> Stamp {
    Stamp {
        mono_ns: 1_000 * S + t_ns,
        real: Timestamp::new(EPOCH, t_ns),
    }
}

/// One second as the daemon drives it; `freq` is what the kernel holds (the engine's last write).
fn second(engine: &mut Engine, k: i64, freq: &mut ScaledPpm, out: &mut Vec<Action>) {
    let snap = ClockSnapshot {
        tick_us: 10_000,
        freq: *freq,
        ..ClockSnapshot::default()
    };
    out.clear();
    let t = k * S + 10_000_000;
    engine.handle(at(t), &Input::Kernel(snap), out);
    let fetch = PpsFetch {
        assert: Timestamp::new(EPOCH + k, (k % 5) * 40 - 80),
        assert_seq: k as u32 + 1,
        ..PpsFetch::default()
    };
    engine.handle(at(t), &Input::Pulse(fetch), out);
    engine.handle(at(t + S / 2), &Input::Tick, out);
    for a in out.iter() {
        if let Action::Write(w) = a {
            *freq = w.freq.unwrap_or(*freq);
        }
    }
}

#[test]
fn no_allocation_per_pulse_after_warm_up() {
    for name in servo::SERVO_NAMES {
        no_allocation_with(name);
    }
}

fn no_allocation_with(name: &str) {
    let mut engine = Engine::new(EngineConfig::default(), servo::by_name(name).unwrap());
    let mut out = Vec::with_capacity(64);
    let mut freq = ScaledPpm(0);
    for k in 0..100 {
        second(&mut engine, k, &mut freq, &mut out);
        if k == 0 {
            engine.handle(at(S / 4), &Input::Tod(TodSample::default()), &mut out);
        }
    }
    assert_eq!(
        engine.published().state,
        SyncState::InSync,
        "{name}: warmed up"
    );
    let info = allocation_counter::measure(|| {
        for k in 100..1_100 {
            second(&mut engine, k, &mut freq, &mut out);
        }
    });
    assert_eq!(
        engine.published().state,
        SyncState::InSync,
        "no foreign change seen"
    );
    assert_eq!(info.count_total, 0, "{name}: allocations on the pulse path");
    // The counter does count: a Vec that must grow is seen.
    let grown = allocation_counter::measure(|| {
        let v: Vec<u64> = std::hint::black_box(vec![1]);
        std::hint::black_box(&v);
    });
    assert!(grown.count_total >= 1);
}
