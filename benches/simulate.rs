//! Simulation speed: one simulated day of the clean-lab scenario with each servo, and one
//! engine pulse (measure → filter → servo → trust) on its own with each servo.
//!
//! Run with `cargo bench --bench simulate`. Criterion reports wall time per iteration; a day
//! per iteration under 1 s means at least one simulated day per wall second.

use criterion::Criterion;
use ppsd::engine::{servo, Action, Engine, EngineConfig, Input, Stamp};
use ppsd::io::PpsFetch;
use ppsd::sim::{run, scenario};
use ppsd::time::Timestamp;
use std::hint::black_box;
use std::path::Path;

fn one_day(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/clean-lab.toml");
    let mut sc = scenario::load(&path).expect("clean-lab scenario");
    sc.duration_s = 86_400;
    let mut group = c.benchmark_group("simulate");
    group.sample_size(10);
    for name in servo::SERVO_NAMES {
        group.bench_function(format!("clean_lab_one_day_{name}"), |b| {
            b.iter(|| {
                let servo = servo::by_name(name).expect("servo");
                black_box(run::run(&sc, servo, None).expect("run"))
            })
        });
    }
    group.finish();
}

fn one_pulse(c: &mut Criterion, name: &str) {
    let mut engine = Engine::new(
        EngineConfig::default(),
        servo::by_name(name).expect("servo"),
    );
    let mut out: Vec<Action> = Vec::with_capacity(32);
    let mut k: i64 = 0;
    let epoch = 1_767_225_600;
    c.bench_function(&format!("engine_pulse_{name}"), |b| {
        b.iter(|| {
            k += 1;
            out.clear();
            let at = Stamp {
                mono_ns: k * 1_000_000_000 + 10_000_000,
                real: Timestamp::new(epoch + k, 10_000_000),
            };
            let fetch = PpsFetch {
                assert: Timestamp::new(epoch + k, (k % 7) * 50),
                assert_seq: k as u32,
                ..PpsFetch::default()
            };
            engine.handle(at, &Input::Pulse(fetch), &mut out);
            black_box(out.len())
        })
    });
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    one_day(&mut c);
    for name in servo::SERVO_NAMES {
        one_pulse(&mut c, name);
    }
    c.final_summary();
}
