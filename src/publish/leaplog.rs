//! Log lines of the leap-second events: armed, disarmed, the kernel's states when applied,
//! not applied, a reference that disagrees with the list, and the source of the leap state.
//!
//! Formatting only (called from [`super::log::event`]); it never decides anything.

use tracing::{debug, error, info, warn};

use crate::engine::leap::arm::StateTrail;
use crate::engine::leap::utc_string;
use crate::engine::{EngineEvent, Leap};

fn name(l: Leap) -> &'static str {
    match l {
        Leap::None => "none",
        Leap::Insert => "insert",
        Leap::Delete => "delete",
    }
}

fn trail_string(t: &StateTrail) -> String {
    let mut s = String::new();
    let _ = t.write_to(&mut s);
    if t.hidden {
        s.push_str(" (TIME_ERROR read: the kernel hid its leap state while unsynchronised)");
    }
    s
}

/// Writes one leap event; other events are ignored.
pub(super) fn event(e: &EngineEvent) {
    match *e {
        EngineEvent::LeapArmed {
            leap,
            at_utc_s,
            source,
        } => info!(
            event = "leap_armed",
            leap = name(leap),
            at = %utc_string(at_utc_s),
            source = source.as_str(),
            "leap second ({}) armed in the kernel for {} (announced by the {})",
            name(leap),
            utc_string(at_utc_s),
            source.as_str()
        ),
        EngineEvent::LeapDisarmed { leap, at_utc_s } => warn!(
            event = "leap_disarmed",
            leap = name(leap),
            at = %utc_string(at_utc_s),
            "leap second ({}) for {} no longer announced: kernel disarmed",
            name(leap),
            utc_string(at_utc_s)
        ),
        EngineEvent::LeapVerified {
            leap,
            trail,
            as_expected,
        } => {
            let states = trail_string(&trail);
            if as_expected {
                info!(event = "leap_verified", leap = name(leap), states = %states,
                    "kernel applied the leap second ({}): states {states}", name(leap));
            } else {
                warn!(event = "leap_verified", leap = name(leap), states = %states,
                    "kernel stepped for the leap second ({}) but its states were {states}", name(leap));
            }
        }
        EngineEvent::LeapNotApplied {
            leap,
            at_utc_s,
            trail,
        } => {
            let states = trail_string(&trail);
            error!(event = "leap_not_applied", leap = name(leap), at = %utc_string(at_utc_s),
                states = %states,
                "kernel did not apply the leap second ({}) due at {} (states {states}): OUT_OF_SYNC until re-verified",
                name(leap), utc_string(at_utc_s));
        }
        EngineEvent::LeapDisagreement {
            reference,
            month_end_utc_s,
            list,
        } => warn!(
            event = "leap_disagreement",
            reference = name(reference),
            list = name(list),
            at = %utc_string(month_end_utc_s),
            "time-of-day reference indicates leap {} for {} but the leap-seconds list says {}",
            name(reference),
            utc_string(month_end_utc_s),
            name(list)
        ),
        EngineEvent::LeapSource(source) => info!(
            event = "leap_source",
            source = source.as_str(),
            "leap state now from: {}",
            source.as_str()
        ),
        EngineEvent::LeapReadingSkipped { source, offset_ns } => debug!(
            event = "leap_reading_skipped",
            source,
            offset_ns,
            "time-of-day reading of reference {source} taken within 2 s of a leap's midnight: not judged"
        ),
        EngineEvent::TaiSet { from_s, to_s } => info!(
            event = "tai_set",
            from_s,
            to_s,
            "kernel TAI offset set from {from_s} s to {to_s} s, as the leap-seconds list says"
        ),
        _ => {}
    }
}
