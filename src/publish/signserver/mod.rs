//! The SignServer publisher: tells SignServer's StatusRepository, through its
//! StatusPropertiesWorker, whether the clock may be trusted, as SignServer's TimeMonitor does,
//! so a time-stamp signer using `StatusReadingLocalComputerTimeSource` stops issuing tokens
//! when ppsd says so (or stops saying so).
//!
//! This file is the pure part: from a [`Snapshot`] of what the loop published and the
//! configuration it builds the properties text and the form body ([`Composer`]); [`props`]
//! holds the two formats; [`worker`] is the thread that sends them (`tls` its TLS setup). The
//! rules, after TimeMonitor:
//! - INSYNC or SOON_OUT_OF_SYNC: `<insync>.VALUE=true` with `EXPIRATION` the earlier of the
//!   state's `valid_until` (on CLOCK_REALTIME, ms, rounded down) and now + `status_expire_ms`;
//!   anything else, or a state whose validity has run out: `false` with `EXPIRATION=0`.
//! - `<leap>.VALUE` with `EXPIRATION` now + `leap_expire_ms`, omitted when the leap state is
//!   UNKNOWN (SignServer would read UNKNOWN as NONE; an absent value lets the signer's own
//!   policy, PAUSE or STOP, apply). A change from POSITIVE/NEGATIVE to NONE between 23:59
//!   and 00:01 UTC is held back one round.
//! - `TIMEMONITOR_STATE.VALUE`: the `/state` line, its first field the time the expiration
//!   was computed; `TIMEMONITOR_LOG.VALUE`: the last ≤ 10 event lines, only when they changed.
//!
//! Never reads a clock (the time comes in), never does I/O, and never says `true` for a state
//! the engine did not publish as INSYNC/SOON_OUT_OF_SYNC or whose validity has ended.

use std::sync::Arc;

use crate::engine::{EngineEvent, LeapState, SyncState};
use crate::time::Timestamp;

pub mod props;
mod tls;
pub mod worker;

/// Event lines kept for `TIMEMONITOR_LOG`.
pub const LOG_LINES: usize = 10;
/// SignServer's status property for the monitor's state line.
pub const STATE_PROPERTY: &str = "TIMEMONITOR_STATE";
/// SignServer's status property for the monitor's recent log.
pub const LOG_PROPERTY: &str = "TIMEMONITOR_LOG";

/// What the update says and how long it holds (from `[signserver]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The StatusPropertiesWorker's name (`workerName`).
    pub worker_name: String,
    /// The sync status property (`TIMESOURCE0_INSYNC`).
    pub insync_property: String,
    /// The leap status property (`LEAPSECOND`).
    pub leap_property: String,
    /// Longest validity given to `true`, ms.
    pub status_expire_ms: i64,
    /// Validity given to the leap state, ms.
    pub leap_expire_ms: i64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            worker_name: "StatusPropertiesWorker".into(),
            insync_property: "TIMESOURCE0_INSYNC".into(),
            leap_property: "LEAPSECOND".into(),
            status_expire_ms: 900,
            leap_expire_ms: 60_000,
        }
    }
}

/// What the loop published, as the worker needs it. Times are on the disciplined clock
/// (CLOCK_REALTIME) with the host's CLOCK_MONOTONIC of the same instant, so the worker can
/// tell the current REALTIME from a monotonic read alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The published sync state.
    pub state: SyncState,
    /// The published leap state (as in the shm record).
    pub leap: LeapState,
    /// CLOCK_REALTIME at `host_mono_ns`.
    pub real: Timestamp,
    /// The host's CLOCK_MONOTONIC at the same instant, ns.
    pub host_mono_ns: i64,
    /// The end of the state's validity on CLOCK_REALTIME.
    pub valid_until_real: Timestamp,
    /// The `/state` line, without its newline.
    pub state_line: String,
    /// The last ≤ [`LOG_LINES`] event lines, oldest first.
    pub log: Arc<[String]>,
    /// Event lines seen so far (tells a changed log).
    pub log_seq: u64,
}

impl Snapshot {
    /// CLOCK_REALTIME at host monotonic `host_mono_ns`, carried over from the snapshot.
    pub fn real_at(&self, host_mono_ns: i64) -> Timestamp {
        self.real
            .add_ns(host_mono_ns.saturating_sub(self.host_mono_ns))
    }
}

