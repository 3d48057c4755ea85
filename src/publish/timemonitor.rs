//! The `/state` line in the CSV form SignServer's TimeMonitor serves, so monitoring built for
//! TimeMonitor reads ppsd unchanged:
//! `updateMs,TIME,REPORT,LEAP,configVer,absOffsetMs,ntpQueryMs,leapQueryMs,reportMs`.
//!
//! What each field means here (ppsd measures against pulses, not by querying an NTP server):
//! - `updateMs`: CLOCK_REALTIME, ms since the Unix epoch, at which the state now in force was
//!   computed (and its expiry set).
//! - `TIME`: the sync state a signer sees now: UNKNOWN before the first state and once the
//!   published state has expired.
//! - `REPORT`: `FAILED_TO_REPORT` when no state was published, the loop's last publication
//!   failed, or the state has expired (nobody renewed it in time);
//!   `REPORTED_BUT_EXPIRE_TIME_SHORT` when the state is older than half its lifetime (renewal
//!   running late); `REPORTED` otherwise. With a SignServer publisher configured, its own
//!   result instead (see `publish::signserver`), as TimeMonitor's column reports its POSTs.
//! - `LEAP`: the published leap state.
//! - `configVer`: eight hex digits identifying the configuration in force.
//! - `absOffsetMs`: |offset| measured at the last accepted pulse, rounded up to whole ms (never
//!   understated: any nonzero offset shows as at least 1).
//! - `ntpQueryMs`: how long after its edge the last pulse was handled, ms rounded up (the time
//!   it took to obtain the measurement).
//! - `leapQueryMs`: always 0: ppsd holds the leap state itself and queries nothing for it.
//! - `reportMs`: how long the loop's last publication took, ms rounded up.
//!
//! Pure formatting: no clock reads (`now` comes in) and no I/O. It never shows INSYNC for a
//! state the engine did not publish or that has expired.

use std::fmt;

use super::metrics::Metrics;
use crate::engine::{LeapState, Stamp, SyncState};
use crate::time::Timestamp;

/// TimeMonitor's report state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportState {
    /// The state was published and is fresh.
    Reported,
    /// Published, but older than half its lifetime: renewal is late.
    ReportedButExpireTimeShort,
    /// Not published, publication failed, or expired.
    FailedToReport,
}

impl ReportState {
    /// The name in the CSV.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportState::Reported => "REPORTED",
            ReportState::ReportedButExpireTimeShort => "REPORTED_BUT_EXPIRE_TIME_SHORT",
            ReportState::FailedToReport => "FAILED_TO_REPORT",
        }
    }
}

fn leap_str(l: LeapState) -> &'static str {
    match l {
        LeapState::None => "NONE",
        LeapState::Positive => "POSITIVE",
        LeapState::Negative => "NEGATIVE",
        LeapState::Unknown => "UNKNOWN",
    }
}

/// Non-negative ns rounded up to whole ms.
fn ceil_ms(ns: i64) -> i64 {
    ns.max(0).div_euclid(1_000_000) + i64::from(ns.max(0).rem_euclid(1_000_000) != 0)
}

/// One `/state` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateLine {
    /// CLOCK_REALTIME ms at which the state in force was computed.
    pub update_ms: i64,
    /// Sync state.
    pub time: SyncState,
    /// Report state.
    pub report: ReportState,
    /// Leap state.
    pub leap: LeapState,
    /// Configuration identifier.
    pub config_version: u32,
    /// |offset|, ms rounded up.
    pub abs_offset_ms: i64,
    /// Measurement latency, ms rounded up.
    pub query_ms: i64,
    /// Leap query time, ms (0).
    pub leap_query_ms: i64,
    /// Publication time, ms rounded up.
    pub report_ms: i64,
}

