//! The values the trust engine publishes and takes: sync and leap states, the reason a state
//! is not INSYNC, the published [`TrustState`], and the servo's side of an evaluation
//! ([`ServoView`]).
//!
//! Plain `Copy` data, serialisable where a publisher needs it; nothing here decides anything.

use crate::engine::servo::PhaseModel;
use crate::time::Timestamp;

use super::bound::BoundTerms;

/// The sync states, after SignServer's TimeMonitor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SyncState {
    /// The error bound is within the warning fraction of the declared accuracy.
    #[serde(rename = "INSYNC")]
    InSync,
    /// The error bound is past the warning fraction but within the declared accuracy, or in
    /// holdover it will pass the accuracy within the horizon.
    #[serde(rename = "SOON_OUT_OF_SYNC")]
    SoonOutOfSync,
    /// The error bound is past the declared accuracy, or the clock was changed behind ppsd's
    /// back, or the reference disagrees.
    #[serde(rename = "OUT_OF_SYNC")]
    OutOfSync,
    /// No valid measurement yet, seconds not verified, or state expired.
    #[default]
    #[serde(rename = "UNKNOWN")]
    Unknown,
}

impl SyncState {
    /// The name a signer sees (`INSYNC`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            SyncState::InSync => "INSYNC",
            SyncState::SoonOutOfSync => "SOON_OUT_OF_SYNC",
            SyncState::OutOfSync => "OUT_OF_SYNC",
            SyncState::Unknown => "UNKNOWN",
        }
    }

    /// Rank for hysteresis: higher is more trusted.
    pub(super) fn level(self) -> u8 {
        match self {
            SyncState::InSync => 2,
            SyncState::SoonOutOfSync => 1,
            SyncState::OutOfSync | SyncState::Unknown => 0,
        }
    }
}

/// Why the state is not INSYNC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Nothing: the state is INSYNC.
    #[default]
    None,
    /// No measurement to bound the error with yet (servo not locked, too few pulses).
    Starting,
    /// No time-of-day reference has agreed with the pulses on the whole second.
    SecondsUnverified,
    /// Someone else changed the clock; ppsd has not re-verified it yet.
    ForeignChange,
    /// The time-of-day reference disagrees with the clock by whole seconds.
    ReferenceDisagrees,
    /// Pulses disagree with the clock and it is not known yet which side moved.
    PulseDoubt,
    /// No pulses: the bound grows in holdover.
    Holdover,
    /// The bound is past the warning fraction or the accuracy with pulses coming.
    Bound,
    /// Waiting for good pulses in a row before the state improves (hysteresis).
    Recovering,
    /// The previous state expired before the engine could renew it (daemon stalled).
    Stale,
    /// The pulse source (PPS device) is gone: unplugged, removed, or cannot be opened.
    DeviceLost,
}

/// Leap state published with the sync state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub enum LeapState {
    /// No leap second announced.
    #[default]
    #[serde(rename = "NONE")]
    None,
    /// A second is inserted at the end of this UTC day.
    #[serde(rename = "POSITIVE")]
    Positive,
    /// A second is deleted at the end of this UTC day.
    #[serde(rename = "NEGATIVE")]
    Negative,
    /// Not known.
    #[serde(rename = "UNKNOWN")]
    Unknown,
}

/// What the engine publishes for signers.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TrustState {
    /// Sync state.
    pub state: SyncState,
    /// Leap state.
    pub leap: LeapState,
    /// Error bound, ns: the true offset stays within ±bound until `valid_until`; `i64::MAX`
    /// when there is none.
    pub bound_ns: i64,
    /// Last measured offset, ns (clock minus reference).
    pub offset_ns: i64,
    /// Frequency the engine has set, ppb.
    pub freq_ppb: f64,
    /// CLOCK_REALTIME stamp of the last accepted pulse.
    pub last_pulse: Option<Timestamp>,
    /// When this was computed, CLOCK_MONOTONIC ns.
    pub updated_mono_ns: i64,
    /// After this instant (CLOCK_MONOTONIC ns) the state is void: readers take it as UNKNOWN.
    pub valid_until_mono_ns: i64,
    /// Why the state is not INSYNC (`Reason::None` when it is).
    pub reason: Reason,
    /// The terms of the bound (all zero when there is no bound).
    pub terms: BoundTerms,
    /// The leap the leap state refers to, and where the leap state came from (set by the
    /// engine after evaluation).
    pub leap_view: crate::engine::LeapView,
}

/// Inputs to one evaluation that the trust engine does not track itself.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ServoView {
    /// The servo is locked.
    pub locked: bool,
    /// Its frequency uncertainty, ppb.
    pub freq_uncertainty_ppb: f64,
    /// The frequency set, ppb.
    pub freq_ppb: f64,
    /// The servo's phase model, if it keeps one.
    pub model: Option<PhaseModel>,
    /// Pulses are lost: the clock is in holdover.
    pub holdover: bool,
}
