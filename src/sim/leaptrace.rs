//! The leap trace: what a signer would have seen, second by second, around each simulated leap
//! second (from 5 s before it to 12 s after): the clock's true offset from UTC, the published
//! sync state and bound, the leap state and leap window as the shm publisher would write them,
//! and the kernel's clock state (adjtimex).
//!
//! The driver (`run.rs`) hands it every published state (converted here exactly as
//! `publish/shm.rs` converts it for the record) and asks for a sample 700 ms into each true
//! second of the span; the in-window flag is the reader's own test (`start ≤ now < end` on
//! CLOCK_MONOTONIC). It only records; it never touches the engine or the clock.

use std::fmt::Write as _;

use crate::config::LeapSection;
use crate::engine::leap::arm::state_name;
use crate::engine::{EngineEvent, LeapSource, SyncState, TrustState};
use crate::io::ClockState;
use crate::publish::shm::{to_state, Clocks, Identity, LeapInfo};
use crate::time::{Timestamp, NANOS_PER_SEC};

/// Seconds before each leap the trace starts.
pub const BEFORE_S: i64 = 5;
/// Seconds after each leap the trace runs on.
pub const AFTER_S: i64 = 12;
/// Where in each true second the sample is taken, ns.
pub const SAMPLE_AT_NS: i64 = 700_000_000;

/// One sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LeapRow {
    /// True second relative to the leap: 0 is the second that starts when UTC reaches the end
    /// of the day (23:59:60 for an insertion; for a deletion 00:00:00, second −1 being the one
    /// UTC skips to).
    pub k_s: i64,
    /// Sign of the leap: +1 inserted, −1 deleted.
    pub sign: i64,
    /// CLOCK_REALTIME of the simulated clock at the sample.
    pub realtime: Timestamp,
    /// The clock's true offset from UTC, ns.
    pub true_offset_ns: f64,
    /// Published sync state.
    pub state: SyncState,
    /// Published bound, ns (`None`: no bound).
    pub bound_ns: Option<i64>,
    /// Leap state in the record.
    pub leap: ppsd_shm::LeapState,
    /// `next_leap_utc_s` in the record.
    pub next_leap_utc_s: i64,
    /// The sample's instant is inside the record's leap window (monotonic clock).
    pub in_window: bool,
    /// The kernel clock state adjtimex reports.
    pub kernel: ClockState,
    /// Where the engine's leap state came from.
    pub source: LeapSource,
}

/// The recorder.
#[derive(Clone, Debug)]
pub struct LeapTrace {
    identity: Identity,
    last: Option<(ppsd_shm::State, TrustState)>,
    rows: Vec<LeapRow>,
    events: Vec<(i64, EngineEvent)>,
}

impl Default for LeapTrace {
    fn default() -> LeapTrace {
        LeapTrace::new(&LeapSection::default())
    }
}

impl LeapTrace {
    /// A recorder with the leap window of `leap`.
    pub fn new(leap: &LeapSection) -> LeapTrace {
        LeapTrace {
            identity: Identity {
                declared_accuracy_ns: 1_000_000,
                leap_window_before_ns: leap.window_before_ms.saturating_mul(1_000_000),
                leap_window_after_ns: leap.window_after_ms.saturating_mul(1_000_000),
                pulse_source_id: ppsd_shm::Ident::default(),
                reference_id: ppsd_shm::Ident::default(),
            },
            last: None,
            rows: Vec::new(),
            events: Vec::new(),
        }
    }

    /// True when the true second starting at `second_ns` is in the span of a leap whose UTC
    /// day ends at true `day_end_ns`.
    pub fn wants(second_ns: i64, day_end_ns: i64) -> bool {
        let k = (second_ns - day_end_ns).div_euclid(NANOS_PER_SEC);
        (-BEFORE_S..=AFTER_S).contains(&k)
    }

    /// A state was published at monotonic `mono_ns`, realtime `realtime`.
    pub fn publish(&mut self, ts: &TrustState, mono_ns: i64, realtime: Timestamp) {
        let clocks = Clocks {
            host_mono_ns: mono_ns,
            engine_mono_ns: mono_ns,
            realtime,
        };
        let info = LeapInfo {
            known: true,
            ..LeapInfo::default()
        };
        self.last = Some((to_state(ts, &info, &clocks, &self.identity), *ts));
    }

    /// A sample at monotonic `mono_ns`: `k_s`, `sign`, `realtime`, `true_offset_ns` and
    /// `kernel` come from the world.
    pub fn sample(
        &mut self,
        (k_s, sign): (i64, i64),
        mono_ns: i64,
        realtime: Timestamp,
        true_offset_ns: f64,
        kernel: ClockState,
    ) {
        let Some((rec, ts)) = &self.last else { return };
        let in_window = rec
            .leap_window
            .is_some_and(|w| w.start_mono_ns <= mono_ns && mono_ns < w.end_mono_ns);
        let live = mono_ns < ts.valid_until_mono_ns;
        self.rows.push(LeapRow {
            k_s,
            sign,
            realtime,
            true_offset_ns,
            state: if live { ts.state } else { SyncState::Unknown },
            bound_ns: (ts.bound_ns != i64::MAX).then_some(ts.bound_ns),
            leap: rec.leap,
            next_leap_utc_s: rec.next_leap_utc_s,
            in_window,
            kernel,
            source: ts.leap_view.source,
        });
    }

    /// The engine emitted `e` at true `tau`; leap events are kept.
    pub fn event(&mut self, tau: i64, e: &EngineEvent) {
        use EngineEvent as E;
        if matches!(
            e,
            E::LeapScheduled(_)
                | E::LeapApplied(_)
                | E::LeapArmed { .. }
                | E::LeapDisarmed { .. }
                | E::LeapVerified { .. }
                | E::LeapNotApplied { .. }
                | E::LeapDisagreement { .. }
                | E::LeapSource(_)
        ) {
            self.events.push((tau, *e));
        }
    }

    /// The leap events, with the true instant (ns) they were emitted at.
    pub fn events(&self) -> &[(i64, EngineEvent)] {
        &self.events
    }

    /// The rows, in order.
    pub fn rows(&self) -> &[LeapRow] {
        &self.rows
    }

    /// The rows as a Markdown table.
    pub fn to_markdown(&self) -> String {
        let mut s = String::from(
            "| t−leap (s) | CLOCK_REALTIME (UTC) | true offset (ns) | state | bound (ns) | leap | in window | kernel | source |\n|---|---|---|---|---|---|---|---|---|\n",
        );
        for r in &self.rows {
            let utc = crate::publish::status::utc_ns(r.realtime);
            let _ = writeln!(
                s,
                "| {:+} | {} | {:.1} | {} | {} | {} | {} | {} | {} |",
                r.k_s,
                &utc[11..23],
                r.true_offset_ns,
                r.state.as_str(),
                r.bound_ns.map_or("-".into(), |b| b.to_string()),
                r.leap.name(),
                if r.in_window { "yes" } else { "no" },
                state_name(r.kernel),
                r.source.as_str(),
            );
        }
        s
    }
}
