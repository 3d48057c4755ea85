//! The signer's answer: may I sign now, with what error bound, and if not, why not.
//!
//! [`judge`] is pure: it takes the copied verdict block, the outcome of the seqlock read and the
//! reader's own CLOCK_MONOTONIC reading, and decides. It must never say "may sign" unless every
//! check passes: a decision it cannot make is a refusal with a reason.

use crate::layout::{word, VERDICT_WORDS};
use crate::seqlock::ReadOutcome;
use crate::state::{verdict_checksum, writer_closed, LeapState, SyncState};
use std::fmt;

/// Longest validity a record may claim (`valid_until − updated_at`). The daemon's default is
/// 1.5 s; a record claiming more than this is treated as inconsistent, so a writer bug cannot
/// keep signers signing long after the daemon stopped.
pub const MAX_VALIDITY_NS: i64 = 10_000_000_000;

/// Why a signer may not sign. The numeric values are the C ABI's `PPSD_SHM_REASON_*` codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Reason {
    /// `valid_until` has passed: the daemon stopped renewing the state (code 1).
    Expired = 1,
    /// The daemon says OUT_OF_SYNC, or the bound exceeds the declared accuracy (code 2).
    OutOfSync = 2,
    /// The daemon says UNKNOWN, or has never published (code 3).
    Unknown = 3,
    /// Now is inside the window around a leap second (code 4).
    InLeapWindow = 4,
    /// The writer closed the record, or the file was removed or replaced by one that cannot
    /// be opened (code 5).
    WriterGone = 5,
    /// The record or its replacement has a layout this reader does not know (code 6).
    LayoutMismatch = 6,
    /// No consistent copy within the bounded number of attempts (code 7).
    Busy = 7,
    /// The payload checksum does not match (code 8).
    Checksum = 8,
    /// The reader's CLOCK_MONOTONIC is not the writer's (time namespace offset, or the record
    /// was updated in the reader's future), so expiry cannot be judged (code 9).
    ClockNamespace = 9,
    /// The leap second state is UNKNOWN (code 10).
    LeapUnknown = 10,
    /// The record contradicts itself: an undefined code, or a validity longer than
    /// [`MAX_VALIDITY_NS`] (code 11).
    Inconsistent = 11,
    /// The reader could not read CLOCK_REALTIME for a timestamp (code 12).
    ClockUnreadable = 12,
}

impl Reason {
    /// All reasons, in code order.
    pub const ALL: [Reason; 12] = [
        Reason::Expired,
        Reason::OutOfSync,
        Reason::Unknown,
        Reason::InLeapWindow,
        Reason::WriterGone,
        Reason::LayoutMismatch,
        Reason::Busy,
        Reason::Checksum,
        Reason::ClockNamespace,
        Reason::LeapUnknown,
        Reason::Inconsistent,
        Reason::ClockUnreadable,
    ];

    /// A short description, one line, no trailing period.
    pub fn describe(self) -> &'static str {
        match self {
            Reason::Expired => "trust state expired (daemon not renewing it)",
            Reason::OutOfSync => "clock out of sync",
            Reason::Unknown => "sync state unknown",
            Reason::InLeapWindow => "inside leap second window",
            Reason::WriterGone => "writer has gone",
            Reason::LayoutMismatch => "record layout not understood",
            Reason::Busy => "record busy (no consistent read)",
            Reason::Checksum => "record checksum mismatch",
            Reason::ClockNamespace => "reader's monotonic clock differs from the writer's",
            Reason::LeapUnknown => "leap second state unknown",
            Reason::Inconsistent => "record contradicts itself",
            Reason::ClockUnreadable => "CLOCK_REALTIME could not be read",
        }
    }

    /// True for refusals that a replaced file (daemon restart) could explain, so the reader
    /// should look at the path again.
    pub(crate) fn may_be_restart(self) -> bool {
        !matches!(
            self,
            Reason::OutOfSync | Reason::InLeapWindow | Reason::Busy | Reason::ClockUnreadable
        )
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// The answer to "may I sign now?".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// True only if every check passed; then `reason` is `None`.
    pub may_sign: bool,
    /// The published sync state (UNKNOWN when the record could not be read).
    pub state: SyncState,
    /// The published leap state (UNKNOWN when the record could not be read).
    pub leap: LeapState,
    /// The published error bound in ns (`u64::MAX` when the record could not be read).
    pub error_bound_ns: u64,
    /// Why not, when `may_sign` is false.
    pub reason: Option<Reason>,
}

