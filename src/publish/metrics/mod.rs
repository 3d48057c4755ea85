//! Metrics: what the engine did, counted and measured, for `/metrics`, `/status` and `/state`.
//!
//! The daemon loop hands every engine [`Action`] to [`Metrics::on_action`] with the stamp the
//! engine was given; everything else is derived here. A published state whose last pulse
//! differs from the one before is a newly accepted pulse: its measured offset goes into the
//! offset histograms, and the interval from the previous pulse, when the two are one second
//! apart with no step, leap or loss between them, goes into the jitter histograms as interval
//! minus one second (measured by the disciplined clock). Events feed the counters.
//!
//! Pure: no I/O, no clock reads (times come with the actions or the render call), and nothing
//! on the per-pulse path allocates once built. It never decides trust: the state it exposes is
//! the one the engine published, taken as UNKNOWN once its validity has run out.

use crate::engine::filter::RejectReason;
use crate::engine::servo::PulseShift;
use crate::engine::{
    Action, EngineEvent, ForeignChange, LeapState, Stamp, StepReason, SyncState, TrustState,
};
use crate::time::{Timestamp, NANOS_PER_SEC};

mod expose;
pub mod hist;

pub use hist::{BucketCounts, SignedHist, Windowed, BOUNDS_NS};

/// Metrics parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Declared accuracy, ns (exported as a gauge).
    pub declared_accuracy_ns: i64,
    /// Length of the recent histograms' window, ns (they cover between half of it and all of it).
    pub window_ns: i64,
}

impl Default for MetricsConfig {
    fn default() -> MetricsConfig {
        MetricsConfig {
            declared_accuracy_ns: 1_000_000,
            window_ns: 600 * NANOS_PER_SEC,
        }
    }
}

/// Label values of the counters, in index order.
pub mod labels {
    /// `reason` of `ppsd_pulses_rejected_total`.
    pub const REJECT: [&str; 4] = ["interval", "extra_events", "outlier", "moved_train"];
    /// `reason` of `ppsd_steps_total`.
    pub const STEP: [&str; 2] = ["phase", "whole_seconds"];
    /// `kind` of `ppsd_foreign_changes_total`.
    pub const FOREIGN: [&str; 4] = ["step", "frequency", "tick", "kernel_discipline"];
    /// `state` of `ppsd_sync_state`, `to` of `ppsd_state_changes_total`.
    pub const SYNC: [&str; 4] = ["INSYNC", "SOON_OUT_OF_SYNC", "OUT_OF_SYNC", "UNKNOWN"];
    /// `state` of `ppsd_leap_state`.
    pub const LEAP: [&str; 4] = ["NONE", "POSITIVE", "NEGATIVE", "UNKNOWN"];
    /// `kind` of `ppsd_pulse_train_shifts_total`.
    pub const SHIFT: [&str; 3] = ["suspected", "cleared", "accepted"];
    /// `result` of `ppsd_reference_checks_total`.
    pub const REFERENCE: [&str; 2] = ["agrees", "disagrees"];
    /// `event` of `ppsd_leap_events_total`.
    pub const LEAP_EVENT: [&str; 2] = ["scheduled", "applied"];
}

/// Index of a sync state in [`labels::SYNC`].
pub fn sync_index(s: SyncState) -> usize {
    match s {
        SyncState::InSync => 0,
        SyncState::SoonOutOfSync => 1,
        SyncState::OutOfSync => 2,
        SyncState::Unknown => 3,
    }
}

/// Index of a leap state in [`labels::LEAP`].
pub fn leap_index(s: LeapState) -> usize {
    match s {
        LeapState::None => 0,
        LeapState::Positive => 1,
        LeapState::Negative => 2,
        LeapState::Unknown => 3,
    }
}

/// Event counters; arrays are indexed like the matching [`labels`] list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Pulses accepted and measured.
    pub pulses_accepted: u64,
    /// Pulses fetched but not used, by reason.
    pub pulses_rejected: [u64; 4],
    /// Losses of the pulse (holdover entered).
    pub pulses_lost: u64,
    /// Clock steps, by reason.
    pub steps: [u64; 2],
    /// Changes of the clock ppsd did not make, by kind.
    pub foreign_changes: [u64; 4],
    /// Changes of the published sync state, by the state entered.
    pub state_changes: [u64; 4],
    /// Servo frequency resets.
    pub frequency_resets: u64,
    /// Pulse-train moves suspected, cleared, accepted.
    pub train_shifts: [u64; 3],
    /// Time-of-day checks that (again) agree / disagree on the second.
    pub reference_checks: [u64; 2],
    /// Leap seconds scheduled / applied.
    pub leap_events: [u64; 2],
    /// Publications the loop reported as failed.
    pub publish_failures: u64,
}

