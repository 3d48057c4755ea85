//! Tests of the loop: record identifiers, and no allocation once in sync.

use super::*;
use crate::config::{ReferenceKind, ReferenceSection};
use crate::daemon::sim_world::SimWorld;

const FAST_LAB: &str = include_str!("../../../tests/data/daemon/fast-lab.toml");

/// Steps the loop as `run` would (without waiting on the poller) until `until` returns
/// true or `limit` passes; true if it did.
fn drive<W: World>(d: &mut Daemon<W>, limit: Duration, until: impl Fn(&Daemon<W>) -> bool) -> bool {
    let end = host_now() + limit.as_nanos() as i64;
    while host_now() < end {
        if until(d) {
            return true;
        }
        let now = host_now();
        let next = d.next_deadline(now).min(end);
        if next > now {
            std::thread::sleep(Duration::from_nanos((next - now) as u64));
        }
        d.step(host_now());
    }
    until(d)
}

#[test]
fn the_loop_allocates_nothing_once_insync() {
    let dir = std::env::temp_dir().join(format!("ppsd-loop-alloc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sc = crate::sim::scenario::parse("fast-lab.toml", FAST_LAB).unwrap();
    let mut config = Config::default();
    config.trust.min_samples = 4;
    config.leap.file = PathBuf::new();
    let opts = Options {
        config,
        config_path: None,
        scenario: Some(sc.clone()),
        shm_path: dir.join("state"),
        lock_path: dir.join("lock"),
        ledger_path: dir.join("ledger.jsonl"),
    };
    let world = SimWorld::new(sc, host_now());
    let mut d = Daemon::new(world, opts, block_signals().unwrap()).unwrap();
    let insync = |d: &Daemon<SimWorld>| d.engine.published().state == SyncState::InSync;
    assert!(
        drive(&mut d, Duration::from_secs(30), insync),
        "INSYNC within 30 s"
    );
    drive(&mut d, Duration::from_secs(2), |_| false);
    let seq_before = d.published.map(|p| p.last_pulse);
    let info = allocation_counter::measure(|| {
        drive(&mut d, Duration::from_millis(3_200), |_| false);
    });
    assert!(insync(&d), "still INSYNC");
    assert_ne!(
        d.published.map(|p| p.last_pulse),
        seq_before,
        "pulses were taken"
    );
    assert_eq!(
        info.count_total, 0,
        "allocations in 3 s of pulses, ticks and readings"
    );
    let grown = allocation_counter::measure(|| {
        std::hint::black_box(vec![1u8]);
    });
    assert!(grown.count_total >= 1, "the counter counts");
    let mut reader = ppsd_shm::Reader::open(dir.join("state")).unwrap();
    assert!(reader.check().may_sign);
    drop(d);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn record_identifiers_come_from_the_config_or_the_sources() {
    let mut cfg = Config::default();
    let id = identity(&cfg, None);
    assert_eq!(id.pulse_source_id.as_string(), "pps:/dev/pps0");
    assert_eq!(id.reference_id.as_string(), "");
    assert_eq!(
        (
            id.declared_accuracy_ns,
            id.leap_window_before_ns,
            id.leap_window_after_ns
        ),
        (100_000_000, 2_000_000_000, 1_000_000_000)
    );
    cfg.reference.push(ReferenceSection {
        kind: ReferenceKind::Nts,
        address: "time.example".into(),
        ..ReferenceSection::default()
    });
    assert_eq!(
        identity(&cfg, None).reference_id.as_string(),
        "nts:time.example"
    );
    let sim = identity(&cfg, Some("scenarios/clean-lab.toml"));
    assert_eq!(sim.pulse_source_id.as_string(), "sim:clean-lab");
    let built_in = identity(&cfg, Some("clean-lab.toml (built in)"));
    assert_eq!(built_in.pulse_source_id.as_string(), "sim:clean-lab");
    assert_eq!(sim.reference_id.as_string(), "sim:tod");
    cfg.shm.reference_id = "nts:ptb UTC(PTB)".into();
    assert_eq!(
        identity(&cfg, None).reference_id.as_string(),
        "nts:ptb UTC(PTB)"
    );
}

#[test]
fn a_lost_device_leaves_insync_at_once_and_the_loop_recovers_when_it_returns() {
    use crate::engine::Reason;
    use std::cell::{Cell, RefCell};
    let dir = std::env::temp_dir().join(format!("ppsd-loop-lost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sc = crate::sim::scenario::parse("fast-lab.toml", FAST_LAB).unwrap();
    let mut config = Config::default();
    config.trust.min_samples = 4;
    config.leap.file = PathBuf::new();
    let opts = Options {
        config,
        config_path: None,
        scenario: Some(sc.clone()),
        shm_path: dir.join("state"),
        lock_path: dir.join("lock"),
        ledger_path: dir.join("ledger.jsonl"),
    };
    let world = SimWorld::new(sc, host_now());
    let mut d = Daemon::new(world, opts, block_signals().unwrap()).unwrap();
    let state = |d: &Daemon<SimWorld>| {
        let p = d.engine.published();
        (p.state, p.reason)
    };
    let insync = |d: &Daemon<SimWorld>| state(d).0 == SyncState::InSync;
    assert!(
        drive(&mut d, Duration::from_secs(40), insync),
        "INSYNC within 40 s"
    );
    let mut reader = ppsd_shm::Reader::open(dir.join("state")).unwrap();
    assert!(reader.check().may_sign);
    // While INSYNC at the default 100 ms the next adjtimex read is planned on the margin
    // rule: about 0.5 × 100 ms / 22.55 % less the loop's lateness, under the 1 s ceiling.
    let (_, host) = d.poll_kernel();
    let every = d.next_kernel_poll - host;
    assert_eq!(every, d.engine.kernel_poll_interval_ns(LOOP_LATE_NS));
    assert!((210_000_000..222_000_000).contains(&every), "{every} ns");

    d.world.set_device_present(false);
    let lost = |d: &Daemon<SimWorld>| state(d) == (SyncState::OutOfSync, Reason::DeviceLost);
    assert!(
        drive(&mut d, Duration::from_secs(3), lost),
        "OUT_OF_SYNC (device_lost) at the next fetch"
    );
    assert!(!reader.check().may_sign, "signers are refused at once");
    // The loop runs on: renewals keep the record fresh and the reason stays.
    let renewed = d.engine.published().updated_mono_ns;
    drive(&mut d, Duration::from_secs(2), |_| false);
    assert_eq!(state(&d), (SyncState::OutOfSync, Reason::DeviceLost));
    assert!(d.engine.published().updated_mono_ns > renewed, "renewed");
    // Nothing is claimed: the reads between inputs fall back to the ceiling (1 s).
    let (_, host) = d.poll_kernel();
    assert_eq!(d.next_kernel_poll - host, 1_000_000_000);

    d.world.set_device_present(true);
    let pulses = Cell::new(0u32);
    let last = RefCell::new(d.engine.published().last_pulse);
    let back = |d: &Daemon<SimWorld>| {
        let p = d.engine.published().last_pulse;
        if p != *last.borrow() {
            pulses.set(pulses.get() + 1);
            *last.borrow_mut() = p;
        }
        insync(d)
    };
    assert!(
        drive(&mut d, Duration::from_secs(40), back),
        "INSYNC again once the device is back"
    );
    assert!(
        pulses.get() >= 10,
        "after recover_pulses good pulses, took {}",
        pulses.get()
    );
    assert!(reader.check().may_sign);
    drop(d);
    let _ = std::fs::remove_dir_all(&dir);
}
