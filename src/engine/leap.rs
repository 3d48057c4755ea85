//! The IERS/IETF `leap-seconds.list` file: parsing, its SHA-1 check, and the pure leap query.
//!
//! [`ParsedLeapFile::parse`] reads the text of a list (data lines `<NTP seconds> <TAI−UTC>`,
//! `#$` last update, `#@` expiry, `#h` SHA-1) and checks it line by line; [`LeapList::parse`]
//! does the same and also insists that the hash holds. [`LeapList::at`] then answers, for one
//! UTC instant: the TAI−UTC offset, the last and the next leap second with their sign, and
//! whether the list had expired by then. An expired list is a verdict, not a parse failure: the
//! data stay usable, but no leap announced after the expiry date can be known.
//!
//! This module is pure. It never reads a clock or a file (the caller passes the bytes, a name
//! for messages and the instant), never panics on any input, and hands out a [`LeapList`]
//! whose hash did not check only through [`ParsedLeapFile::unverified`], which is for display.
//!
//! Instants are Unix seconds on the UTC timescale (what CLOCK_REALTIME counts). A leap takes
//! effect at the listed instant, always a UTC midnight: a positive leap inserts 23:59:60 just
//! before it (POSIX time repeats the previous second), a negative one skips 23:59:59.

use crate::time::Timestamp;

pub mod arm;
mod error;
mod parse;
pub mod tai;

pub use error::{LeapError, LeapErrorKind};

/// Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01).
pub const NTP_UNIX_OFFSET_S: i64 = 2_208_988_800;

/// Seconds in a UTC day without a leap second, as NTP and Unix time count them.
const SECONDS_PER_DAY: i64 = 86_400;

/// The latest NTP instant accepted: 9999-12-31T00:00:00Z, so every instant stays printable.
const MAX_NTP_S: i64 = 253_402_214_400 + NTP_UNIX_OFFSET_S;

/// One data line: from `unix_s` on, TAI − UTC is `tai_offset_s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeapEntry {
    /// UTC instant (Unix seconds) from which the offset holds.
    pub unix_s: i64,
    /// TAI − UTC in whole seconds from that instant on.
    pub tai_offset_s: i32,
    /// Line of the file the entry came from (1-based).
    pub line: usize,
}

/// Whether a leap second adds a second to UTC or removes one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LeapSign {
    /// 23:59:60 is inserted; TAI − UTC grows by one second.
    Positive,
    /// 23:59:59 is skipped; TAI − UTC shrinks by one second.
    Negative,
}

impl LeapSign {
    /// `"positive"` or `"negative"`.
    pub fn as_str(self) -> &'static str {
        match self {
            LeapSign::Positive => "positive",
            LeapSign::Negative => "negative",
        }
    }
}

/// One leap second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leap {
    /// The UTC midnight (Unix seconds) at which the new offset takes effect; the leap second
    /// itself is the last second of the day before.
    pub unix_s: i64,
    /// Inserted or removed.
    pub sign: LeapSign,
    /// TAI − UTC from `unix_s` on.
    pub tai_offset_s: i32,
}

/// What a list says about one UTC instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeapQuery {
    /// The instant asked about (Unix seconds, floor).
    pub at_unix_s: i64,
    /// TAI − UTC at that instant; `None` before the list's first entry (1972 in real lists).
    pub tai_offset_s: Option<i32>,
    /// The latest leap at or before the instant.
    pub last_leap: Option<Leap>,
    /// The first leap after the instant that the list announces. When `expired` is true,
    /// `None` means "none known", not "none": treat the leap state as unknown.
    pub next_leap: Option<Leap>,
    /// The list's expiry (Unix seconds).
    pub expires_unix_s: i64,
    /// The instant is at or past the expiry.
    pub expired: bool,
}

/// A leap-seconds list whose structure and hash were checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeapList {
    source: String,
    entries: Vec<LeapEntry>,
    updated_unix_s: i64,
    expires_unix_s: i64,
}

/// A list whose structure was checked, with the verdict of its `#h` hash still to act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedLeapFile {
    list: LeapList,
    hash_line: usize,
    expected_hash: [u32; 5],
    computed_hash: [u32; 5],
}

/// An instant as RFC 3339 UTC (`2017-01-01T00:00:00Z`); `unix <n>` if out of the printable range.
pub fn utc_string(unix_s: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix_s)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("unix {unix_s}"))
}

/// A hash as the `#h` line writes it: five 8-digit hex words.
pub fn hash_string(words: &[u32; 5]) -> String {
    let parts: Vec<String> = words.iter().map(|w| format!("{w:08x}")).collect();
    parts.join(" ")
}

impl ParsedLeapFile {
    /// Parses the bytes of a leap-seconds list; `source` names it in errors (usually the path).
    ///
    /// # Errors
    /// A [`LeapError`] naming the source and line for anything but a hash mismatch, which is
    /// kept for [`verify`](Self::verify) so that a caller can still show the content.
    pub fn parse(source: &str, bytes: &[u8]) -> Result<ParsedLeapFile, LeapError> {
        parse::parse_file(source, bytes)
    }

    /// The hash in the `#h` line matches the data.
    pub fn hash_ok(&self) -> bool {
        self.expected_hash == self.computed_hash
    }

    /// The five words of the `#h` line.
    pub fn expected_hash(&self) -> [u32; 5] {
        self.expected_hash
    }

