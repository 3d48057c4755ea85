use super::*;
use crate::engine::Leap;

const S: i64 = NANOS_PER_SEC;
const EPOCH: i64 = 1_767_225_600;

fn at(t_ns: i64) -> Stamp {
    Stamp {
        mono_ns: 1_000 * S + t_ns,
        real: Timestamp::new(EPOCH, t_ns),
    }
}

/// A state published at `t_ns` after a pulse stamped `pulse_ns` measured `offset_ns`.
fn publish(m: &mut Metrics, t_ns: i64, pulse_ns: Option<i64>, offset_ns: i64, state: SyncState) {
    let a = at(t_ns);
    let ts = TrustState {
        state,
        leap: LeapState::None,
        bound_ns: 500,
        offset_ns,
        freq_ppb: 1_500.0,
        last_pulse: pulse_ns.map(|p| Timestamp::new(EPOCH, p)),
        updated_mono_ns: a.mono_ns,
        valid_until_mono_ns: a.mono_ns + 3 * S / 2,
        ..TrustState::default()
    };
    m.on_action(a, &Action::Publish(ts));
}

fn event(m: &mut Metrics, t_ns: i64, e: EngineEvent) {
    m.on_action(at(t_ns), &Action::Event(e));
}

#[test]
fn renewals_do_not_count_as_pulses() {
    let mut m = Metrics::new(MetricsConfig::default());
    for k in 0..10 {
        let pulse = k * S + 7;
        publish(&mut m, pulse + S / 100, Some(pulse), 7, SyncState::InSync);
        publish(&mut m, pulse + S / 2, Some(pulse), 7, SyncState::InSync);
    }
    assert_eq!(m.counters().pulses_accepted, 10);
    assert_eq!(m.offsets().total().count(), 10);
    assert_eq!(m.offsets().total().sum_ns(), 70);
    assert_eq!(m.jitter().total().count(), 9);
    assert_eq!(m.jitter().total().sum_ns(), 0);
    assert_eq!(m.fetch_delay_ns(), Some(S / 100));
    // Last pulse at 9 s + 7 ns on the realtime clock, handled 10 ms later.
    assert_eq!(m.last_pulse_age_ns(at(10 * S).mono_ns), Some(S - 7));
}

#[test]
fn steps_losses_and_missed_seconds_break_the_interval() {
    let mut m = Metrics::new(MetricsConfig::default());
    publish(&mut m, 0, Some(0), 0, SyncState::Unknown);
    publish(&mut m, S, Some(S + 30), 30, SyncState::Unknown);
    event(
        &mut m,
        S,
        EngineEvent::Stepped {
            delta_ns: -30,
            reason: StepReason::Phase,
        },
    );
    publish(&mut m, 2 * S, Some(2 * S), 0, SyncState::Unknown);
    event(
        &mut m,
        3 * S,
        EngineEvent::PulseLost {
            last_pulse: Timestamp::new(EPOCH, 2 * S),
        },
    );
    publish(&mut m, 3 * S, Some(3 * S), 0, SyncState::Unknown);
    publish(&mut m, 5 * S, Some(5 * S - 40), 0, SyncState::Unknown);
    assert_eq!(m.counters().pulses_accepted, 5);
    assert_eq!(m.jitter().total().count(), 1, "only 0 s → 1 s is measured");
    assert_eq!(m.jitter().total().sum_ns(), 30);
    assert_eq!(m.counters().steps, [1, 0]);
    assert_eq!(m.counters().pulses_lost, 1);
}

#[test]
fn events_are_counted_by_label() {
    let mut m = Metrics::new(MetricsConfig::default());
    let events = [
        EngineEvent::PulseRejected {
            seq: 3,
            reason: RejectReason::Outlier { offset_ns: 9 },
        },
        EngineEvent::PulseRejected {
            seq: 4,
            reason: RejectReason::ExtraEvents {
                seq_delta: 2,
                seconds: 1,
            },
        },
        EngineEvent::ForeignChange(ForeignChange::Tick {
            expected_us: 10_000,
            found_us: 10_001,
        }),
        EngineEvent::StateChanged {
            from: SyncState::InSync,
            to: SyncState::OutOfSync,
            bound_ns: 9,
            last_trusted: None,
        },
        EngineEvent::PulseTrainShift(PulseShift::Accepted(5)),
        EngineEvent::ReferenceDisagrees { seconds: 1 },
        EngineEvent::LeapScheduled(Leap::Insert),
        EngineEvent::FrequencyReset { freq_ppb: 1.0 },
    ];
    for e in events {
        event(&mut m, 0, e);
    }
    let c = m.counters();
    assert_eq!(c.pulses_rejected, [0, 1, 1, 0]);
    assert_eq!(c.foreign_changes, [0, 0, 1, 0]);
    assert_eq!(c.state_changes, [0, 0, 1, 0]);
    assert_eq!(c.train_shifts, [0, 0, 1]);
    assert_eq!(c.reference_checks, [0, 1]);
    assert_eq!(c.leap_events, [1, 0]);
    assert_eq!(c.frequency_resets, 1);
}