impl StateLine {
    /// The line for what `m` holds at `now` (on the engine's clocks).
    pub fn new(m: &Metrics, now: Stamp, config_version: u32) -> StateLine {
        let published = m.published();
        let updated_real = published.map_or(now.real, |ts| {
            now.real
                .add_ns(-now.mono_ns.saturating_sub(ts.updated_mono_ns))
        });
        let (report_ok, report_ns) = m.last_report();
        let report = match published {
            None => ReportState::FailedToReport,
            Some(_) if !report_ok || m.expired(now.mono_ns) => ReportState::FailedToReport,
            Some(ts) => {
                let lifetime = ts.valid_until_mono_ns.saturating_sub(ts.updated_mono_ns);
                let age = now.mono_ns.saturating_sub(ts.updated_mono_ns);
                if age > lifetime / 2 {
                    ReportState::ReportedButExpireTimeShort
                } else {
                    ReportState::Reported
                }
            }
        };
        // With a SignServer publisher, REPORT is its result, as TimeMonitor's is.
        let (report, report_ns) = match m.signserver() {
            Some(r) => (r.state, r.took_ns),
            None => (report, report_ns),
        };
        StateLine {
            update_ms: unix_ms(updated_real),
            time: m.effective_state(now.mono_ns),
            report,
            leap: m.leap(),
            config_version,
            abs_offset_ms: ceil_ms(published.map_or(0, |ts| ts.offset_ns.saturating_abs())),
            query_ms: ceil_ms(m.fetch_delay_ns().unwrap_or(0)),
            leap_query_ms: 0,
            report_ms: ceil_ms(report_ns),
        }
    }
}

/// Whole ms since the Unix epoch (floor).
fn unix_ms(t: Timestamp) -> i64 {
    t.sec()
        .saturating_mul(1_000)
        .saturating_add(i64::from(t.nsec() / 1_000_000))
}

impl fmt::Display for StateLine {
    /// The CSV line, with its newline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{},{},{},{},{:08x},{},{},{},{}",
            self.update_ms,
            self.time.as_str(),
            self.report.as_str(),
            leap_str(self.leap),
            self.config_version,
            self.abs_offset_ms,
            self.query_ms,
            self.leap_query_ms,
            self.report_ms
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Action, TrustState};
    use crate::publish::metrics::MetricsConfig;

    const S: i64 = 1_000_000_000;
    const EPOCH: i64 = 1_409_050_686;

    fn at(t_ns: i64) -> Stamp {
        Stamp {
            mono_ns: 50 * S + t_ns,
            real: Timestamp::new(EPOCH, t_ns),
        }
    }

    fn published(offset_ns: i64, state: SyncState) -> Metrics {
        let mut m = Metrics::new(MetricsConfig::default());
        let ts = TrustState {
            state,
            offset_ns,
            bound_ns: 700,
            last_pulse: Some(Timestamp::new(EPOCH, 0)),
            updated_mono_ns: at(281_000_000).mono_ns,
            valid_until_mono_ns: at(281_000_000 + S).mono_ns,
            ..TrustState::default()
        };
        m.on_action(at(281_000_000), &Action::Publish(ts));
        m.on_report(true, 4_000);
        m
    }

    #[test]
    fn a_fresh_insync_state() {
        let m = published(-1_200, SyncState::InSync);
        let line = StateLine::new(&m, at(300_000_000), 0x1ccd_f46b).to_string();
        assert_eq!(
            line,
            "1409050686281,INSYNC,REPORTED,NONE,1ccdf46b,1,281,0,1\n"
        );
    }

    #[test]
    fn late_renewal_then_expiry() {
        let m = published(0, SyncState::InSync);
        let late = StateLine::new(&m, at(281_000_000 + 600_000_000), 7);
        assert_eq!(late.report, ReportState::ReportedButExpireTimeShort);
        assert_eq!(late.time, SyncState::InSync);
        assert_eq!(late.abs_offset_ms, 0);
        let gone = StateLine::new(&m, at(281_000_000 + S + 1), 7);
        assert_eq!(gone.report, ReportState::FailedToReport);
        assert_eq!(gone.time, SyncState::Unknown, "never INSYNC once expired");
        assert!(gone
            .to_string()
            .starts_with("1409050686281,UNKNOWN,FAILED_TO_REPORT,"));
    }

    #[test]
    fn nothing_published_or_failed_publication() {
        let m = Metrics::new(MetricsConfig::default());
        let line = StateLine::new(&m, at(5), 0);
        assert_eq!(
            line.to_string(),
            "1409050686000,UNKNOWN,FAILED_TO_REPORT,UNKNOWN,00000000,0,0,0,0\n"
        );
        let mut m = published(3, SyncState::OutOfSync);
        m.on_report(false, 2_500_000);
        let line = StateLine::new(&m, at(300_000_000), 0);
        assert_eq!(line.report, ReportState::FailedToReport);
        assert_eq!(line.time, SyncState::OutOfSync);
        assert_eq!(line.report_ms, 3);
    }
}
