//! Errors of the leap-seconds.list parser and its expiry verdict.
//!
//! Each error names its source and, where there is one, the line, and prints as one line (the
//! text of a bad field is shortened and escaped). Nothing here may panic or print raw input.

use super::{hash_string, utc_string, NTP_UNIX_OFFSET_S};
use std::fmt;

/// Why a list was refused, or found expired; names the source and, where there is one, the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeapError {
    source: String,
    line: Option<usize>,
    kind: LeapErrorKind,
}

/// The kinds of [`LeapError`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeapErrorKind {
    /// The input stops early: empty, cut inside a line, or without a required line.
    Truncated {
        /// What is missing.
        detail: &'static str,
    },
    /// A field that must be a number is not one, or is out of range.
    BadNumber {
        /// Which field.
        field: &'static str,
        /// The field as found (shortened, escaped).
        text: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A data line without exactly two fields.
    BadLine {
        /// What is wrong with it.
        detail: &'static str,
    },
    /// A `#$`, `#@` or `#h` line given twice.
    Duplicate {
        /// Which line kind.
        what: &'static str,
        /// Where it first appeared.
        first_line: usize,
    },
    /// An entry not later than the one before it.
    NonIncreasing {
        /// Line of the entry before.
        previous_line: usize,
        /// NTP seconds of the entry before.
        previous_ntp_s: i64,
        /// NTP seconds of this entry.
        ntp_s: i64,
    },
    /// TAI − UTC changing by anything but one second between consecutive entries.
    BadStep {
        /// Offset of the entry before.
        previous_offset_s: i32,
        /// Offset of this entry.
        offset_s: i32,
    },
    /// An entry that is not at a UTC midnight, where leap seconds take effect.
    NotMidnight {
        /// NTP seconds of the entry.
        ntp_s: i64,
    },
    /// The last update is not before the expiry.
    UpdateNotBeforeExpiry {
        /// `#$` value, Unix seconds.
        updated_unix_s: i64,
        /// `#@` value, Unix seconds.
        expires_unix_s: i64,
    },
    /// The `#h` hash does not match the data.
    HashMismatch {
        /// The five words of the `#h` line.
        expected: [u32; 5],
        /// The five words computed from the data.
        computed: [u32; 5],
    },
    /// The list had expired at the instant asked about (a verdict; the data stay usable).
    Expired {
        /// The list's expiry, Unix seconds.
        expires_unix_s: i64,
        /// The instant checked, Unix seconds.
        at_unix_s: i64,
    },
}

impl LeapError {
    pub(super) fn new(source: &str, line: Option<usize>, kind: LeapErrorKind) -> LeapError {
        LeapError {
            source: source.to_owned(),
            line,
            kind,
        }
    }

    /// The name of the list the error is about.
    pub fn source_name(&self) -> &str {
        &self.source
    }

    /// The 1-based line the error is about, if it is about one line.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// What went wrong.
    pub fn kind(&self) -> &LeapErrorKind {
        &self.kind
    }
}

impl fmt::Display for LeapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(n) => write!(f, "{}:{n}: ", self.source)?,
            None => write!(f, "{}: ", self.source)?,
        }
        match &self.kind {
            LeapErrorKind::Truncated { detail } => write!(f, "truncated or incomplete: {detail}"),
            LeapErrorKind::BadNumber { field, text, why } => {
                write!(f, "bad number in {field} \"{text}\": {why}")
            }
            LeapErrorKind::BadLine { detail } => write!(f, "bad data line: {detail}"),
            LeapErrorKind::Duplicate { what, first_line } => {
                write!(f, "second {what} line (the first is on line {first_line})")
            }
            LeapErrorKind::NonIncreasing {
                previous_line,
                previous_ntp_s,
                ntp_s,
            } => write!(
                f,
                "entries not increasing: NTP time {ntp_s} is not after {previous_ntp_s} on line \
                 {previous_line}"
            ),
            LeapErrorKind::BadStep {
                previous_offset_s,
                offset_s,
            } => write!(
                f,
                "TAI-UTC goes from {previous_offset_s} s to {offset_s} s; a leap changes it by \
                 exactly one second"
            ),
            LeapErrorKind::NotMidnight { ntp_s } => write!(
                f,
                "NTP time {ntp_s} ({}) is not a UTC midnight, where leaps take effect",
                utc_string(ntp_s - NTP_UNIX_OFFSET_S)
            ),
            LeapErrorKind::UpdateNotBeforeExpiry {
                updated_unix_s,
                expires_unix_s,
            } => write!(
                f,
                "last update {} is not before the expiry {}",
                utc_string(*updated_unix_s),
                utc_string(*expires_unix_s)
            ),
            LeapErrorKind::HashMismatch { expected, computed } => write!(
                f,
                "SHA-1 hash mismatch: the #h line says {}, the data hash to {} (file altered or \
                 damaged)",
                hash_string(expected),
                hash_string(computed)
            ),
            LeapErrorKind::Expired {
                expires_unix_s,
                at_unix_s,
            } => write!(
                f,
                "expired at {} (checked at {}): leap seconds announced since are unknown",
                utc_string(*expires_unix_s),
                utc_string(*at_unix_s)
            ),
        }
    }
}

impl std::error::Error for LeapError {}

/// A [`LeapErrorKind::BadNumber`] showing at most 32 bytes of the field, escaped.
pub(super) fn bad_number(field: &'static str, text: &[u8], why: &'static str) -> LeapErrorKind {
    const SHOWN: usize = 32;
    let cut = &text[..text.len().min(SHOWN)];
    let mut shown: String = String::from_utf8_lossy(cut).trim().escape_debug().collect();
    if text.len() > SHOWN {
        shown.push('…');
    }
    LeapErrorKind::BadNumber {
        field,
        text: shown,
        why,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_number_text_is_escaped_and_shortened() {
        let kind = bad_number("NTP time", "12\u{7}3".repeat(20).as_bytes(), "x");
        let LeapErrorKind::BadNumber { text, .. } = kind else {
            panic!("wrong kind")
        };
        assert!(text.starts_with("12\\u{7}3"));
        assert!(text.ends_with('…'));
    }
}
