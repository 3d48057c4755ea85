//! The Kalman servo restarts a wrong model instead of locking ppsd out (the bad start the
//! real-kernel test found): `scenarios/bad-start.toml` over seeds 1–20, and a sweep of bad
//! starts (the first 3–6 pulses captured up to ±10…50 µs off, ±20 or 50 ppm oscillators), each
//! of which must reach INSYNC without a false INSYNC or a bound violation. Prints its figures.

use ppsd::engine::servo;
use ppsd::sim::report::Report;
use ppsd::sim::run;
use ppsd::sim::scenario::{self, Scenario};
use rand::{Rng, SeedableRng};
use std::path::Path;

fn run(sc: &Scenario) -> Report {
    run::run(sc, servo::by_name("kalman").unwrap(), None).unwrap()
}

#[test]
fn the_bad_start_scenario_reaches_insync_on_every_seed() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/bad-start.toml");
    let base = scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    for seed in 1..=20 {
        let mut sc = base.clone();
        sc.seed = seed;
        let r = run(&sc);
        println!(
            "bad-start seed {seed}: insync_s {} rejected {} converge_100ns {:?} s",
            r.insync_s, r.pulses_rejected, r.converge_100ns_s
        );
        assert_eq!(
            (r.false_insync_s, r.bound_violation_s),
            (0, 0),
            "seed {seed}"
        );
        // INSYNC within three minutes of the start (at most 120 pulses set aside, then the
        // good pulses the trust engine asks for) and from then on.
        assert!(
            r.insync_s >= r.duration_s - 180,
            "seed {seed}: INSYNC only {} s of {}",
            r.insync_s,
            r.duration_s
        );
        assert!(
            r.pulses_rejected <= 130,
            "seed {seed}: {}",
            r.pulses_rejected
        );
    }
}

/// A bad start: `early` (second, ns) displaces the first pulses.
fn bad_start(freq_ppm: f64, offset_ns: i64, accuracy_ns: i64, early: &[(i64, i64)]) -> Scenario {
    let mut text = format!(
        "duration_s = 1500\n[clock]\ninitial_offset_ns = {offset_ns}\nfreq_ppm = {freq_ppm}\n\
         wander_ppb_per_sqrt_s = 1.0\n[pps]\njitter_ns = 100.0\n[trust]\n\
         declared_accuracy_ns = {accuracy_ns}\n"
    );
    for (t, ns) in early {
        text.push_str(&format!(
            "[[fault]]\nkind = \"pps_offset\"\nstart_s = {}.5\nduration_s = 1\noffset_ns = {ns}\n",
            t - 1
        ));
    }
    scenario::parse("bad-start-sweep.toml", &text).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_sweep_of_bad_starts_all_reach_insync() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let mut latest = 0;
    for trial in 0..40u64 {
        let amp: i64 = [10_000, 20_000, 30_000, 50_000][rng.gen_range(0..4)];
        let n = rng.gen_range(3..=6);
        let early: Vec<(i64, i64)> = (1..=n).map(|t| (t, rng.gen_range(-amp..=amp))).collect();
        let freq = [20.0, -20.0, 50.0][rng.gen_range(0..3)];
        let offset = [0, 200_000, 5_000_000][rng.gen_range(0..3)];
        let accuracy = [1_000_000, 100_000][rng.gen_range(0..2)];
        let mut sc = bad_start(freq, offset, accuracy, &early);
        sc.seed = trial + 1;
        let r = run(&sc);
        assert_eq!(
            (r.false_insync_s, r.bound_violation_s),
            (0, 0),
            "trial {trial}: {early:?}"
        );
        let late = r.duration_s - r.insync_s;
        assert!(
            late <= 180,
            "trial {trial} ({freq} ppm, {offset} ns, {early:?}): INSYNC only {} s",
            r.insync_s
        );
        latest = latest.max(late);
    }
    println!("40 bad starts: all INSYNC, the latest {latest} s after the start");
}