#[test]
fn an_expired_state_reads_unknown() {
    let mut m = Metrics::new(MetricsConfig::default());
    assert_eq!(m.effective_state(0), SyncState::Unknown);
    publish(&mut m, 0, Some(0), 0, SyncState::InSync);
    assert_eq!(m.effective_state(at(S).mono_ns), SyncState::InSync);
    assert_eq!(m.effective_state(at(2 * S).mono_ns), SyncState::Unknown);
    assert_eq!(m.last_trusted(), Some(at(0).real));
}

#[test]
fn the_loop_leap_state_wins_over_the_engine() {
    let mut m = Metrics::new(MetricsConfig::default());
    assert_eq!(m.leap(), LeapState::Unknown);
    publish(&mut m, 0, None, 0, SyncState::Unknown);
    assert_eq!(m.leap(), LeapState::None);
    m.set_leap(LeapState::Unknown, Some(37));
    assert_eq!(m.leap(), LeapState::Unknown);
    assert_eq!(m.tai_offset_s(), Some(37));
}

fn sample(text: &str, line_start: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.starts_with(line_start))
        .unwrap_or_else(|| panic!("no sample {line_start:?} in:\n{text}"));
    let v = line.rsplit(' ').next().unwrap();
    match v {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        _ => v.parse().unwrap(),
    }
}

#[test]
fn exposition_has_every_family_with_consistent_histograms() {
    let mut m = Metrics::new(MetricsConfig::default());
    for (k, off) in [-1_500_i64, -20, 0, 15, 15, 250_000].iter().enumerate() {
        let k = k as i64;
        publish(
            &mut m,
            k * S + 1_000,
            Some(k * S + off),
            *off,
            SyncState::InSync,
        );
    }
    m.set_leap(LeapState::Positive, Some(37));
    let mut out = String::new();
    m.encode(at(6 * S), &mut out);
    assert_eq!(sample(&out, "ppsd_pulses_accepted_total "), 6.0);
    assert_eq!(sample(&out, "ppsd_pulse_offset_seconds_count "), 6.0);
    assert_eq!(sample(&out, "ppsd_pulse_offset_recent_seconds_count "), 6.0);
    assert_eq!(
        sample(&out, "ppsd_pulse_offset_seconds_bucket{le=\"+Inf\"} "),
        6.0
    );
    assert_eq!(
        sample(&out, "ppsd_pulse_offset_seconds_bucket{le=\"-1e-06\"} "),
        1.0
    );
    assert_eq!(
        sample(&out, "ppsd_pulse_offset_seconds_bucket{le=\"0\"} "),
        3.0
    );
    assert_eq!(
        sample(&out, "ppsd_pulse_offset_seconds_bucket{le=\"2e-08\"} "),
        5.0
    );
    let sum = sample(&out, "ppsd_pulse_offset_seconds_sum ");
    assert!((sum - 248_510e-9).abs() < 1e-15, "{sum}");
    assert_eq!(
        sample(&out, "ppsd_pulse_interval_jitter_seconds_count "),
        5.0
    );
    assert_eq!(sample(&out, "ppsd_sync_state{state=\"INSYNC\"} "), 1.0);
    assert_eq!(sample(&out, "ppsd_sync_state{state=\"UNKNOWN\"} "), 0.0);
    assert_eq!(sample(&out, "ppsd_leap_state{state=\"POSITIVE\"} "), 1.0);
    assert_eq!(sample(&out, "ppsd_tai_offset_seconds "), 37.0);
    assert_eq!(sample(&out, "ppsd_error_bound_seconds "), 500e-9);
    assert_eq!(sample(&out, "ppsd_frequency_adjustment_ratio "), 1.5e-6);
    assert_eq!(sample(&out, "ppsd_offset_seconds "), 250e-6);
    assert_eq!(
        sample(&out, "ppsd_pulses_rejected_total{reason=\"outlier\"} "),
        0.0
    );
    // Expired: the gauge says UNKNOWN, the validity is negative.
    out.clear();
    m.encode(at(60 * S), &mut out);
    assert_eq!(sample(&out, "ppsd_sync_state{state=\"UNKNOWN\"} "), 1.0);
    assert!(sample(&out, "ppsd_state_valid_seconds ") < 0.0);
}

#[test]
fn before_anything_the_exposition_is_fail_closed() {
    let m = Metrics::new(MetricsConfig::default());
    let mut out = String::new();
    m.encode(at(0), &mut out);
    assert_eq!(sample(&out, "ppsd_sync_state{state=\"UNKNOWN\"} "), 1.0);
    assert_eq!(sample(&out, "ppsd_error_bound_seconds "), f64::INFINITY);
    assert_eq!(sample(&out, "ppsd_last_pulse_age_seconds "), f64::INFINITY);
    assert!(
        !out.contains("ppsd_tai_offset_seconds"),
        "unknown TAI is left out"
    );
}