    /// The five words of the SHA-1 computed over the data.
    pub fn computed_hash(&self) -> [u32; 5] {
        self.computed_hash
    }

    /// The hash mismatch as an error, or `None` when the hash holds.
    pub fn hash_error(&self) -> Option<LeapError> {
        (!self.hash_ok()).then(|| {
            LeapError::new(
                &self.list.source,
                Some(self.hash_line),
                LeapErrorKind::HashMismatch {
                    expected: self.expected_hash,
                    computed: self.computed_hash,
                },
            )
        })
    }

    /// The content, whether or not the hash holds: for showing to an operator, never for
    /// steering a clock.
    pub fn unverified(&self) -> &LeapList {
        &self.list
    }

    /// The list, if its hash holds.
    ///
    /// # Errors
    /// [`LeapErrorKind::HashMismatch`] with both hashes.
    pub fn verify(self) -> Result<LeapList, LeapError> {
        match self.hash_error() {
            Some(e) => Err(e),
            None => Ok(self.list),
        }
    }
}

impl LeapList {
    /// Parses a leap-seconds list and checks its hash.
    ///
    /// # Errors
    /// Any [`LeapError`] but [`LeapErrorKind::Expired`], which only
    /// [`check_expiry`](Self::check_expiry) gives.
    pub fn parse(source: &str, bytes: &[u8]) -> Result<LeapList, LeapError> {
        ParsedLeapFile::parse(source, bytes)?.verify()
    }

    /// The name the list was parsed under.
    pub fn source_name(&self) -> &str {
        &self.source
    }

    /// The data lines, in order (never empty).
    pub fn entries(&self) -> &[LeapEntry] {
        &self.entries
    }

    /// The `#$` last update, Unix seconds.
    pub fn updated_unix_s(&self) -> i64 {
        self.updated_unix_s
    }

    /// The `#@` expiry, Unix seconds.
    pub fn expires_unix_s(&self) -> i64 {
        self.expires_unix_s
    }

    /// The list is expired at `at` (at or after its expiry instant).
    pub fn is_expired_at(&self, at: Timestamp) -> bool {
        at.sec() >= self.expires_unix_s
    }

    /// `Ok` while the list is current at `at`.
    ///
    /// # Errors
    /// [`LeapErrorKind::Expired`] once `at` reaches the expiry.
    pub fn check_expiry(&self, at: Timestamp) -> Result<(), LeapError> {
        if !self.is_expired_at(at) {
            return Ok(());
        }
        let kind = LeapErrorKind::Expired {
            expires_unix_s: self.expires_unix_s,
            at_unix_s: at.sec(),
        };
        Err(LeapError::new(&self.source, None, kind))
    }

    /// TAI − UTC, last and next leap, and expiry, at the UTC instant `at`.
    pub fn at(&self, at: Timestamp) -> LeapQuery {
        let t = at.sec();
        // Entries in effect at t: those at or before it.
        let k = self.entries.partition_point(|e| e.unix_s <= t);
        // Every entry after the first is a leap (parsing enforces a ±1 s step).
        let last_leap = if k >= 2 { self.leap(k - 1) } else { None };
        let next_leap = self.leap(k.max(1));
        LeapQuery {
            at_unix_s: t,
            tai_offset_s: k.checked_sub(1).map(|i| self.entries[i].tai_offset_s),
            last_leap,
            next_leap,
            expires_unix_s: self.expires_unix_s,
            expired: self.is_expired_at(at),
        }
    }

    /// All leap seconds in the list, in order.
    pub fn leaps(&self) -> impl Iterator<Item = Leap> + '_ {
        (1..self.entries.len()).filter_map(|i| self.leap(i))
    }

    /// The leap at entry `i` (≥ 1), from the step against entry `i - 1`.
    fn leap(&self, i: usize) -> Option<Leap> {
        let now = self.entries.get(i)?;
        let before = self.entries.get(i.checked_sub(1)?)?;
        let sign = if now.tai_offset_s > before.tai_offset_s {
            LeapSign::Positive
        } else {
            LeapSign::Negative
        };
        Some(Leap {
            unix_s: now.unix_s,
            sign,
            tai_offset_s: now.tai_offset_s,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leap_query_on_a_two_entry_list() {
        // The hash is wrong here on purpose; the query does not depend on it.
        let text = "#$ 3960835200\n#@ 3991593600\n3644697600 36\n3692217600 37\n#h 0 0 0 0 0\n";
        let parsed = ParsedLeapFile::parse("t.list", text.as_bytes()).unwrap();
        assert!(!parsed.hash_ok());
        let list = parsed.unverified();
        let leap_2017 = 3_692_217_600 - NTP_UNIX_OFFSET_S;
        let q = list.at(Timestamp::new(leap_2017 - 1, 999_999_999));
        assert_eq!(q.tai_offset_s, Some(36));
        assert_eq!(q.last_leap, None);
        assert_eq!(
            q.next_leap.map(|l| (l.unix_s, l.sign)),
            Some((leap_2017, LeapSign::Positive))
        );
        let q = list.at(Timestamp::new(leap_2017, 0));
        assert_eq!(q.tai_offset_s, Some(37));
        assert_eq!(q.last_leap.map(|l| l.unix_s), Some(leap_2017));
        assert_eq!(q.next_leap, None);
        let q = list.at(Timestamp::new(0, 0));
        assert_eq!(q.tai_offset_s, None);
        assert_eq!(list.leaps().count(), 1);
    }
}