/// One composed update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update {
    /// The properties text (ISO-8859-1 bytes).
    pub data: Vec<u8>,
    /// The form body.
    pub body: String,
    /// The sync value sent.
    pub insync: bool,
    /// Its expiration, ms since the epoch (0 with `false`).
    pub expiration_ms: i64,
    /// The leap value sent, if any.
    pub leap: Option<LeapState>,
    /// Whether `TIMEMONITOR_LOG` was included.
    pub with_log: bool,
}

/// Builds updates; remembers what it sent for the leap hold and the log.
#[derive(Clone, Debug)]
pub struct Composer {
    settings: Settings,
    /// Leap value of the last update, and whether it was a held one.
    last_leap: Option<(LeapState, bool)>,
    /// `log_seq` of the last log sent.
    log_sent: Option<u64>,
}

/// Whole ms since the epoch, rounded down.
pub fn unix_ms(t: Timestamp) -> i64 {
    t.sec()
        .saturating_mul(1_000)
        .saturating_add(i64::from(t.nsec() / 1_000_000))
}

/// The name SignServer knows a leap state by.
pub fn leap_str(l: LeapState) -> &'static str {
    match l {
        LeapState::None => "NONE",
        LeapState::Positive => "POSITIVE",
        LeapState::Negative => "NEGATIVE",
        LeapState::Unknown => "UNKNOWN",
    }
}

/// One event as a log line: UTC time, then what happened (the event log's wording).
pub fn event_line(at: Timestamp, e: &EngineEvent) -> String {
    use crate::publish::log::utc_ns;
    let what = match e {
        EngineEvent::StateChanged {
            from,
            to,
            last_trusted,
            ..
        } => format!(
            "sync state {} -> {}, last trusted {}",
            from.as_str(),
            to.as_str(),
            last_trusted.map_or_else(|| "never".into(), utc_ns)
        ),
        EngineEvent::Stepped { delta_ns, reason } => {
            format!("clock stepped by {delta_ns} ns ({reason:?})")
        }
        EngineEvent::FrequencyReset { freq_ppb } => {
            format!("servo restarts from {freq_ppb:.3} ppb")
        }
        EngineEvent::PulseLost { last_pulse } => {
            format!("pulses lost after {}: holdover", utc_ns(*last_pulse))
        }
        EngineEvent::PulseRegained { gap_ns } => {
            format!("pulses back after {} ms", gap_ns / 1_000_000)
        }
        EngineEvent::PulseRejected { seq, reason } => format!("pulse {seq} rejected: {reason:?}"),
        EngineEvent::PulseTrainShift(s) => format!("pulse train: {s:?}"),
        EngineEvent::ForeignChange(c) => format!("clock changed by someone else: {c:?}"),
        EngineEvent::ReferenceAgrees => "time-of-day reference agrees on the second".into(),
        EngineEvent::ReferenceDisagrees { seconds } => {
            format!("time-of-day reference disagrees by {seconds} s")
        }
        EngineEvent::ReferenceDissents(d) => format!(
            "time-of-day reference {} dissents by {} s {} ns",
            d.source, d.seconds, d.residual_ns
        ),
        EngineEvent::VerificationLapsed { since_ns } => format!(
            "second verification not renewed for {} s",
            since_ns / 1_000_000_000
        ),
        EngineEvent::LeapScheduled(l) => format!("leap second armed for midnight ({l:?})"),
        EngineEvent::UntrustedBegan(b) => format!(
            "untrusted interval begins ({:?}), last trusted {}",
            b.reason,
            utc_ns(b.start)
        ),
        EngineEvent::UntrustedEnded(i) => format!(
            "untrusted interval over after {} ms ({:?})",
            i.duration_ns / 1_000_000,
            i.reason
        ),
        EngineEvent::LeapApplied(l) => format!("leap second applied ({l:?})"),
        EngineEvent::LeapArmed {
            leap,
            at_utc_s,
            source,
        } => format!(
            "leap second armed in the kernel ({leap:?} at {}, from {source:?})",
            utc_ns(Timestamp::new(*at_utc_s, 0))
        ),
        EngineEvent::LeapDisarmed { leap, at_utc_s } => format!(
            "leap second disarmed ({leap:?} at {}): no longer announced",
            utc_ns(Timestamp::new(*at_utc_s, 0))
        ),
        EngineEvent::LeapVerified {
            leap, as_expected, ..
        } => format!(
            "kernel leap states after the leap second ({leap:?}): {}",
            if *as_expected {
                "as expected"
            } else {
                "unexpected"
            }
        ),
        EngineEvent::LeapNotApplied { leap, at_utc_s, .. } => format!(
            "the kernel did not apply the leap second ({leap:?} at {})",
            utc_ns(Timestamp::new(*at_utc_s, 0))
        ),
        EngineEvent::LeapDisagreement {
            reference, list, ..
        } => format!("a reference announces {reference:?}, the leap list {list:?}"),
        EngineEvent::LeapSource(src) => format!("leap state now from {src:?}"),
        EngineEvent::LeapReadingSkipped { source, .. } => {
            format!("time-of-day reading of reference {source} at a leap's midnight not judged")
        }
        EngineEvent::TaiSet { from_s, to_s } => {
            format!("kernel TAI offset set from {from_s} s to {to_s} s (leap-seconds list)")
        }
    };
    format!("{} {what}", utc_ns(at))
}

