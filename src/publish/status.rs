//! The `/status` JSON: the whole published state with what explains it (servo, sources,
//! counters, timings), for `ppsd status`, dashboards and people with `curl`.
//!
//! Units are in the field names (`_ns`, `_ppb`, `_s`); instants are given as RFC 3339 UTC with
//! nanoseconds and as integer seconds and nanoseconds, never as a float. `state` is what a
//! signer sees now (UNKNOWN before the first state and once the published one has expired);
//! `published_state` is what the engine last said. Pure formatting: no clock reads, no I/O.

use serde_json::{json, Map, Value};

use super::metrics::{labels, Metrics};
use crate::engine::servo::ServoState;
use crate::engine::Stamp;
use crate::time::Timestamp;

/// What `/status` shows besides the metrics: things the loop knows.
#[derive(Clone, Copy, Debug)]
pub struct StatusInfo<'a> {
    /// The servo's name (`kalman`, `pi`).
    pub servo: &'a str,
    /// The servo's lock state now.
    pub servo_state: ServoState,
    /// The pulse source (`/dev/pps0`, `sim:clean-lab`).
    pub pulse_source: &'a str,
    /// The time-of-day reference.
    pub reference: &'a str,
    /// Configuration identifier (as in `/state`).
    pub config_version: u32,
    /// The reference whose reading was handed to the engine last ("" for none): what
    /// `leap_reference` names when the leap state comes from a reference.
    pub leap_reference: &'a str,
}

/// The name of a servo state.
pub fn servo_state_str(s: ServoState) -> &'static str {
    match s {
        ServoState::Unlocked => "UNLOCKED",
        ServoState::Jump => "JUMP",
        ServoState::Locked => "LOCKED",
        ServoState::LockedStable => "LOCKED_STABLE",
    }
}

/// An instant as RFC 3339 UTC with nanoseconds (`2026-01-01T00:00:00.000000001Z`).
pub fn utc_ns(t: Timestamp) -> String {
    let day = crate::engine::leap::utc_string(t.sec());
    match day.strip_suffix('Z') {
        Some(s) => format!("{s}.{:09}Z", t.nsec()),
        None => day,
    }
}

fn instant(t: Timestamp) -> Value {
    json!({ "utc": utc_ns(t), "sec": t.sec(), "nsec": t.nsec() })
}

fn by_label<const N: usize>(names: [&str; N], counts: &[u64; N]) -> Value {
    let map: Map<String, Value> = names
        .iter()
        .zip(counts)
        .map(|(k, v)| ((*k).to_string(), json!(v)))
        .collect();
    Value::Object(map)
}

fn counters(m: &Metrics) -> Value {
    let c = m.counters();
    json!({
        "pulses_accepted": c.pulses_accepted,
        "pulses_rejected": by_label(labels::REJECT, &c.pulses_rejected),
        "pulses_lost": c.pulses_lost,
        "steps": by_label(labels::STEP, &c.steps),
        "foreign_changes": by_label(labels::FOREIGN, &c.foreign_changes),
        "state_changes": by_label(labels::SYNC, &c.state_changes),
        "frequency_resets": c.frequency_resets,
        "pulse_train_shifts": by_label(labels::SHIFT, &c.train_shifts),
        "reference_checks": by_label(labels::REFERENCE, &c.reference_checks),
        "leap_events": by_label(labels::LEAP_EVENT, &c.leap_events),
        "publish_failures": c.publish_failures,
    })
}

/// The `/status` document for what `m` holds at `now` (on the engine's clocks).
pub fn status(m: &Metrics, now: Stamp, info: &StatusInfo) -> Value {
    let ts = m.published();
    let bound = ts.and_then(|t| (t.bound_ns != i64::MAX).then_some(t.bound_ns));
    let last_pulse = ts.and_then(|t| t.last_pulse).map(|p| {
        let mut v = instant(p);
        v["age_ns"] = json!(m.last_pulse_age_ns(now.mono_ns));
        v
    });
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "pid": std::process::id(),
        "state": m.effective_state(now.mono_ns).as_str(),
        "published_state": ts.map(|t| t.state.as_str()),
        "expired": m.expired(now.mono_ns),
        "leap": leap_str(m),
        "leap_source": ts.map(|t| t.leap_view.source.as_str()),
        "leap_reference": ts
            .filter(|t| t.leap_view.source == crate::engine::LeapSource::Reference)
            .map(|_| info.leap_reference)
            .filter(|r| !r.is_empty()),
        "tai_offset_s": m.tai_offset_s(),
        "error_bound_ns": bound,
        "declared_accuracy_ns": m.config().declared_accuracy_ns,
        "offset_ns": ts.map(|t| t.offset_ns),
        "frequency_ppb": ts.map(|t| t.freq_ppb).filter(|f| f.is_finite()),
        "last_pulse": last_pulse,
        "pulse_fetch_delay_ns": m.fetch_delay_ns(),
        "last_trusted": m.last_trusted().map(instant),
        "updated_age_ns": ts.map(|t| now.mono_ns.saturating_sub(t.updated_mono_ns)),
        "valid_for_ns": ts.map(|t| t.valid_until_mono_ns.saturating_sub(now.mono_ns)),
        "now": instant(now.real),
        "running_ns": m.first_mono_ns().map(|t| now.mono_ns.saturating_sub(t)),
        "servo": { "name": info.servo, "state": servo_state_str(info.servo_state) },
        "pulse_source": info.pulse_source,
        "reference": info.reference,
        "config_version": format!("{:08x}", info.config_version),
        "signserver": m.signserver().map(|r| json!({
            "report": r.state.as_str(),
            "report_ns": r.took_ns,
            "attempts": r.attempts,
            "failures": r.failures,
        })),
        "counters": counters(m),
        "samples": {
            "offsets_since_start": m.offsets().total().count(),
            "offsets_recent": m.offsets().recent().1,
            "intervals_since_start": m.jitter().total().count(),
        },
    })
}

