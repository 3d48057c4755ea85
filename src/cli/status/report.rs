//! What `ppsd status` shows: the verdict and record read from the shm with ppsd-shm, merged with
//! the daemon's `/status` document when it answered, as aligned `Name : value` text (the layout
//! `chronyc tracking` users know) or as one JSON object with stable snake_case keys
//! (docs/status.md).
//!
//! Pure formatting: no I/O and no clock reads (the caller passes its CLOCK_MONOTONIC reading).
//! It must never show a state more trusting than the reader's verdict: an expired, closed or
//! unreadable record shows as UNKNOWN whatever it last said.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;

use ppsd_shm::{LeapState, Reason, Snapshot, State, SyncState, Verdict};
use serde_json::{json, Value};

/// What became of the question to the daemon's `/status`.
#[derive(Clone, Debug)]
pub enum Daemon {
    /// No address was known, or asking was turned off; the text says why.
    NotAsked(String),
    /// The address did not give a usable answer.
    Unreachable {
        /// The address asked.
        addr: SocketAddr,
        /// What went wrong, one line.
        error: String,
    },
    /// The daemon answered with its `/status` document.
    Answered {
        /// The address asked.
        addr: SocketAddr,
        /// The document.
        doc: Value,
    },
}

/// Everything `ppsd status` prints.
#[derive(Debug)]
pub struct Report<'a> {
    /// The record's path.
    pub shm: &'a Path,
    /// The reader's verdict.
    pub verdict: Verdict,
    /// A full copy of the record, or why it could not be copied.
    pub snapshot: Result<Snapshot, Reason>,
    /// The reader's CLOCK_MONOTONIC when the record was read, ns.
    pub now_mono_ns: i64,
    /// The daemon's `/status`, if asked.
    pub daemon: Daemon,
}

/// The state a signer effectively sees: the published one while the record is live, UNKNOWN
/// when it has expired, was closed, cannot be read consistently or cannot be judged.
pub fn effective_state(v: &Verdict) -> SyncState {
    match v.reason {
        None
        | Some(Reason::OutOfSync)
        | Some(Reason::Unknown)
        | Some(Reason::InLeapWindow)
        | Some(Reason::LeapUnknown) => v.state,
        Some(_) => SyncState::Unknown,
    }
}

/// `chronyc tracking`'s words for a leap state.
fn leap_words(l: LeapState) -> &'static str {
    match l {
        LeapState::None => "Normal",
        LeapState::Positive => "Insert second",
        LeapState::Negative => "Delete second",
        LeapState::Unknown => "Unknown",
    }
}

/// `|ns|` as seconds with nine decimals, in integer arithmetic.
fn seconds(ns: i64) -> String {
    let a = ns.unsigned_abs();
    format!("{}.{:09}", a / 1_000_000_000, a % 1_000_000_000)
}

