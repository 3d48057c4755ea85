//! Metrics fed from a real engine: counts match the pulses the engine accepted, the exposition
//! passes `promtool check metrics`, the per-pulse path allocates nothing once warmed up (the
//! `allocation-counter` allocator is linked into this test binary), and derived buckets never
//! count a sample nearer zero than it is.

use std::io::Write;
use std::process::{Command, Stdio};

use ppsd::engine::{servo, Action, Engine, EngineConfig, EngineEvent, Input, Stamp, TodSample};
use ppsd::io::{ClockSnapshot, PpsFetch, ScaledPpm};
use ppsd::publish::metrics::{Metrics, MetricsConfig, SignedHist, BOUNDS_NS};
use ppsd::time::Timestamp;
use proptest::prelude::*;

const S: i64 = 1_000_000_000;
const EPOCH: i64 = 1_767_225_600;

fn at(t_ns: i64) -> Stamp {
    Stamp {
        mono_ns: 1_000 * S + t_ns,
        real: Timestamp::new(EPOCH, t_ns),
    }
}

/// Drives an engine as the daemon would and feeds every action to the metrics.
struct Rig {
    engine: Engine,
    metrics: Metrics,
    out: Vec<Action>,
    freq: ScaledPpm,
    seq: u32,
    pulses: u64,
    rejected: u64,
}

impl Rig {
    fn new() -> Rig {
        Rig {
            engine: Engine::new(EngineConfig::default(), servo::by_name("pi").unwrap()),
            metrics: Metrics::new(MetricsConfig::default()),
            out: Vec::with_capacity(64),
            freq: ScaledPpm(0),
            seq: 0,
            pulses: 0,
            rejected: 0,
        }
    }

    fn handle(&mut self, stamp: Stamp, input: &Input) {
        self.out.clear();
        let snap = ClockSnapshot {
            tick_us: 10_000,
            freq: self.freq,
            ..ClockSnapshot::default()
        };
        self.engine
            .handle(stamp, &Input::Kernel(snap), &mut self.out);
        self.engine.handle(stamp, input, &mut self.out);
        for a in &self.out {
            self.metrics.on_action(stamp, a);
            match a {
                Action::Write(w) => self.freq = w.freq.unwrap_or(self.freq),
                Action::Event(EngineEvent::PulseRejected { .. }) => self.rejected += 1,
                _ => {}
            }
        }
    }

    /// Second `k`: a pulse `offset_ns` off (plus an extra, spurious one when asked), a tick.
    fn second(&mut self, k: i64, offset_ns: i64, spurious: bool) {
        let t = k * S + 10_000_000;
        if spurious {
            self.seq += 1;
            self.pulses += 1;
            let fetch = PpsFetch {
                assert: Timestamp::new(EPOCH + k - 1, 400_000_000),
                assert_seq: self.seq,
                ..PpsFetch::default()
            };
            self.handle(at(t - 600_000_000), &Input::Pulse(fetch));
        }
        self.seq += 1;
        self.pulses += 1;
        let fetch = PpsFetch {
            assert: Timestamp::new(EPOCH + k, offset_ns),
            assert_seq: self.seq,
            ..PpsFetch::default()
        };
        self.handle(at(t), &Input::Pulse(fetch));
        self.handle(at(t + S / 2), &Input::Tick);
    }
}

fn noise(k: i64) -> i64 {
    (k * 7_919) % 61 - 30
}

fn promtool_check(text: &str) -> String {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => panic!(
            "promtool not runnable ({e}): install it with `apt-get install -y prometheus` \
             (Debian package prometheus)"
        ),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{report}\n---\n{text}"
    );
    report
}

fn sample(text: &str, start: &str) -> f64 {
    let line = text.lines().find(|l| l.starts_with(start));
    let line = line.unwrap_or_else(|| panic!("no {start:?}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn counts_match_the_engine_and_promtool_accepts_the_exposition() {
    let mut rig = Rig::new();
    rig.handle(at(S / 4), &Input::Tod(TodSample::default()));
    for k in 0..300 {
        rig.second(k, noise(k), k % 50 == 25);
    }
    let accepted = rig.pulses - rig.rejected;
    let m = &rig.metrics;
    assert!(rig.rejected >= 6, "the spurious pulses were rejected");
    assert_eq!(m.counters().pulses_accepted, accepted);
    assert_eq!(m.offsets().total().count(), accepted);
    assert_eq!(
        m.counters().pulses_rejected.iter().sum::<u64>(),
        rig.rejected
    );
    let mut text = String::new();
    m.encode(at(300 * S), &mut text);
    assert_eq!(
        sample(&text, "ppsd_pulse_offset_seconds_count "),
        accepted as f64
    );
    assert_eq!(
        sample(&text, "ppsd_pulse_offset_seconds_bucket{le=\"+Inf\"} "),
        accepted as f64
    );
    assert_eq!(
        sample(&text, "ppsd_pulses_accepted_total "),
        accepted as f64
    );
    assert_eq!(sample(&text, "ppsd_sync_state{state=\"INSYNC\"} "), 1.0);
    let jitter = sample(&text, "ppsd_pulse_interval_jitter_seconds_count ");
    assert!(jitter > 0.0 && jitter < accepted as f64);
    promtool_check(&text);
}

#[test]
fn no_allocation_per_pulse_after_warm_up() {
    let mut rig = Rig::new();
    rig.handle(at(S / 4), &Input::Tod(TodSample::default()));
    for k in 0..100 {
        rig.second(k, noise(k), false);
    }
    let before = rig.metrics.counters().pulses_accepted;
    let info = allocation_counter::measure(|| {
        for k in 100..1_100 {
            rig.second(k, noise(k), false);
        }
    });
    assert_eq!(rig.metrics.counters().pulses_accepted - before, 1_000);
    assert_eq!(info.count_total, 0, "allocations on the pulse path");
    let heap = rig.metrics.heap_bytes();
    assert!(heap < 2 << 20, "histograms hold {heap} bytes");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Cumulative derived counts versus exact ones: at a negative bound at least as many (a
    /// negative sample may move farther below zero), at a bound ≥ 0 at most as many (a
    /// positive one may move farther above), and equal for samples under 2 µs in magnitude.
    #[test]
    fn buckets_err_away_from_zero(xs in proptest::collection::vec(
        prop_oneof![-2_047i64..2_048, -3_000_000_000i64..3_000_000_000, any::<i64>()], 1..200)) {
        let mut h = SignedHist::new();
        for &x in &xs {
            h.record(x);
        }
        let mut b = [0u64; BOUNDS_NS.len() + 1];
        h.add_buckets(&mut b);
        prop_assert_eq!(b.iter().sum::<u64>(), xs.len() as u64);
        prop_assert_eq!(h.sum_ns(), xs.iter().map(|&x| i128::from(x)).sum::<i128>());
        let small = xs.iter().all(|x| x.unsigned_abs() < 2_048);
        let mut cum = 0;
        for (i, &bound) in BOUNDS_NS.iter().enumerate() {
            cum += b[i];
            let exact = xs.iter().filter(|&&x| x <= bound).count() as u64;
            if small {
                prop_assert_eq!(cum, exact, "bound {}", bound);
            } else if bound < 0 {
                prop_assert!(cum >= exact, "bound {}: {} < {}", bound, cum, exact);
            } else {
                prop_assert!(cum <= exact, "bound {}: {} > {}", bound, cum, exact);
            }
        }
    }
}