fn leap_str(m: &Metrics) -> &'static str {
    match m.leap() {
        crate::engine::LeapState::None => "NONE",
        crate::engine::LeapState::Positive => "POSITIVE",
        crate::engine::LeapState::Negative => "NEGATIVE",
        crate::engine::LeapState::Unknown => "UNKNOWN",
    }
}

/// Appends the `/status` document, pretty-printed, with a final newline.
pub fn render(m: &Metrics, now: Stamp, info: &StatusInfo, out: &mut String) {
    // A `Value` always serialises.
    if let Ok(s) = serde_json::to_string_pretty(&status(m, now, info)) {
        out.push_str(&s);
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Action, EngineEvent, SyncState, TrustState};
    use crate::publish::metrics::MetricsConfig;

    const S: i64 = 1_000_000_000;
    const EPOCH: i64 = 1_767_225_600;

    fn at(t_ns: i64) -> Stamp {
        Stamp {
            mono_ns: 7 * S + t_ns,
            real: Timestamp::new(EPOCH, t_ns),
        }
    }

    fn info() -> StatusInfo<'static> {
        StatusInfo {
            servo: "kalman",
            servo_state: ServoState::LockedStable,
            pulse_source: "/dev/pps0",
            reference: "nts:ptbtime1.ptb.de",
            config_version: 0xbeef,
            leap_reference: "nts:ptbtime1.ptb.de",
        }
    }

    #[test]
    fn insync_document() {
        let mut m = Metrics::new(MetricsConfig::default());
        let ts = TrustState {
            state: SyncState::InSync,
            bound_ns: 321,
            offset_ns: -12,
            freq_ppb: 2_500.5,
            last_pulse: Some(Timestamp::new(EPOCH, 5)),
            updated_mono_ns: at(10_000_000).mono_ns,
            valid_until_mono_ns: at(1_510_000_000).mono_ns,
            leap_view: crate::engine::LeapView {
                source: crate::engine::LeapSource::File,
                ..Default::default()
            },
            ..TrustState::default()
        };
        m.on_action(at(10_000_000), &Action::Publish(ts));
        m.set_leap(crate::engine::LeapState::None, Some(37));
        let v = status(&m, at(500_000_000), &info());
        assert_eq!(v["state"], "INSYNC");
        assert_eq!(v["expired"], false);
        assert_eq!(v["error_bound_ns"], 321);
        assert_eq!(v["offset_ns"], -12);
        assert_eq!(v["tai_offset_s"], 37);
        assert_eq!(v["leap_source"], "file");
        assert_eq!(
            v["leap_reference"],
            Value::Null,
            "named only for a reference"
        );
        let mut by_ref = ts;
        by_ref.leap_view.source = crate::engine::LeapSource::Reference;
        m.on_action(at(20_000_000), &Action::Publish(by_ref));
        let v = status(&m, at(500_000_000), &info());
        assert_eq!(
            (&v["leap_source"], &v["leap_reference"]),
            (&json!("reference"), &json!("nts:ptbtime1.ptb.de"))
        );
        assert_eq!(v["last_pulse"]["utc"], "2026-01-01T00:00:00.000000005Z");
        assert_eq!(v["last_pulse"]["age_ns"], 500_000_000 - 5);
        assert_eq!(v["last_trusted"]["sec"], EPOCH);
        assert_eq!(v["servo"]["state"], "LOCKED_STABLE");
        assert_eq!(v["config_version"], "0000beef");
        assert_eq!(v["counters"]["pulses_accepted"], 1);
        assert_eq!(v["counters"]["pulses_rejected"]["outlier"], 0);
        assert_eq!(v["valid_for_ns"], 1_010_000_000);
    }

    #[test]
    fn expired_and_empty_documents_fail_closed() {
        let mut m = Metrics::new(MetricsConfig::default());
        let v = status(&m, at(0), &info());
        assert_eq!(v["state"], "UNKNOWN");
        assert_eq!(v["published_state"], Value::Null);
        assert_eq!(v["leap_source"], Value::Null);
        assert_eq!(v["error_bound_ns"], Value::Null);
        let ts = TrustState {
            state: SyncState::InSync,
            bound_ns: i64::MAX,
            valid_until_mono_ns: at(S).mono_ns,
            ..TrustState::default()
        };
        m.on_action(at(0), &Action::Publish(ts));
        m.on_action(
            at(0),
            &Action::Event(EngineEvent::FrequencyReset { freq_ppb: 0.0 }),
        );
        let v = status(&m, at(2 * S), &info());
        assert_eq!(v["state"], "UNKNOWN");
        assert_eq!(v["published_state"], "INSYNC");
        assert_eq!(v["expired"], true);
        assert_eq!(v["error_bound_ns"], Value::Null, "no bound is not a number");
        assert_eq!(v["counters"]["frequency_resets"], 1);
        let mut text = String::new();
        render(&m, at(2 * S), &info(), &mut text);
        assert!(text.ends_with("}\n"));
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["state"], "UNKNOWN");
    }
}