impl Verdict {
    /// A refusal that carries nothing from the record.
    pub fn refused(reason: Reason) -> Verdict {
        Verdict {
            may_sign: false,
            state: SyncState::Unknown,
            leap: LeapState::Unknown,
            error_bound_ns: u64::MAX,
            reason: Some(reason),
        }
    }
}

/// Decides a verdict from one seqlock read of the verdict block and the reader's clock.
///
/// `clock_domain_ok` is false when the reader found at open that its CLOCK_MONOTONIC differs
/// from the writer's (time namespaces).
#[inline]
pub fn judge(
    outcome: ReadOutcome,
    w: &[u64; VERDICT_WORDS],
    now_mono_ns: i64,
    clock_domain_ok: bool,
) -> Verdict {
    match outcome {
        ReadOutcome::Copied { .. } => {}
        ReadOutcome::NeverWritten => return Verdict::refused(Reason::Unknown),
        ReadOutcome::Busy => return Verdict::refused(Reason::Busy),
    }
    if w[word::VERDICT_CHECKSUM] != verdict_checksum(w) {
        return Verdict::refused(Reason::Checksum);
    }
    let (Some(state), Some(leap)) = (
        SyncState::from_code(w[word::SYNC_STATE]),
        LeapState::from_code(w[word::LEAP_STATE]),
    ) else {
        return Verdict::refused(Reason::Inconsistent);
    };
    let error_bound_ns = w[word::ERROR_BOUND_NS];
    let reason = refusal(state, leap, w, now_mono_ns, clock_domain_ok);
    Verdict {
        may_sign: reason.is_none(),
        state,
        leap,
        error_bound_ns,
        reason,
    }
}

