//! The signer's answer: may I sign now, with what error bound, and if not, why not.
//!
//! Pure: [`decode_block`] verifies and decodes a copied verdict block once per published
//! version, and [`judge_at`] decides from it and the reader's own CLOCK_MONOTONIC reading. It must never say "may sign" unless every
//! check passes: a decision it cannot make is a refusal with a reason.

use crate::layout::{word, VERDICT_WORDS};
#[cfg(test)]
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
    /// The record file was truncated under the reader's mapping; the SIGBUS guard caught the
    /// fault (code 13).
    FileShrunk = 13,
}

impl Reason {
    /// All reasons, in code order.
    pub const ALL: [Reason; 13] = [
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
        Reason::FileShrunk,
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
            Reason::FileShrunk => "record file truncated under the mapping",
        }
    }

    /// True for refusals that a replaced file (daemon restart) could explain, so the reader
    /// should look at the path again. `Busy` counts: a writer that died mid-write leaves the
    /// sequence odd for good, and only its successor's new file ends that.
    pub(crate) fn may_be_restart(self) -> bool {
        !matches!(
            self,
            Reason::OutOfSync | Reason::InLeapWindow | Reason::ClockUnreadable
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

/// A verdict block whose checksum and codes have been verified, decoded once per published
/// version so that repeated checks of the same version only compare times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Published {
    state: SyncState,
    leap: LeapState,
    error_bound_ns: u64,
    writer_closed: bool,
    updated_at_mono_ns: i64,
    valid_until_mono_ns: i64,
    window_start_mono_ns: i64,
    window_end_mono_ns: i64,
    /// The refusal this version earns whatever the time (state, bound, leap, validity).
    standing_refusal: Option<Reason>,
}

impl Published {
    /// A placeholder for "nothing decoded yet" that refuses if it is ever judged.
    pub(crate) const NONE: Published = Published {
        state: SyncState::Unknown,
        leap: LeapState::Unknown,
        error_bound_ns: u64::MAX,
        writer_closed: false,
        updated_at_mono_ns: 0,
        valid_until_mono_ns: 0,
        window_start_mono_ns: 0,
        window_end_mono_ns: 0,
        standing_refusal: Some(Reason::Unknown),
    };
}

/// Verifies the checksum and codes of a copied verdict block and decodes it.
///
/// # Errors
/// `Checksum` if the block's checksum does not match, `Inconsistent` for an undefined code.
pub(crate) fn decode_block(w: &[u64; VERDICT_WORDS]) -> Result<Published, Reason> {
    if w[word::VERDICT_CHECKSUM] != verdict_checksum(w) {
        return Err(Reason::Checksum);
    }
    let (Some(state), Some(leap)) = (
        SyncState::from_code(w[word::SYNC_STATE]),
        LeapState::from_code(w[word::LEAP_STATE]),
    ) else {
        return Err(Reason::Inconsistent);
    };
    let updated_at_mono_ns = w[word::UPDATED_AT_MONO_NS] as i64;
    let valid_until_mono_ns = w[word::VALID_UNTIL_MONO_NS] as i64;
    let error_bound_ns = w[word::ERROR_BOUND_NS];
    let standing_refusal =
        if valid_until_mono_ns.saturating_sub(updated_at_mono_ns) > MAX_VALIDITY_NS {
            Some(Reason::Inconsistent)
        } else {
            match state {
                SyncState::OutOfSync => Some(Reason::OutOfSync),
                SyncState::Unknown => Some(Reason::Unknown),
                _ if error_bound_ns > w[word::DECLARED_ACCURACY_NS] => Some(Reason::OutOfSync),
                _ if leap == LeapState::Unknown => Some(Reason::LeapUnknown),
                SyncState::InSync | SyncState::SoonOutOfSync => None,
            }
        };
    Ok(Published {
        state,
        leap,
        error_bound_ns,
        writer_closed: writer_closed(w[word::FLAGS]),
        updated_at_mono_ns,
        valid_until_mono_ns,
        window_start_mono_ns: w[word::LEAP_WINDOW_START_MONO_NS] as i64,
        window_end_mono_ns: w[word::LEAP_WINDOW_END_MONO_NS] as i64,
        standing_refusal,
    })
}

/// The verdict for a decoded version at the reader's CLOCK_MONOTONIC `now`. Checks, in the
/// order an operator wants to hear about them: writer closed, clock domain, expiry, the
/// version's standing refusal, leap window.
///
/// `clock_domain_ok` is false when the reader found at open that its CLOCK_MONOTONIC differs
/// from the writer's (time namespaces); an update from the reader's future says the same.
#[inline]
pub(crate) fn judge_at(p: &Published, now: i64, clock_domain_ok: bool) -> Verdict {
    let reason = if p.writer_closed {
        Some(Reason::WriterGone)
    } else if !clock_domain_ok || now < p.updated_at_mono_ns {
        Some(Reason::ClockNamespace)
    } else if now >= p.valid_until_mono_ns {
        Some(Reason::Expired)
    } else if p.standing_refusal.is_some() {
        p.standing_refusal
    } else if p.window_start_mono_ns <= now && now < p.window_end_mono_ns {
        Some(Reason::InLeapWindow)
    } else {
        None
    };
    Verdict {
        may_sign: reason.is_none(),
        state: p.state,
        leap: p.leap,
        error_bound_ns: p.error_bound_ns,
        reason,
    }
}

/// Decides a verdict from one seqlock read of the verdict block and the reader's clock (the
/// reader does the same in two steps, caching the decoded block).
#[cfg(test)]
pub(crate) fn judge(
    outcome: ReadOutcome,
    w: &[u64; VERDICT_WORDS],
    now_mono_ns: i64,
    clock_domain_ok: bool,
) -> Verdict {
    match outcome {
        ReadOutcome::Copied { .. } => match decode_block(w) {
            Ok(published) => judge_at(&published, now_mono_ns, clock_domain_ok),
            Err(reason) => Verdict::refused(reason),
        },
        ReadOutcome::NeverWritten => Verdict::refused(Reason::Unknown),
        ReadOutcome::Busy => Verdict::refused(Reason::Busy),
    }
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
