//! The event log: every [`EngineEvent`] (state changes with the last trusted time, steps,
//! frequency resets, pulses lost, regained and rejected, pulse-train moves, foreign clock
//! changes, reference checks, leap seconds) as one structured `tracing` record, written to
//! standard error as text (`key=value`) or one JSON object per line.
//!
//! Journald-friendly: no colours, and no timestamp of our own when standard error is the
//! journal (`JOURNAL_STREAM` set), since journald stamps each line itself. The level can be
//! changed while running (SIGHUP). This module formats and writes; it never decides anything
//! and never touches a clock. Events are rare (not one per pulse), so formatting here may
//! allocate.

use std::sync::atomic::{AtomicU8, Ordering};

use tracing::{info, warn};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::config::{LogFormat, LogLevel};
use crate::engine::filter::RejectReason;
use crate::engine::servo::PulseShift;
use crate::engine::verify::Dissent;
use crate::engine::{EngineEvent, ForeignChange, Leap};
use crate::time::Timestamp;

static LEVEL: AtomicU8 = AtomicU8::new(2);

fn level_code(l: LogLevel) -> u8 {
    match l {
        LogLevel::Error => 0,
        LogLevel::Warn => 1,
        LogLevel::Info => 2,
        LogLevel::Debug => 3,
        LogLevel::Trace => 4,
    }
}

fn enabled(l: &tracing::Level) -> bool {
    let code = match *l {
        tracing::Level::ERROR => 0,
        tracing::Level::WARN => 1,
        tracing::Level::INFO => 2,
        tracing::Level::DEBUG => 3,
        tracing::Level::TRACE => 4,
    };
    code <= LEVEL.load(Ordering::Relaxed)
}

/// Installs the global log writer. A second call changes only the level.
pub fn init(format: LogFormat, level: LogLevel) {
    set_level(level);
    let journal = std::env::var_os("JOURNAL_STREAM").is_some();
    let filter = filter_fn(|meta| enabled(meta.level()));
    let base = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false);
    let layer = match (format, journal) {
        (LogFormat::Json, _) => base.json().flatten_event(true).boxed(),
        (LogFormat::Text, true) => base.without_time().boxed(),
        (LogFormat::Text, false) => base.boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init();
}

/// Changes the level of every later record.
pub fn set_level(level: LogLevel) {
    LEVEL.store(level_code(level), Ordering::Relaxed);
}

/// A CLOCK_REALTIME instant as RFC 3339 UTC with nanoseconds.
pub fn utc_ns(t: Timestamp) -> String {
    let day = crate::engine::leap::utc_string(t.sec());
    match day.strip_suffix('Z') {
        Some(s) => format!("{s}.{:09}Z", t.nsec()),
        None => day,
    }
}

fn leap_name(l: Leap) -> &'static str {
    match l {
        Leap::None => "none",
        Leap::Insert => "insert",
        Leap::Delete => "delete",
    }
}

/// Writes `e` to the log, naming a reference by `names[index]` (the configured references in
/// order) where the event concerns one.
pub fn event_named(e: &EngineEvent, names: &[String]) {
    match *e {
        EngineEvent::ReferenceDissents(d) => {
            dissent(d, names.get(usize::from(d.source)).map(String::as_str))
        }
        _ => event(e),
    }
}

fn dissent(d: Dissent, name: Option<&str>) {
    let index = format!("reference[{}]", d.source);
    let source = name.unwrap_or(&index);
    let (seconds, residual_ns) = (d.seconds, d.residual_ns);
    if seconds != 0 {
        warn!(
            event = "reference_dissents",
            source, seconds, residual_ns, "{source} disagrees with the pulses by {seconds} s"
        );
    } else {
        warn!(
            event = "reference_dissents",
            source,
            seconds,
            residual_ns,
            "{source} is {} ms from the pulse-derived time, past the tolerance",
            residual_ns / 1_000_000
        );
    }
}