/// The first check that fails, in the order a signer's operator would want to hear about it.
#[inline]
fn refusal(
    state: SyncState,
    leap: LeapState,
    w: &[u64; VERDICT_WORDS],
    now: i64,
    clock_domain_ok: bool,
) -> Option<Reason> {
    let updated_at = w[word::UPDATED_AT_MONO_NS] as i64;
    let valid_until = w[word::VALID_UNTIL_MONO_NS] as i64;
    if writer_closed(w[word::FLAGS]) {
        return Some(Reason::WriterGone);
    }
    if !clock_domain_ok || now < updated_at {
        return Some(Reason::ClockNamespace);
    }
    if now >= valid_until {
        return Some(Reason::Expired);
    }
    if valid_until.saturating_sub(updated_at) > MAX_VALIDITY_NS {
        return Some(Reason::Inconsistent);
    }
    match state {
        SyncState::InSync | SyncState::SoonOutOfSync => {}
        SyncState::OutOfSync => return Some(Reason::OutOfSync),
        SyncState::Unknown => return Some(Reason::Unknown),
    }
    if w[word::ERROR_BOUND_NS] > w[word::DECLARED_ACCURACY_NS] {
        return Some(Reason::OutOfSync);
    }
    if leap == LeapState::Unknown {
        return Some(Reason::LeapUnknown);
    }
    let window_start = w[word::LEAP_WINDOW_START_MONO_NS] as i64;
    let window_end = w[word::LEAP_WINDOW_END_MONO_NS] as i64;
    if window_start <= now && now < window_end {
        return Some(Reason::InLeapWindow);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::FLAG_WRITER_CLOSED;
    use crate::state::tests::insync_at;
    use crate::state::{encode, LeapWindow, State};

    const T0: i64 = 1_000_000_000_000;
    const COPIED: ReadOutcome = ReadOutcome::Copied { seq: 2, retries: 0 };

    fn block(state: &State, flags: u64) -> [u64; VERDICT_WORDS] {
        encode(state, flags)[..VERDICT_WORDS].try_into().unwrap()
    }

    fn verdict(state: &State, now: i64) -> Verdict {
        judge(COPIED, &block(state, 0), now, true)
    }

    #[test]
    fn insync_and_fresh_may_sign() {
        let v = verdict(&insync_at(T0), T0 + 1);
        assert_eq!(
            v,
            Verdict {
                may_sign: true,
                state: SyncState::InSync,
                leap: LeapState::None,
                error_bound_ns: 1_200,
                reason: None
            }
        );
        let mut soon = insync_at(T0);
        soon.sync = SyncState::SoonOutOfSync;
        assert!(verdict(&soon, T0).may_sign);
    }

    #[test]
    fn expiry_is_exclusive_at_valid_until() {
        let s = insync_at(T0);
        assert!(verdict(&s, s.valid_until_mono_ns - 1).may_sign);
        let v = verdict(&s, s.valid_until_mono_ns);
        assert_eq!((v.may_sign, v.reason), (false, Some(Reason::Expired)));
        assert_eq!(v.state, SyncState::InSync, "state is still reported");
    }

    #[test]
    fn each_state_refusal_has_its_reason() {
        let mut s = insync_at(T0);
        s.sync = SyncState::OutOfSync;
        assert_eq!(verdict(&s, T0).reason, Some(Reason::OutOfSync));
        s.sync = SyncState::Unknown;
        assert_eq!(verdict(&s, T0).reason, Some(Reason::Unknown));
        let mut s = insync_at(T0);
        s.error_bound_ns = s.declared_accuracy_ns + 1;
        assert_eq!(verdict(&s, T0).reason, Some(Reason::OutOfSync));
        let mut s = insync_at(T0);
        s.leap = LeapState::Unknown;
        assert_eq!(verdict(&s, T0).reason, Some(Reason::LeapUnknown));
    }

    #[test]
    fn leap_window_pauses_signing_inside_only() {
        let mut s = insync_at(T0);
        s.leap = LeapState::Positive;
        s.leap_window = Some(LeapWindow {
            start_realtime_ns: 0,
            end_realtime_ns: 0,
            start_mono_ns: T0 + 100,
            end_mono_ns: T0 + 200,
        });
        assert!(verdict(&s, T0 + 99).may_sign);
        assert_eq!(verdict(&s, T0 + 100).reason, Some(Reason::InLeapWindow));
        assert_eq!(verdict(&s, T0 + 199).reason, Some(Reason::InLeapWindow));
        assert!(verdict(&s, T0 + 200).may_sign);
    }

    #[test]
    fn closed_writer_is_gone_whatever_the_state_says() {
        let v = judge(COPIED, &block(&insync_at(T0), FLAG_WRITER_CLOSED), T0, true);
        assert_eq!(v.reason, Some(Reason::WriterGone));
        assert!(!v.may_sign);
    }

    #[test]
    fn foreign_clock_domain_is_refused() {
        let s = insync_at(T0);
        let v = judge(COPIED, &block(&s, 0), T0 + 1, false);
        assert_eq!(v.reason, Some(Reason::ClockNamespace));
        // A reader whose monotonic clock runs behind the writer's sees an update from its future.
        assert_eq!(verdict(&s, T0 - 1).reason, Some(Reason::ClockNamespace));
    }

    #[test]
    fn overlong_validity_is_inconsistent() {
        let mut s = insync_at(T0);
        s.valid_until_mono_ns = T0 + MAX_VALIDITY_NS + 1;
        assert_eq!(verdict(&s, T0).reason, Some(Reason::Inconsistent));
        s.valid_until_mono_ns = T0 + MAX_VALIDITY_NS;
        assert!(verdict(&s, T0).may_sign);
    }

    #[test]
    fn read_failures_and_bad_words_are_refused() {
        let good = block(&insync_at(T0), 0);
        let busy = judge(ReadOutcome::Busy, &good, T0, true);
        assert_eq!(busy, Verdict::refused(Reason::Busy));
        let never = judge(ReadOutcome::NeverWritten, &good, T0, true);
        assert_eq!(never.reason, Some(Reason::Unknown));
        let mut torn = good;
        torn[word::ERROR_BOUND_NS] = 1;
        assert_eq!(
            judge(COPIED, &torn, T0, true).reason,
            Some(Reason::Checksum)
        );
        assert_eq!(
            judge(COPIED, &[0; VERDICT_WORDS], T0, true).reason,
            Some(Reason::Checksum)
        );
        let mut undefined = good;
        undefined[word::LEAP_STATE] = 9;
        undefined[word::VERDICT_CHECKSUM] = verdict_checksum(&undefined);
        assert_eq!(
            judge(COPIED, &undefined, T0, true).reason,
            Some(Reason::Inconsistent)
        );
    }

    #[test]
    fn reason_codes_are_stable() {
        for (i, reason) in Reason::ALL.iter().enumerate() {
            assert_eq!(*reason as u32, i as u32 + 1);
            assert!(!reason.describe().is_empty());
        }
    }
}