/// True from 23:59:00 to 00:01:00 UTC (the leap second itself included).
fn near_midnight(t: Timestamp) -> bool {
    let s = t.sec().rem_euclid(86_400);
    !(60..86_340).contains(&s)
}

impl Composer {
    /// A composer that has sent nothing yet.
    pub fn new(settings: Settings) -> Composer {
        Composer {
            settings,
            last_leap: None,
            log_sent: None,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The update for `snap` at CLOCK_REALTIME `now`. Call once per update actually sent:
    /// the leap hold and the log depend on what the previous call returned.
    pub fn compose(&mut self, snap: &Snapshot, now: Timestamp) -> Update {
        let leap = self.leap_to_send(snap.leap, now);
        let s = &self.settings;
        let now_ms = unix_ms(now);
        let until_ms = unix_ms(snap.valid_until_real);
        let trusted = matches!(snap.state, SyncState::InSync | SyncState::SoonOutOfSync);
        let expiration_ms = until_ms.min(now_ms.saturating_add(s.status_expire_ms));
        let (insync, expiration_ms) = if trusted && expiration_ms > now_ms {
            (true, expiration_ms)
        } else {
            (false, 0)
        };
        let mut data = Vec::with_capacity(512);
        let key = |p: &str, what: &str| format!("{p}.{what}");
        props::line(
            &key(&s.insync_property, "VALUE"),
            if insync { "true" } else { "false" },
            &mut data,
        );
        props::line(
            &key(&s.insync_property, "EXPIRATION"),
            &expiration_ms.to_string(),
            &mut data,
        );
        if let Some(l) = leap {
            props::line(&key(&s.leap_property, "VALUE"), leap_str(l), &mut data);
            let until = now_ms.saturating_add(s.leap_expire_ms);
            props::line(
                &key(&s.leap_property, "EXPIRATION"),
                &until.to_string(),
                &mut data,
            );
        }
        let line = match snap.state_line.split_once(',') {
            Some((_, rest)) => format!("{now_ms},{rest}"),
            None => snap.state_line.clone(),
        };
        props::line(&key(STATE_PROPERTY, "VALUE"), &line, &mut data);
        let with_log = !snap.log.is_empty() && self.log_sent != Some(snap.log_seq);
        if with_log {
            props::line(&key(LOG_PROPERTY, "VALUE"), &snap.log.join("\n"), &mut data);
        }
        let mut body = String::with_capacity(data.len() * 2);
        props::form(&s.worker_name, &data, &mut body);
        if with_log {
            self.log_sent = Some(snap.log_seq);
        }
        Update {
            data,
            body,
            insync,
            expiration_ms,
            leap,
            with_log,
        }
    }

    /// The leap value to send for `current` at `now`; records it.
    fn leap_to_send(&mut self, current: LeapState, now: Timestamp) -> Option<LeapState> {
        let sent = match (self.last_leap, current) {
            (_, LeapState::Unknown) => None,
            (
                Some((prev @ (LeapState::Positive | LeapState::Negative), false)),
                LeapState::None,
            ) if near_midnight(now) => {
                self.last_leap = Some((prev, true));
                return Some(prev);
            }
            (_, l) => Some(l),
        };
        self.last_leap = sent.map(|l| (l, false));
        sent
    }

    /// Forgets the log sent, so the next update carries it again (after a failed send).
    pub fn resend_log(&mut self) {
        self.log_sent = None;
    }
}

#[cfg(test)]
mod tests;