/// Writes `e` to the log.
pub fn event(e: &EngineEvent) {
    match *e {
        EngineEvent::ReferenceDissents(d) => dissent(d, None),
        EngineEvent::VerificationLapsed { since_ns } => {
            warn!(
                event = "verification_lapsed",
                since_ns,
                "seconds not re-verified for {} s: references unreachable or too few agree; \
                 the pulses keep the numbering verified then",
                since_ns / 1_000_000_000
            )
        }
        EngineEvent::StateChanged {
            from,
            to,
            bound_ns,
            last_trusted,
        } => {
            let last = last_trusted.map_or_else(|| "never".to_string(), utc_ns);
            let bound = if bound_ns == i64::MAX { -1 } else { bound_ns };
            info!(event = "state_changed", from = from.as_str(), to = to.as_str(),
                bound_ns = bound, last_trusted = %last,
                "sync state {} -> {}", from.as_str(), to.as_str());
        }
        EngineEvent::Stepped { delta_ns, reason } => {
            warn!(event = "step", delta_ns, reason = ?reason, "clock stepped by {delta_ns} ns");
        }
        EngineEvent::FrequencyReset { freq_ppb } => {
            info!(
                event = "frequency_reset",
                freq_ppb, "servo restarts from {freq_ppb:.3} ppb"
            );
        }
        EngineEvent::PulseLost { last_pulse } => {
            warn!(event = "pulse_lost", last_pulse = %utc_ns(last_pulse),
                "pulses lost: holdover");
        }
        EngineEvent::PulseRegained { gap_ns } => {
            info!(
                event = "pulse_regained",
                gap_ns,
                "pulses back after {} ms",
                gap_ns / 1_000_000
            );
        }
        EngineEvent::PulseRejected { seq, reason } => rejected(seq, reason),
        EngineEvent::PulseTrainShift(shift) => match shift {
            PulseShift::Suspected(ns) => {
                warn!(
                    event = "pulse_train_suspected",
                    offset_ns = ns,
                    "pulse train moved?"
                )
            }
            PulseShift::Cleared => info!(event = "pulse_train_cleared", "pulse train back"),
            PulseShift::Accepted(ns) => {
                warn!(
                    event = "pulse_train_accepted",
                    offset_ns = ns,
                    "moved pulse train followed"
                )
            }
        },
        EngineEvent::ForeignChange(change) => foreign(change),
        EngineEvent::ReferenceAgrees => {
            info!(
                event = "reference_agrees",
                "time-of-day reference agrees on the second"
            )
        }
        EngineEvent::ReferenceDisagrees { seconds } => {
            warn!(
                event = "reference_disagrees",
                seconds, "time-of-day reference disagrees by {seconds} s (0: past the tolerance)"
            )
        }
        EngineEvent::LeapScheduled(l) => {
            info!(
                event = "leap_scheduled",
                leap = leap_name(l),
                "leap second armed for midnight"
            )
        }
        EngineEvent::UntrustedBegan(b) => {
            warn!(event = "untrusted_began", reason = ?b.reason, state = b.state.as_str(),
                last_trusted = %utc_ns(b.start), "untrusted interval begins ({:?})", b.reason);
        }
        EngineEvent::UntrustedEnded(i) => {
            info!(event = "untrusted_ended", reason = ?i.reason,
                start = %utc_ns(i.start), end = %utc_ns(i.end), duration_ns = i.duration_ns,
                worst_state = i.worst_state.as_str(), worst_bound_ns = i.worst_bound_ns,
                "untrusted interval over after {} ms", i.duration_ns / 1_000_000);
        }
        EngineEvent::LeapApplied(l) => {
            info!(
                event = "leap_applied",
                leap = leap_name(l),
                "leap second applied"
            )
        }
        EngineEvent::LeapArmed { .. }
        | EngineEvent::LeapDisarmed { .. }
        | EngineEvent::LeapVerified { .. }
        | EngineEvent::LeapNotApplied { .. }
        | EngineEvent::LeapDisagreement { .. }
        | EngineEvent::LeapReadingSkipped { .. }
        | EngineEvent::TaiSet { .. }
        | EngineEvent::LeapSource(_) => super::leaplog::event(e),
    }
}

fn rejected(seq: u32, reason: RejectReason) {
    let (why, ns) = match reason {
        RejectReason::Interval { deviation_ns } => ("interval", deviation_ns),
        RejectReason::ExtraEvents { seconds, .. } => ("extra_events", seconds),
        RejectReason::Outlier { offset_ns } => ("outlier", offset_ns),
        RejectReason::MovedTrain { offset_ns } => ("moved_train", offset_ns),
    };
    info!(
        event = "pulse_rejected",
        seq,
        reason = why,
        value = ns,
        "pulse {seq} rejected: {why}"
    );
}

fn foreign(change: ForeignChange) {
    match change {
        ForeignChange::Step => {
            warn!(
                event = "foreign_change",
                what = "step",
                "CLOCK_REALTIME set by someone else"
            )
        }
        ForeignChange::SteppedBy { delta_ns } => {
            warn!(
                event = "foreign_change",
                what = "step",
                delta_ns,
                "CLOCK_REALTIME set by someone else, by {delta_ns} ns"
            )
        }
        ForeignChange::Frequency { expected, found } => {
            warn!(
                event = "foreign_change",
                what = "frequency",
                expected = expected.0,
                found = found.0,
                "kernel frequency changed by someone else"
            )
        }
        ForeignChange::Tick {
            expected_us,
            found_us,
        } => warn!(
            event = "foreign_change",
            what = "tick",
            expected_us,
            found_us,
            "kernel tick changed by someone else"
        ),
        ForeignChange::KernelDiscipline {
            status_bits,
            offset,
        } => warn!(
            event = "foreign_change",
            what = "kernel_discipline",
            status_bits,
            offset,
            "kernel discipline enabled by someone else"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_with_nanoseconds() {
        assert_eq!(
            utc_ns(Timestamp::new(1_767_225_600, 5)),
            "2026-01-01T00:00:00.000000005Z"
        );
    }

    #[test]
    fn a_dissent_is_logged_with_the_reference_name() {
        use std::sync::{Arc, Mutex};
        let buf = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .without_time()
            .with_writer(move || Writer(sink.clone()))
            .finish();
        let e = EngineEvent::ReferenceDissents(Dissent {
            source: 1,
            seconds: -1,
            residual_ns: 2_000_000,
        });
        let names = ["nts:a.example".to_string(), "ntp:192.0.2.1:123".to_string()];
        tracing::subscriber::with_default(subscriber, || {
            event_named(&e, &names);
            event_named(&e, &names[..1]);
        });
        let text = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
        assert!(
            text.contains("ntp:192.0.2.1:123 disagrees with the pulses by -1 s"),
            "{text}"
        );
        assert!(text.contains("event=\"reference_dissents\""), "{text}");
        assert!(text.contains("residual_ns=2000000"), "{text}");
        assert!(
            text.contains("reference[1] disagrees"),
            "unknown index: {text}"
        );
    }

    struct Writer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Writer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn level_filter_follows_set_level() {
        set_level(LogLevel::Warn);
        assert!(enabled(&tracing::Level::WARN));
        assert!(!enabled(&tracing::Level::INFO));
        set_level(LogLevel::Debug);
        assert!(enabled(&tracing::Level::DEBUG));
        assert!(!enabled(&tracing::Level::TRACE));
        set_level(LogLevel::Info);
    }
}
