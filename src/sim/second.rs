//! One true second of the simulated world, shared by the simulator's driver (`run.rs`) and the
//! daemon's real-time simulated world: the receiver's pulse (unless out, and moved by a
//! `pps_offset` fault), and when a spurious pulse and a time-of-day reading fall.
//!
//! It stamps pulses on the simulated clock as the kernel would and schedules nothing itself:
//! the caller queues the instants it returns. It never talks to the engine.

use rand_chacha::ChaCha8Rng;

use super::clock::SimClock;
use super::fault::FaultSchedule;
use super::pps::SimPps;
use super::run::TOD_DELAY_NS;
use super::scenario::Scenario;
use crate::time::NANOS_PER_SEC;

/// The instants a true second asks the caller to queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SecondEvents {
    /// A spurious pulse, true ns.
    pub spurious_at: Option<i64>,
    /// A time-of-day reading, true ns.
    pub tod_at: Option<i64>,
}

/// The true second `tau` (ns) begins: the receiver's pulse is stamped, and the extra events
/// that fall before the next second are returned.
pub fn true_second(
    tau: i64,
    sc: &Scenario,
    faults: &FaultSchedule,
    clock: &mut SimClock,
    pps: &mut SimPps,
    rng: &mut ChaCha8Rng,
) -> SecondEvents {
    if !faults.pps_outage(tau) {
        let at = tau + faults.pps_shift_ns(tau);
        let noise = sc.pps.sample(rng);
        pps.assert_event(clock.realtime_with(at, noise));
    }
    let next = tau + NANOS_PER_SEC;
    let spurious_at = match (faults.spurious_ns(tau), faults.spurious_ns(next)) {
        (Some(off), _) if off > 0 => Some(tau + off),
        (_, Some(off)) if off < 0 => Some(next + off),
        _ => None,
    };
    let k = tau / NANOS_PER_SEC;
    let tod_due = k % sc.tod.interval_s == 0 && !faults.tod_outage(tau);
    SecondEvents {
        spurious_at,
        tod_at: tod_due.then_some(tau + TOD_DELAY_NS),
    }
}

/// A spurious pulse at true `tau`: an extra event the receiver emits, stamped with the same
/// capture noise as a real one.
pub fn spurious_pulse(
    tau: i64,
    sc: &Scenario,
    clock: &mut SimClock,
    pps: &mut SimPps,
    rng: &mut ChaCha8Rng,
) {
    let noise = sc.pps.sample(rng);
    pps.assert_event(clock.realtime_with(tau, noise));
}
