//! The kernel's TAI offset (`ADJ_TAI`): kept equal to the TAI − UTC the leap-seconds list
//! gives for the clock's current instant, so CLOCK_TAI and every tool reading adjtimex agree
//! with the list.
//!
//! Pure: it takes the list's value (handed over by the driver through `Input::TaiOffset`) and
//! adjtimex snapshots, and says what to write. It never writes from an unusable list (the
//! driver hands `None`), and never writes within [`QUIET_S`] of a UTC midnight: at an
//! inserted leap the kernel raises its TAI offset itself while the clock still reads
//! 23:59:59, and the list's answer for that instant would undo it.

use crate::io::ClockSnapshot;

/// No TAI write this close (s, by CLOCK_REALTIME) to a UTC midnight, on either side.
pub const QUIET_S: i64 = 10;

/// Seconds in a UTC day without a leap second.
const DAY_S: i64 = 86_400;

/// What the engine knows of TAI − UTC and what it last tried to write.
#[derive(Clone, Copy, Debug, Default)]
pub struct TaiKeeper {
    /// The list's TAI − UTC now; `None`: no usable list, leave the kernel alone.
    want: Option<i32>,
    /// The (kernel value, wanted value) of the last write asked for: no second write for the
    /// same pair, so a kernel that refuses the write is not hammered on every read.
    tried: Option<(i32, i32)>,
}

impl TaiKeeper {
    /// The list's TAI − UTC for now (`None` when no usable list says it).
    pub fn set_want(&mut self, want: Option<i32>) {
        if self.want != want {
            self.want = want;
            self.tried = None;
        }
    }

    /// The TAI offset to write after the adjtimex read `snap`, if the kernel's differs from
    /// the list's and the clock is not near a UTC midnight: `(kernel's, list's)`.
    pub fn check(&mut self, snap: &ClockSnapshot) -> Option<(i32, i32)> {
        let want = self.want.filter(|w| *w >= 0)?;
        if snap.tai_s == want {
            self.tried = None;
            return None;
        }
        let of_day = snap.time.sec().rem_euclid(DAY_S);
        if !(QUIET_S..DAY_S - QUIET_S).contains(&of_day) {
            return None;
        }
        let pair = (snap.tai_s, want);
        if self.tried == Some(pair) {
            return None;
        }
        self.tried = Some(pair);
        Some(pair)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    /// 2026-07-01T00:00:00Z.
    const M: i64 = 1_782_864_000;

    fn snap(tai_s: i32, sec: i64) -> ClockSnapshot {
        ClockSnapshot {
            tai_s,
            time: Timestamp::new(sec, 0),
            ..ClockSnapshot::default()
        }
    }

    #[test]
    fn writes_the_list_value_once_and_never_near_midnight() {
        let mut k = TaiKeeper::default();
        assert_eq!(k.check(&snap(0, M - 3600)), None, "no list: no write");
        k.set_want(Some(37));
        assert_eq!(k.check(&snap(0, M - 3600)), Some((0, 37)));
        assert_eq!(
            k.check(&snap(0, M - 3599)),
            None,
            "not twice for the same pair"
        );
        assert_eq!(k.check(&snap(37, M - 3598)), None, "kernel agrees");
        // Someone else changes it: written back.
        assert_eq!(k.check(&snap(36, M - 3597)), Some((36, 37)));
        // Near a midnight, on either side, never.
        for s in [M - QUIET_S, M - 1, M, M + QUIET_S - 1] {
            assert_eq!(k.check(&snap(36, s)), None, "at {}", s - M);
        }
        k.set_want(Some(38));
        assert_eq!(k.check(&snap(37, M + QUIET_S)), Some((37, 38)));
        k.set_want(None);
        assert_eq!(k.check(&snap(0, M + 3600)), None, "unusable list: leave it");
    }
}
