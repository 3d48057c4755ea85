//! Typed events the engine emits for the log: every change that ETSI EN 319 421 asks a
//! time-stamp authority to record (state changes with the last trusted time, steps, pulses lost
//! and regained, foreign clock changes, reference disagreements, leap seconds).
//!
//! Events are plain `Copy` values so emitting one never allocates; this module must never format
//! or write them anywhere (the daemon's log writer and the simulator's report do that).

use crate::io::ScaledPpm;
use crate::time::Timestamp;

use super::filter::RejectReason;
use super::leap::arm::{LeapSource, StateTrail};
use super::ledger::{UntrustedBegan, UntrustedInterval};
use super::servo::PulseShift;
use super::trust::SyncState;
use super::verify::Dissent;
use super::Leap;

/// Something the engine did or saw that belongs in the event log.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum EngineEvent {
    /// The published sync state changed.
    StateChanged {
        /// State before.
        from: SyncState,
        /// State after.
        to: SyncState,
        /// Error bound published with the new state, ns.
        bound_ns: i64,
        /// CLOCK_REALTIME of the last instant the state was INSYNC, if it ever was.
        last_trusted: Option<Timestamp>,
    },
    /// The engine asked for a step of the clock.
    Stepped {
        /// Size of the step, ns (added to the clock).
        delta_ns: i64,
        /// Why.
        reason: StepReason,
    },
    /// The servo's frequency was reset (servo restarted from this frequency).
    FrequencyReset {
        /// The frequency the servo restarts from, ppb.
        freq_ppb: f64,
    },
    /// No accepted pulse for longer than the pulse timeout: holdover begins.
    PulseLost {
        /// CLOCK_REALTIME stamp of the last accepted pulse.
        last_pulse: Timestamp,
    },
    /// Pulses came back after a loss.
    PulseRegained {
        /// Time since the last accepted pulse, ns (CLOCK_MONOTONIC).
        gap_ns: i64,
    },
    /// A pulse was fetched but not used.
    PulseRejected {
        /// Its sequence number.
        seq: u32,
        /// Why it was not used.
        reason: RejectReason,
    },
    /// The pulse train moved, was found back, or the move was accepted (see [`PulseShift`]).
    PulseTrainShift(PulseShift),
    /// Someone else changed the clock.
    ForeignChange(ForeignChange),
    /// The verification policy is met (again, or renewed after a lapse).
    ReferenceAgrees,
    /// The verification policy can no longer be met because a reference disagrees: the state
    /// leaves INSYNC.
    ReferenceDisagrees {
        /// Clock minus the dissenting reference, whole seconds (0: within the second but past
        /// the tolerance).
        seconds: i64,
    },
    /// One reference's reading does not agree with the pulse-derived time (whole seconds, or
    /// past the tolerance): logged when the source starts dissenting or changes its seconds.
    ReferenceDissents(Dissent),
    /// The verification could not be renewed within the recheck period (references
    /// unreachable or too few): logged once per lapse; the state stays as it was.
    VerificationLapsed {
        /// Time since the policy was last met, ns (CLOCK_MONOTONIC).
        since_ns: i64,
    },
    /// A leap second was armed in the kernel for the end of the current UTC day.
    LeapScheduled(Leap),
    /// The kernel applied the armed leap second.
    LeapApplied(Leap),
    /// A leap second was armed in the kernel (`STA_INS`/`STA_DEL`), with what announced it.
    LeapArmed {
        /// Inserted or deleted.
        leap: Leap,
        /// The UTC midnight (Unix s) at which it takes effect.
        at_utc_s: i64,
        /// What announced it.
        source: LeapSource,
    },
    /// The announcement of an armed leap went away before it: the kernel was disarmed.
    LeapDisarmed {
        /// The leap that was armed.
        leap: Leap,
        /// Its midnight (Unix s).
        at_utc_s: i64,
    },
    /// The kernel's leap states around an applied leap, read through adjtimex.
    LeapVerified {
        /// The leap.
        leap: Leap,
        /// The states seen, in order.
        trail: StateTrail,
        /// The trail shows INS, OOP, WAIT (insert) or DEL, WAIT (delete).
        as_expected: bool,
    },
    /// The kernel was armed for a leap and did not apply it: the clock is a second off UTC.
    LeapNotApplied {
        /// The leap.
        leap: Leap,
        /// Its midnight (Unix s).
        at_utc_s: i64,
        /// The states seen while it was armed.
        trail: StateTrail,
    },
    /// A time-of-day reference's leap indication disagrees with the current leap-seconds list.
    LeapDisagreement {
        /// What the reference indicates for the end of its month.
        reference: Leap,
        /// That month end (UTC midnight, Unix s).
        month_end_utc_s: i64,
        /// What the list says for the same instant.
        list: Leap,
    },
    /// A time-of-day reading taken too close to a leap's midnight was not judged (debug).
    LeapReadingSkipped {
        /// Which configured reference read it.
        source: u8,
        /// Clock minus reference, ns.
        offset_ns: i64,
    },
    /// The kernel's TAI offset (`ADJ_TAI`) was set to the leap-seconds list's TAI − UTC.
    TaiSet {
        /// What the kernel held, s.
        from_s: i32,
        /// What the list says and was written, s.
        to_s: i32,
    },
    /// The published leap state now comes from this source.
    LeapSource(LeapSource),
    /// The state left INSYNC: an untrusted interval began (persist at once).
    UntrustedBegan(UntrustedBegan),
    /// The state is INSYNC again: the untrusted interval, complete (persist).
    UntrustedEnded(UntrustedInterval),
}

/// Why the engine stepped the clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepReason {
    /// The servo found the phase offset above the step threshold before the clock was trusted.
    Phase,
    /// The time-of-day reference showed the clock off by whole seconds before it was trusted.
    WholeSeconds,
}

/// A change of the clock that ppsd did not make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForeignChange {
    /// The clock-change watcher (timerfd with `TFD_TIMER_CANCEL_ON_SET`) saw CLOCK_REALTIME set,
    /// by an amount the engine could not measure (no earlier stamp to compare with).
    Step,
    /// The clock-change watcher saw CLOCK_REALTIME set, and the stamps measured by how much
    /// (the change of CLOCK_REALTIME − CLOCK_MONOTONIC that ppsd did not make).
    SteppedBy {
        /// Size of the step, ns (added to the clock).
        delta_ns: i64,
    },
    /// The kernel frequency differs from what ppsd last set.
    Frequency {
        /// What ppsd set.
        expected: ScaledPpm,
        /// What the kernel holds.
        found: ScaledPpm,
    },
    /// The kernel tick differs from what ppsd last set.
    Tick {
        /// What ppsd set, µs.
        expected_us: i64,
        /// What the kernel holds, µs.
        found_us: i64,
    },
    /// Someone enabled the kernel PLL/FLL/PPS discipline or left a PLL offset pending.
    KernelDiscipline {
        /// The status bits found.
        status_bits: i32,
        /// The pending PLL offset found.
        offset: i64,
    },
}