/// Everything behind `/metrics`, `/status` and `/state`.
#[derive(Clone, Debug)]
pub struct Metrics {
    cfg: MetricsConfig,
    counters: Counters,
    offsets: Windowed,
    jitter: Windowed,
    state: Option<TrustState>,
    leap_override: Option<LeapState>,
    tai_offset_s: Option<i64>,
    /// The last accepted pulse's stamp, for telling a new pulse from a renewal.
    last_pulse: Option<Timestamp>,
    /// The previous pulse to measure the next interval from (None after a break).
    interval_from: Option<Timestamp>,
    last_pulse_mono_ns: Option<i64>,
    fetch_delay_ns: Option<i64>,
    last_trusted: Option<Timestamp>,
    first_mono_ns: Option<i64>,
    report_ok: bool,
    report_ns: i64,
    signserver: Option<crate::publish::signserver::worker::Report>,
}

impl Metrics {
    /// Empty metrics.
    pub fn new(cfg: MetricsConfig) -> Metrics {
        Metrics {
            cfg,
            counters: Counters::default(),
            offsets: Windowed::new(cfg.window_ns),
            jitter: Windowed::new(cfg.window_ns),
            state: None,
            leap_override: None,
            tai_offset_s: None,
            last_pulse: None,
            interval_from: None,
            last_pulse_mono_ns: None,
            fetch_delay_ns: None,
            last_trusted: None,
            first_mono_ns: None,
            report_ok: true,
            report_ns: 0,
            signserver: None,
        }
    }

    /// Takes one engine action, handled at `at` (the stamp the engine was given with its input).
    pub fn on_action(&mut self, at: Stamp, action: &Action) {
        self.first_mono_ns.get_or_insert(at.mono_ns);
        match action {
            Action::Publish(ts) => self.on_publish(at, ts),
            Action::Event(e) => self.on_event(e),
            Action::Write(_) | Action::Step { .. } => {}
        }
    }

    /// The leap state and TAI − UTC the loop actually published (after consulting the
    /// leap-seconds list). Until called, the engine's leap state is shown and no TAI offset.
    pub fn set_leap(&mut self, leap: LeapState, tai_offset_s: Option<i64>) {
        self.leap_override = Some(leap);
        self.tai_offset_s = tai_offset_s;
    }

    /// How the loop's last publication of the state (shm write) went and how long it took, ns.
    pub fn on_report(&mut self, ok: bool, took_ns: i64) {
        if !ok {
            self.counters.publish_failures = self.counters.publish_failures.saturating_add(1);
        }
        self.report_ok = ok;
        self.report_ns = took_ns.max(0);
    }

    fn on_publish(&mut self, at: Stamp, ts: &TrustState) {
        self.offsets.advance(at.mono_ns);
        self.jitter.advance(at.mono_ns);
        if ts.last_pulse.is_some() && ts.last_pulse != self.last_pulse {
            if let Some(stamp) = ts.last_pulse {
                self.on_new_pulse(at, stamp, ts.offset_ns);
            }
        }
        if ts.state == SyncState::InSync {
            self.last_trusted = Some(at.real);
        }
        self.state = Some(*ts);
    }

    fn on_new_pulse(&mut self, at: Stamp, stamp: Timestamp, offset_ns: i64) {
        let c = &mut self.counters;
        c.pulses_accepted = c.pulses_accepted.saturating_add(1);
        self.offsets.record(offset_ns);
        if let Some(prev) = self.interval_from {
            let interval = stamp.diff_ns(prev);
            if (NANOS_PER_SEC / 2..NANOS_PER_SEC * 3 / 2).contains(&interval) {
                self.jitter.record(interval - NANOS_PER_SEC);
            }
        }
        self.last_pulse = Some(stamp);
        self.interval_from = Some(stamp);
        let delay = at.real.diff_ns(stamp).max(0);
        self.fetch_delay_ns = Some(delay);
        self.last_pulse_mono_ns = Some(at.mono_ns.saturating_sub(delay));
    }

    fn on_event(&mut self, e: &EngineEvent) {
        let c = &mut self.counters;
        let bump = |n: &mut u64| *n = n.saturating_add(1);
        match e {
            EngineEvent::StateChanged { to, .. } => bump(&mut c.state_changes[sync_index(*to)]),
            EngineEvent::Stepped { reason, .. } => {
                bump(&mut c.steps[step_index(*reason)]);
                self.interval_from = None;
            }
            EngineEvent::FrequencyReset { .. } => bump(&mut c.frequency_resets),
            EngineEvent::PulseLost { .. } => {
                bump(&mut c.pulses_lost);
                self.interval_from = None;
            }
            EngineEvent::PulseRegained { .. } => {}
            EngineEvent::PulseRejected { reason, .. } => {
                bump(&mut c.pulses_rejected[reject_index(reason)]);
            }
            EngineEvent::PulseTrainShift(s) => bump(&mut c.train_shifts[shift_index(*s)]),
            EngineEvent::ForeignChange(f) => {
                bump(&mut c.foreign_changes[foreign_index(f)]);
                if matches!(f, ForeignChange::Step | ForeignChange::SteppedBy { .. }) {
                    self.interval_from = None;
                }
            }
            EngineEvent::ReferenceAgrees => bump(&mut c.reference_checks[0]),
            EngineEvent::ReferenceDisagrees { .. } => bump(&mut c.reference_checks[1]),
            EngineEvent::UntrustedBegan(_) | EngineEvent::UntrustedEnded(_) => {}
            EngineEvent::ReferenceDissents(_) | EngineEvent::VerificationLapsed { .. } => {}
            EngineEvent::LeapScheduled(_) => bump(&mut c.leap_events[0]),
            EngineEvent::LeapArmed { .. }
            | EngineEvent::LeapDisarmed { .. }
            | EngineEvent::LeapVerified { .. }
            | EngineEvent::LeapNotApplied { .. }
            | EngineEvent::LeapDisagreement { .. }
            | EngineEvent::LeapReadingSkipped { .. }
            | EngineEvent::TaiSet { .. }
            | EngineEvent::LeapSource(_) => {}
            EngineEvent::LeapApplied(_) => {
                bump(&mut c.leap_events[1]);
                self.interval_from = None;
            }
        }
    }