/// A duration in ns as `1d 02:03:04` (days only when there are any).
fn uptime(ns: i64) -> String {
    let s = ns.max(0) / 1_000_000_000;
    let (d, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d}d {h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

/// The realtime ns of the record as an RFC 3339 UTC instant with nanoseconds.
fn utc_ns(ns: i64) -> String {
    crate::publish::status::utc_ns(crate::time::Timestamp::from_ns(ns))
}

impl Report<'_> {
    /// The record's state when it is readable and not closed.
    fn live(&self) -> Option<&State> {
        self.snapshot
            .as_ref()
            .ok()
            .filter(|s| !s.writer_closed)
            .map(|s| &s.state)
    }

    fn doc(&self) -> Option<&Value> {
        match &self.daemon {
            Daemon::Answered { doc, .. } => Some(doc),
            _ => None,
        }
    }

    /// A string from `/status`, else the record's (possibly truncated) identifier.
    fn ident(&self, key: &str, shm: impl Fn(&State) -> String) -> Option<String> {
        self.doc()
            .and_then(|d| d[key].as_str())
            .map(str::to_string)
            .or_else(|| self.live().map(shm))
            .filter(|s| !s.is_empty())
    }

    fn bound_ns(&self) -> Option<u64> {
        self.live()
            .map(|s| s.error_bound_ns)
            .filter(|&b| b <= i64::MAX as u64)
    }

    fn updated_age_ms(&self) -> Option<i64> {
        self.live()
            .filter(|s| s.updated_at_mono_ns > 0)
            .map(|s| (self.now_mono_ns - s.updated_at_mono_ns) / 1_000_000)
    }

    fn valid_for_ms(&self) -> Option<i64> {
        self.live()
            .filter(|s| s.valid_until_mono_ns > 0)
            .map(|s| (s.valid_until_mono_ns - self.now_mono_ns) / 1_000_000)
    }

    /// The JSON object of `ppsd status --json` (keys in docs/status.md).
    pub fn to_json(&self) -> Value {
        let v = &self.verdict;
        let st = self.live();
        let snap = self.snapshot.as_ref().ok();
        let (http, daemon_error) = match &self.daemon {
            Daemon::NotAsked(why) => (None, Some(why.clone())),
            Daemon::Unreachable { addr, error } => (Some(addr.to_string()), Some(error.clone())),
            Daemon::Answered { addr, .. } => (Some(addr.to_string()), None),
        };
        json!({
            "shm": self.shm.display().to_string(),
            "state": effective_state(v).name(),
            "published_state": v.state.name(),
            "may_sign": v.may_sign,
            "reason": v.reason.map(Reason::describe),
            "reason_code": v.reason.map(|r| r as u32),
            "error_bound_ns": self.bound_ns(),
            "declared_accuracy_ns": st.map(|s| s.declared_accuracy_ns),
            "offset_ns": st.map(|s| s.offset_ns),
            "frequency_ppm": st.map(|s| s.frequency_offset_ppt as f64 / 1e6),
            "leap": v.leap.name(),
            "tai_offset_s": st.map(|s| s.tai_offset_s).filter(|&t| t != 0),
            "next_leap_utc": st
                .map(|s| s.next_leap_utc_s)
                .filter(|&t| t != 0)
                .map(crate::engine::leap::utc_string),
            "last_pulse_utc": st
                .map(|s| s.last_pulse_realtime_ns)
                .filter(|&t| t != 0)
                .map(utc_ns),
            "pulse_source": self.ident("pulse_source", |s| s.pulse_source_id.as_string()),
            "reference": self.ident("reference", |s| s.time_of_day_ref_id.as_string()),
            "updated_age_ms": self.updated_age_ms(),
            "valid_for_ms": self.valid_for_ms(),
            "writer_pid": snap.map(|s| s.writer_pid),
            "writer_generation": snap.map(|s| s.writer_generation),
            "closed": snap.is_some_and(|s| s.writer_closed),
            "record_error": self.snapshot.as_ref().err().map(|r| r.describe()),
            "http": http,
            "daemon_error": daemon_error,
            "daemon": self.doc(),
        })
    }

    /// The text of `ppsd status`: aligned `Name : value` lines.
    pub fn to_text(&self) -> String {
        let mut lines: Vec<(&str, String)> = Vec::new();
        let v = &self.verdict;
        let doc = self.doc();
        let pulses = self.ident("pulse_source", |s| s.pulse_source_id.as_string());
        let reference = self.ident("reference", |s| s.time_of_day_ref_id.as_string());
        if let (Some(p), Some(r)) = (&pulses, &reference) {
            lines.push(("Reference ID", format!("{p} (pulses), seconds from {r}")));
        }
        lines.push((
            "Verdict",
            match v.reason {
                None => "may sign".to_string(),
                Some(r) => format!("may not sign: {}", r.describe()),
            },
        ));
        let state = effective_state(v);
        lines.push((
            "State",
            if state == v.state {
                state.name().to_string()
            } else {
                format!("{} (record says {})", state.name(), v.state.name())
            },
        ));
        if let Some(st) = self.live() {
            self.state_lines(st, doc, &mut lines);
        }
        match &self.snapshot {
            Ok(s) if s.writer_closed => lines.push((
                "Writer",
                format!(
                    "pid {}, generation {}, closed (the daemon stopped)",
                    s.writer_pid, s.writer_generation
                ),
            )),
            Ok(s) => lines.push((
                "Writer",
                format!("pid {}, generation {}", s.writer_pid, s.writer_generation),
            )),
            Err(r) => lines.push(("Record", format!("unreadable: {}", r.describe()))),
        }
        lines.push(("Record file", self.shm.display().to_string()));
        lines.push((
            "Daemon /status",
            match &self.daemon {
                Daemon::NotAsked(why) => format!("not asked ({why})"),
                Daemon::Unreachable { addr, error } => {
                    format!("not reachable at {addr} ({error}); shown: the record only")
                }
                Daemon::Answered { addr, .. } => format!("from {addr}"),
            },
        ));
        let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (k, val) in lines {
            let _ = writeln!(out, "{k:<width$} : {val}");
        }
        out
    }

    /// The lines only a live record has, with what `/status` adds.
    fn state_lines(&self, st: &State, doc: Option<&Value>, lines: &mut Vec<(&str, String)>) {
        let bound = match self.bound_ns() {
            Some(b) => format!("{b} ns"),
            None => "none".to_string(),
        };
        lines.push((
            "Error bound",
            format!("{bound} (declared accuracy {} ns)", st.declared_accuracy_ns),
        ));
        lines.push((
            "System time",
            format!(
                "{} seconds {} of PPS",
                seconds(st.offset_ns),
                if st.offset_ns > 0 { "fast" } else { "slow" }
            ),
        ));
        let ppm = st.frequency_offset_ppt as f64 / 1e6;
        lines.push((
            "Frequency",
            format!(
                "{:.3} ppm {}",
                ppm.abs(),
                if ppm > 0.0 { "fast" } else { "slow" }
            ),
        ));
        let age = doc
            .and_then(|d| d["last_pulse"]["age_ns"].as_i64())
            .map(|a| format!(" ({} s ago)", seconds(a)));
        if st.last_pulse_realtime_ns != 0 {
            lines.push((
                "Last pulse",
                format!(
                    "{}{}",
                    utc_ns(st.last_pulse_realtime_ns),
                    age.unwrap_or_default()
                ),
            ));
        } else {
            lines.push(("Last pulse", "none yet".to_string()));
        }
        let next = match (self.verdict.leap, st.next_leap_utc_s) {
            (LeapState::Positive | LeapState::Negative, t) if t != 0 => {
                format!(" at {}", crate::engine::leap::utc_string(t))
            }
            _ => String::new(),
        };
        lines.push((
            "Leap status",
            format!("{}{next}", leap_words(self.verdict.leap)),
        ));
        lines.push((
            "TAI-UTC",
            match st.tai_offset_s {
                0 => "unknown".to_string(),
                t => format!("{t} s"),
            },
        ));
        if let Some(d) = doc {
            if let (Some(name), Some(state)) =
                (d["servo"]["name"].as_str(), d["servo"]["state"].as_str())
            {
                lines.push(("Servo", format!("{name}, {state}")));
            }
            if let Some(ns) = d["running_ns"].as_i64() {
                lines.push(("Uptime", uptime(ns)));
            }
            let c = &d["counters"];
            if let Some(acc) = c["pulses_accepted"].as_u64() {
                let rejected: u64 = c["pulses_rejected"]
                    .as_object()
                    .map(|m| m.values().filter_map(Value::as_u64).sum())
                    .unwrap_or(0);
                let lost = c["pulses_lost"].as_u64().unwrap_or(0);
                lines.push((
                    "Pulses",
                    format!(
                        "{acc} accepted, {rejected} rejected, {lost} {}",
                        if lost == 1 { "outage" } else { "outages" }
                    ),
                ));
            }
        }
        lines.push((
            "Update age",
            match (self.updated_age_ms(), self.valid_for_ms()) {
                (Some(a), Some(f)) if f >= 0 => format!("{a} ms (valid for {f} ms more)"),
                (Some(a), Some(f)) => format!("{a} ms (expired {} ms ago)", -f),
                (Some(a), None) => format!("{a} ms"),
                (None, _) => "never updated".to_string(),
            },
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ppsd_shm::Ident;

    fn state() -> State {
        State {
            sync: SyncState::InSync,
            leap: LeapState::Positive,
            error_bound_ns: 1_943,
            declared_accuracy_ns: 1_000_000,
            offset_ns: -171,
            frequency_offset_ppt: 49_910_123,
            last_pulse_realtime_ns: 1_767_225_600_000_000_123,
            updated_at_mono_ns: 10_000_000_000,
            valid_until_mono_ns: 11_500_000_000,
            tai_offset_s: 37,
            next_leap_utc_s: 1_782_864_000,
            leap_window: None,
            pulse_source_id: Ident::new("/dev/pps0").unwrap(),
            time_of_day_ref_id: Ident::new("nts:ptb").unwrap(),
        }
    }

    fn report(st: State, closed: bool, daemon: Daemon) -> Report<'static> {
        Report {
            shm: Path::new("/run/ppsd/state"),
            verdict: Verdict {
                may_sign: true,
                state: st.sync,
                leap: st.leap,
                error_bound_ns: st.error_bound_ns,
                reason: None,
            },
            snapshot: Ok(Snapshot {
                seq: 2,
                retries: 0,
                writer_pid: 42,
                writer_generation: 3,
                writer_closed: closed,
                state: st,
            }),
            now_mono_ns: 10_250_000_000,
            daemon,
        }
    }

    fn addr() -> SocketAddr {
        "127.0.0.1:9123".parse().unwrap()
    }

    #[test]
    fn text_lines_are_aligned_and_signed_in_words() {
        let doc = json!({
            "pulse_source": "/dev/pps0 (gps0, full name)",
            "reference": "nts:ptbtime1.ptb.de",
            "servo": {"name": "kalman", "state": "LOCKED_STABLE"},
            "running_ns": 90_061_000_000_000_i64,
            "last_pulse": {"age_ns": 412_000_000},
            "counters": {"pulses_accepted": 10, "pulses_rejected": {"outlier": 2, "early": 1}, "pulses_lost": 4},
        });
        let r = report(state(), false, Daemon::Answered { addr: addr(), doc });
        let text = r.to_text();
        let want = [
            "Reference ID   : /dev/pps0 (gps0, full name) (pulses), seconds from nts:ptbtime1.ptb.de",
            "Verdict        : may sign",
            "State          : INSYNC",
            "Error bound    : 1943 ns (declared accuracy 1000000 ns)",
            "System time    : 0.000000171 seconds slow of PPS",
            "Frequency      : 49.910 ppm fast",
            "Last pulse     : 2026-01-01T00:00:00.000000123Z (0.412000000 s ago)",
            "Leap status    : Insert second at 2026-07-01T00:00:00Z",
            "TAI-UTC        : 37 s",
            "Servo          : kalman, LOCKED_STABLE",
            "Uptime         : 1d 01:01:01",
            "Pulses         : 10 accepted, 3 rejected, 4 outages",
            "Update age     : 250 ms (valid for 1250 ms more)",
            "Writer         : pid 42, generation 3",
            "Record file    : /run/ppsd/state",
            "Daemon /status : from 127.0.0.1:9123",
        ];
        assert_eq!(text.lines().collect::<Vec<_>>(), want, "{text}");
    }

    #[test]
    fn json_keys_from_the_record_and_the_daemon() {
        let doc = json!({"pulse_source": "/dev/pps0", "reference": "nts:x", "running_ns": 5});
        let v = report(state(), false, Daemon::Answered { addr: addr(), doc }).to_json();
        assert_eq!(v["state"], "INSYNC");
        assert_eq!(v["may_sign"], true);
        assert_eq!(v["reason"], Value::Null);
        assert_eq!(v["error_bound_ns"], 1943);
        assert_eq!(v["offset_ns"], -171);
        assert!((v["frequency_ppm"].as_f64().unwrap() - 49.910_123).abs() < 1e-9);
        assert_eq!(v["leap"], "POSITIVE");
        assert_eq!(v["tai_offset_s"], 37);
        assert_eq!(v["next_leap_utc"], "2026-07-01T00:00:00Z");
        assert_eq!(v["last_pulse_utc"], "2026-01-01T00:00:00.000000123Z");
        assert_eq!(v["reference"], "nts:x");
        assert_eq!(v["updated_age_ms"], 250);
        assert_eq!(v["valid_for_ms"], 1250);
        assert_eq!(v["writer_pid"], 42);
        assert_eq!(v["closed"], false);
        assert_eq!(v["http"], "127.0.0.1:9123");
        assert_eq!(v["daemon_error"], Value::Null);
        assert_eq!(v["daemon"]["running_ns"], 5);
    }

    #[test]
    fn a_closed_or_expired_record_is_unknown_and_says_nothing_more() {
        let mut r = report(state(), true, Daemon::NotAsked("no address".into()));
        r.verdict.may_sign = false;
        r.verdict.reason = Some(Reason::WriterGone);
        let v = r.to_json();
        assert_eq!(v["state"], "UNKNOWN");
        assert_eq!(v["published_state"], "INSYNC");
        assert_eq!(v["closed"], true);
        assert_eq!(v["reason_code"], 5);
        for k in [
            "error_bound_ns",
            "offset_ns",
            "frequency_ppm",
            "daemon",
            "http",
        ] {
            assert_eq!(v[k], Value::Null, "{k}");
        }
        assert_eq!(v["daemon_error"], "no address");
        let text = r.to_text();
        assert!(
            text.contains("State          : UNKNOWN (record says INSYNC)"),
            "{text}"
        );
        assert!(text.contains("closed (the daemon stopped)"), "{text}");
        assert!(!text.contains("Error bound"), "{text}");

        let mut r = report(state(), false, Daemon::NotAsked("off".into()));
        r.verdict.may_sign = false;
        r.verdict.reason = Some(Reason::Expired);
        r.now_mono_ns = 12_000_000_000;
        assert_eq!(r.to_json()["state"], "UNKNOWN");
        assert!(r.to_text().contains("(expired 500 ms ago)"));
    }

    #[test]
    fn an_unreadable_record_and_an_unreachable_daemon_are_said() {
        let mut r = report(
            state(),
            false,
            Daemon::Unreachable {
                addr: addr(),
                error: "connect: Connection refused".into(),
            },
        );
        r.snapshot = Err(Reason::Checksum);
        r.verdict = Verdict::refused(Reason::Checksum);
        let v = r.to_json();
        assert_eq!(v["state"], "UNKNOWN");
        assert_eq!(v["record_error"], "record checksum mismatch");
        assert_eq!(v["writer_pid"], Value::Null);
        assert_eq!(v["daemon_error"], "connect: Connection refused");
        let text = r.to_text();
        assert!(text.contains("Record         : unreadable: record checksum mismatch"));
        assert!(text.contains("not reachable at 127.0.0.1:9123 (connect: Connection refused)"));
    }

    #[test]
    fn no_bound_and_positive_offset() {
        let mut st = state();
        st.error_bound_ns = u64::MAX;
        st.offset_ns = 1_500_000_001;
        st.frequency_offset_ppt = -2_000_000;
        st.leap = LeapState::None;
        let r = report(st, false, Daemon::NotAsked("x".into()));
        assert_eq!(r.to_json()["error_bound_ns"], Value::Null);
        let text = r.to_text();
        assert!(text.contains(": none (declared"), "{text}");
        assert!(text.contains(": 1.500000001 seconds fast of PPS"), "{text}");
        assert!(text.contains(": 2.000 ppm slow"), "{text}");
        assert!(!text.contains("Servo"), "no /status, no servo line");
    }
}
