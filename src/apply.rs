//! The one place where engine actions meet a clock: `Write` becomes one adjtimex call, `Step`
//! one `ADJ_SETOFFSET`, on any [`DisciplinedClock`] (the kernel's or the simulator's).
//!
//! Publishing and logging are not clock actions and are left to the caller. This module never
//! decides anything: it applies exactly what the engine asked, in order, and reports failures.

use crate::engine::Action;
use crate::io::{ClockSnapshot, DeviceError, DisciplinedClock};

/// Applies one action to `clock`: the clock's state after a write or step, `None` for actions
/// that are not for the clock (publish, event).
///
/// # Errors
/// The clock's [`DeviceError`] (for example `EPERM` without CAP_SYS_TIME).
pub fn apply<C: DisciplinedClock + ?Sized>(
    clock: &mut C,
    action: &Action,
) -> Result<Option<ClockSnapshot>, DeviceError> {
    match action {
        Action::Write(w) => clock.write(w).map(Some),
        Action::Step { delta_ns } => clock.step(*delta_ns).map(Some),
        Action::Publish(_) | Action::Event(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{ClockWrite, ScaledPpm};
    use crate::time::Timestamp;

    /// A clock that records what was applied.
    #[derive(Default)]
    struct Recorder {
        writes: Vec<ClockWrite>,
        steps: Vec<i64>,
    }

    impl DisciplinedClock for Recorder {
        fn now(&mut self) -> Result<Timestamp, DeviceError> {
            Ok(Timestamp::ZERO)
        }
        fn read(&mut self) -> Result<ClockSnapshot, DeviceError> {
            Ok(ClockSnapshot::default())
        }
        fn write(&mut self, w: &ClockWrite) -> Result<ClockSnapshot, DeviceError> {
            self.writes.push(*w);
            Ok(ClockSnapshot::default())
        }
        fn step(&mut self, delta_ns: i64) -> Result<ClockSnapshot, DeviceError> {
            self.steps.push(delta_ns);
            Err(DeviceError::os(
                "CLOCK_REALTIME",
                "clock_adjtime",
                libc::EPERM,
            ))
        }
    }

    #[test]
    fn writes_and_steps_reach_the_clock_and_errors_come_back() {
        let mut c = Recorder::default();
        let w = ClockWrite {
            freq: Some(ScaledPpm(5)),
            ..ClockWrite::default()
        };
        assert!(apply(&mut c, &Action::Write(w)).unwrap().is_some());
        let e = apply(&mut c, &Action::Step { delta_ns: -7 }).unwrap_err();
        assert!(e.to_string().contains("clock_adjtime"));
        let publish = Action::Publish(crate::engine::TrustState::default());
        assert_eq!(apply(&mut c, &publish).unwrap(), None);
        assert_eq!((c.writes, c.steps), (vec![w], vec![-7]));
    }
}