    /// The parameters.
    pub fn config(&self) -> &MetricsConfig {
        &self.cfg
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Offsets of accepted pulses, ns.
    pub fn offsets(&self) -> &Windowed {
        &self.offsets
    }

    /// Pulse interval minus one second, ns.
    pub fn jitter(&self) -> &Windowed {
        &self.jitter
    }

    /// The state the engine last published, if any.
    pub fn published(&self) -> Option<&TrustState> {
        self.state.as_ref()
    }

    /// True when there is no published state or its validity ended before `now_mono_ns`.
    pub fn expired(&self, now_mono_ns: i64) -> bool {
        self.state
            .map_or(true, |s| now_mono_ns > s.valid_until_mono_ns)
    }

    /// The sync state a reader sees at `now_mono_ns`: the published one while valid, UNKNOWN
    /// before the first publication and after the validity runs out.
    pub fn effective_state(&self, now_mono_ns: i64) -> SyncState {
        match self.state {
            Some(s) if !self.expired(now_mono_ns) => s.state,
            _ => SyncState::Unknown,
        }
    }

    /// The leap state published (the loop's, else the engine's; UNKNOWN before any).
    pub fn leap(&self) -> LeapState {
        self.leap_override
            .or(self.state.map(|s| s.leap))
            .unwrap_or(LeapState::Unknown)
    }

    /// TAI − UTC, s, when the loop has said.
    pub fn tai_offset_s(&self) -> Option<i64> {
        self.tai_offset_s
    }

    /// Time since the last accepted pulse at `now_mono_ns`, ns.
    pub fn last_pulse_age_ns(&self, now_mono_ns: i64) -> Option<i64> {
        self.last_pulse_mono_ns
            .map(|t| now_mono_ns.saturating_sub(t).max(0))
    }

    /// How long after its edge the last accepted pulse was handled, ns.
    pub fn fetch_delay_ns(&self) -> Option<i64> {
        self.fetch_delay_ns
    }

    /// CLOCK_REALTIME of the last publication that said INSYNC.
    pub fn last_trusted(&self) -> Option<Timestamp> {
        self.last_trusted
    }

    /// Monotonic instant of the first action seen.
    pub fn first_mono_ns(&self) -> Option<i64> {
        self.first_mono_ns
    }

    /// Whether the loop's last publication succeeded, and how long it took, ns.
    pub fn last_report(&self) -> (bool, i64) {
        (self.report_ok, self.report_ns)
    }

    /// The SignServer publisher's last result (the loop copies it in when it can).
    pub fn set_signserver(&mut self, report: crate::publish::signserver::worker::Report) {
        self.signserver = Some(report);
    }

    /// The SignServer publisher's last result; None when none is configured.
    pub fn signserver(&self) -> Option<crate::publish::signserver::worker::Report> {
        self.signserver
    }

    /// Bytes held by the histograms' count arrays (fixed once built).
    pub fn heap_bytes(&self) -> usize {
        self.offsets.heap_bytes() + self.jitter.heap_bytes()
    }

    /// Appends the Prometheus text exposition (format 0.0.4) as of `now` (on the engine's
    /// clocks) to `out`.
    pub fn encode(&self, now: Stamp, out: &mut String) {
        expose::encode(self, now, out);
    }
}

fn step_index(r: StepReason) -> usize {
    match r {
        StepReason::Phase => 0,
        StepReason::WholeSeconds => 1,
    }
}

fn reject_index(r: &RejectReason) -> usize {
    match r {
        RejectReason::Interval { .. } => 0,
        RejectReason::ExtraEvents { .. } => 1,
        RejectReason::Outlier { .. } => 2,
        RejectReason::MovedTrain { .. } => 3,
    }
}

fn foreign_index(f: &ForeignChange) -> usize {
    match f {
        ForeignChange::Step | ForeignChange::SteppedBy { .. } => 0,
        ForeignChange::Frequency { .. } => 1,
        ForeignChange::Tick { .. } => 2,
        ForeignChange::KernelDiscipline { .. } => 3,
    }
}

fn shift_index(s: PulseShift) -> usize {
    match s {
        PulseShift::Suspected(_) => 0,
        PulseShift::Cleared => 1,
        PulseShift::Accepted(_) => 2,
    }
}

#[cfg(test)]
mod tests;
