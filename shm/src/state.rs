//! The trust state the daemon publishes: sync and leap codes, identifiers, and the [`State`]
//! value with its encoding to and from payload words.
//!
//! Encoding is pure: no clock, no file, no atomics. Decoding is strict: an undefined code or a
//! checksum mismatch is an error, never a guess.

use crate::layout::{self, word, FLAG_WRITER_CLOSED, PAYLOAD_WORDS, VERDICT_WORDS};
use std::fmt;

/// Synchronisation state, after SignServer's TimeMonitor. Code 0 is [`SyncState::Unknown`] so a
/// zeroed record fails closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum SyncState {
    /// No valid measurement yet, second numbering unverified, or stale (code 0).
    Unknown = 0,
    /// The error bound is within the declared accuracy (code 1).
    InSync = 1,
    /// Still within the accuracy, but past the warning threshold or about to cross it (code 2).
    SoonOutOfSync = 2,
    /// The error bound exceeds the declared accuracy, or a fault was detected (code 3).
    OutOfSync = 3,
}

/// Leap second state. Code 0 is [`LeapState::Unknown`] so a zeroed record fails closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum LeapState {
    /// The daemon does not know whether a leap second is pending (code 0).
    Unknown = 0,
    /// No leap second pending (code 1).
    None = 1,
    /// A leap second will be inserted at `next_leap_utc_s` (code 2).
    Positive = 2,
    /// A leap second will be deleted at `next_leap_utc_s` (code 3).
    Negative = 3,
}

impl SyncState {
    /// The state for a wire code, or `None` for an undefined code.
    pub fn from_code(code: u64) -> Option<SyncState> {
        Some(match code {
            0 => SyncState::Unknown,
            1 => SyncState::InSync,
            2 => SyncState::SoonOutOfSync,
            3 => SyncState::OutOfSync,
            _ => return None,
        })
    }

    /// The name used in logs and in TimeMonitor's CSV (`INSYNC`, ...).
    pub fn name(self) -> &'static str {
        match self {
            SyncState::Unknown => "UNKNOWN",
            SyncState::InSync => "INSYNC",
            SyncState::SoonOutOfSync => "SOON_OUT_OF_SYNC",
            SyncState::OutOfSync => "OUT_OF_SYNC",
        }
    }
}

impl LeapState {
    /// The state for a wire code, or `None` for an undefined code.
    pub fn from_code(code: u64) -> Option<LeapState> {
        Some(match code {
            0 => LeapState::Unknown,
            1 => LeapState::None,
            2 => LeapState::Positive,
            3 => LeapState::Negative,
            _ => return None,
        })
    }

    /// The name used in logs (`NONE`, `POSITIVE`, ...).
    pub fn name(self) -> &'static str {
        match self {
            LeapState::Unknown => "UNKNOWN",
            LeapState::None => "NONE",
            LeapState::Positive => "POSITIVE",
            LeapState::Negative => "NEGATIVE",
        }
    }
}

/// Length in bytes of an identifier field.
pub const IDENT_LEN: usize = 32;

/// A short identifier (pulse source, time-of-day reference): printable ASCII, at most
/// [`IDENT_LEN`] bytes, stored NUL-padded. Example: `gps0:/dev/pps0`, `nts:ptb.de UTC(PTB)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Ident([u8; IDENT_LEN]);

/// Why a string cannot be an [`Ident`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdentError {
    /// Longer than [`IDENT_LEN`] bytes.
    TooLong(usize),
    /// Contains a byte that is not printable ASCII (0x20..=0x7e).
    NotPrintableAscii,
}

impl fmt::Display for IdentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentError::TooLong(n) => write!(f, "identifier is {n} bytes, at most {IDENT_LEN}"),
            IdentError::NotPrintableAscii => f.write_str("identifier is not printable ASCII"),
        }
    }
}

impl std::error::Error for IdentError {}

impl Ident {
    /// An identifier from printable ASCII text of at most [`IDENT_LEN`] bytes.
    ///
    /// # Errors
    /// [`IdentError`] if the text is too long or not printable ASCII.
    pub fn new(text: &str) -> Result<Ident, IdentError> {
        if text.len() > IDENT_LEN {
            return Err(IdentError::TooLong(text.len()));
        }
        if !text.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err(IdentError::NotPrintableAscii);
        }
        let mut bytes = [0u8; IDENT_LEN];
        bytes[..text.len()].copy_from_slice(text.as_bytes());
        Ok(Ident(bytes))
    }

    /// The identifier as text (up to the first NUL). Bytes a foreign writer put there that are
    /// not printable ASCII are shown as `?`.
    pub fn as_string(&self) -> String {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(IDENT_LEN);
        let printable = |b: &u8| {
            if (0x20..=0x7e).contains(b) {
                *b as char
            } else {
                '?'
            }
        };
        self.0[..end].iter().map(printable).collect()
    }

    fn to_words(self) -> [u64; 4] {
        let mut words = [0u64; 4];
        for (w, chunk) in words.iter_mut().zip(self.0.chunks_exact(8)) {
            *w = u64::from_le_bytes(chunk.try_into().expect("chunks_exact(8)"));
        }
        words
    }

    fn from_words(words: &[u64]) -> Ident {
        let mut bytes = [0u8; IDENT_LEN];
        for (chunk, w) in bytes.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        Ident(bytes)
    }
}

impl fmt::Debug for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ident({:?})", self.as_string())
    }
}

/// The interval around a leap second during which signers should pause, on both clocks. The
/// daemon converts the REALTIME window to CLOCK_MONOTONIC at publish time, so a reader can test
/// it against the single monotonic read it already makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct LeapWindow {
    /// Start, CLOCK_REALTIME ns.
    pub start_realtime_ns: i64,
    /// End (exclusive), CLOCK_REALTIME ns.
    pub end_realtime_ns: i64,
    /// Start, CLOCK_MONOTONIC ns.
    pub start_mono_ns: i64,
    /// End (exclusive), CLOCK_MONOTONIC ns.
    pub end_mono_ns: i64,
}

/// Everything the daemon publishes in one seqlock write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct State {
    /// Synchronisation state.
    pub sync: SyncState,
    /// Leap second state; `Positive`/`Negative` give the sign of the leap at `next_leap_utc_s`.
    pub leap: LeapState,
    /// Bound on |CLOCK_REALTIME − UTC| in ns, valid until `valid_until_mono_ns`.
    pub error_bound_ns: u64,
    /// The accuracy the TSA declares, ns.
    pub declared_accuracy_ns: u64,
    /// Estimated offset of CLOCK_REALTIME from the reference, ns (positive: clock ahead).
    pub offset_ns: i64,
    /// Estimated fractional frequency offset of the clock, parts per trillion (1e-12).
    pub frequency_offset_ppt: i64,
    /// CLOCK_REALTIME ns of the last accepted pulse (0: none yet).
    pub last_pulse_realtime_ns: i64,
    /// CLOCK_MONOTONIC ns when this state was computed.
    pub updated_at_mono_ns: i64,
    /// CLOCK_MONOTONIC ns after which the state must not be used.
    pub valid_until_mono_ns: i64,
    /// TAI − UTC, seconds (0: unknown).
    pub tai_offset_s: i64,
    /// UTC seconds since 1970 when the next leap second takes effect (0: none scheduled).
    pub next_leap_utc_s: i64,
    /// The window around a leap second in which signers should pause, if one is near.
    pub leap_window: Option<LeapWindow>,
    /// Which pulse source disciplines the clock.
    pub pulse_source_id: Ident,
    /// Which time-of-day reference verifies the seconds (traceability to UTC(k)).
    pub time_of_day_ref_id: Ident,
}

impl State {
    /// The state a closing writer leaves behind: UNKNOWN, expired, nothing else.
    pub fn closed() -> State {
        State {
            sync: SyncState::Unknown,
            leap: LeapState::Unknown,
            error_bound_ns: u64::MAX,
            declared_accuracy_ns: 0,
            offset_ns: 0,
            frequency_offset_ppt: 0,
            last_pulse_realtime_ns: 0,
            updated_at_mono_ns: 0,
            valid_until_mono_ns: 0,
            tai_offset_s: 0,
            next_leap_utc_s: 0,
            leap_window: None,
            pulse_source_id: Ident::default(),
            time_of_day_ref_id: Ident::default(),
        }
    }
}

/// Encodes `state` (and `flags`) into payload words, checksums included.
pub(crate) fn encode(state: &State, flags: u64) -> [u64; PAYLOAD_WORDS] {
    let mut w = [0u64; PAYLOAD_WORDS];
    let window = state.leap_window.unwrap_or_default();
    w[word::SYNC_STATE] = state.sync as u64;
    w[word::LEAP_STATE] = state.leap as u64;
    w[word::FLAGS] = flags;
    w[word::ERROR_BOUND_NS] = state.error_bound_ns;
    w[word::DECLARED_ACCURACY_NS] = state.declared_accuracy_ns;
    w[word::UPDATED_AT_MONO_NS] = state.updated_at_mono_ns as u64;
    w[word::VALID_UNTIL_MONO_NS] = state.valid_until_mono_ns as u64;
    w[word::LEAP_WINDOW_START_MONO_NS] = window.start_mono_ns as u64;
    w[word::LEAP_WINDOW_END_MONO_NS] = window.end_mono_ns as u64;
    w[word::OFFSET_NS] = state.offset_ns as u64;
    w[word::FREQUENCY_OFFSET_PPT] = state.frequency_offset_ppt as u64;
    w[word::LAST_PULSE_REALTIME_NS] = state.last_pulse_realtime_ns as u64;
    w[word::TAI_OFFSET_S] = state.tai_offset_s as u64;
    w[word::NEXT_LEAP_UTC_S] = state.next_leap_utc_s as u64;
    w[word::LEAP_WINDOW_START_REALTIME_NS] = window.start_realtime_ns as u64;
    w[word::LEAP_WINDOW_END_REALTIME_NS] = window.end_realtime_ns as u64;
    let pulse = word::PULSE_SOURCE_ID;
    w[pulse..pulse + 4].copy_from_slice(&state.pulse_source_id.to_words());
    let tod = word::TIME_OF_DAY_REF_ID;
    w[tod..tod + 4].copy_from_slice(&state.time_of_day_ref_id.to_words());
    w[word::VERDICT_CHECKSUM] = verdict_checksum(&w[..VERDICT_WORDS]);
    w[word::INFO_CHECKSUM] = info_checksum(&w);
    w
}

/// The checksum a verdict block (words 0..10) must carry in its last word.
#[inline]
pub(crate) fn verdict_checksum(block: &[u64]) -> u64 {
    layout::checksum(
        layout::VERDICT_CHECKSUM_TAG,
        &block[..word::VERDICT_CHECKSUM],
    )
}

fn info_checksum(payload: &[u64]) -> u64 {
    layout::checksum(
        layout::INFO_CHECKSUM_TAG,
        &payload[VERDICT_WORDS..word::INFO_CHECKSUM],
    )
}

/// Why payload words could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// A block's checksum does not match its words.
    Checksum,
    /// A sync or leap code this crate does not define.
    UndefinedCode,
}

/// Decodes a full payload into the state and its flags word, checking both checksums.
pub(crate) fn decode(w: &[u64; PAYLOAD_WORDS]) -> Result<(State, u64), DecodeError> {
    if w[word::VERDICT_CHECKSUM] != verdict_checksum(&w[..VERDICT_WORDS])
        || w[word::INFO_CHECKSUM] != info_checksum(w)
    {
        return Err(DecodeError::Checksum);
    }
    let sync = SyncState::from_code(w[word::SYNC_STATE]).ok_or(DecodeError::UndefinedCode)?;
    let leap = LeapState::from_code(w[word::LEAP_STATE]).ok_or(DecodeError::UndefinedCode)?;
    let window = LeapWindow {
        start_realtime_ns: w[word::LEAP_WINDOW_START_REALTIME_NS] as i64,
        end_realtime_ns: w[word::LEAP_WINDOW_END_REALTIME_NS] as i64,
        start_mono_ns: w[word::LEAP_WINDOW_START_MONO_NS] as i64,
        end_mono_ns: w[word::LEAP_WINDOW_END_MONO_NS] as i64,
    };
    let pulse = word::PULSE_SOURCE_ID;
    let tod = word::TIME_OF_DAY_REF_ID;
    let state = State {
        sync,
        leap,
        error_bound_ns: w[word::ERROR_BOUND_NS],
        declared_accuracy_ns: w[word::DECLARED_ACCURACY_NS],
        offset_ns: w[word::OFFSET_NS] as i64,
        frequency_offset_ppt: w[word::FREQUENCY_OFFSET_PPT] as i64,
        last_pulse_realtime_ns: w[word::LAST_PULSE_REALTIME_NS] as i64,
        updated_at_mono_ns: w[word::UPDATED_AT_MONO_NS] as i64,
        valid_until_mono_ns: w[word::VALID_UNTIL_MONO_NS] as i64,
        tai_offset_s: w[word::TAI_OFFSET_S] as i64,
        next_leap_utc_s: w[word::NEXT_LEAP_UTC_S] as i64,
        leap_window: (window != LeapWindow::default()).then_some(window),
        pulse_source_id: Ident::from_words(&w[pulse..pulse + 4]),
        time_of_day_ref_id: Ident::from_words(&w[tod..tod + 4]),
    };
    Ok((state, w[word::FLAGS]))
}

/// True if `flags` says the writer has closed the record.
pub(crate) fn writer_closed(flags: u64) -> bool {
    flags & FLAG_WRITER_CLOSED != 0
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A plausible INSYNC state for tests, valid from `now` for one second.
    pub(crate) fn insync_at(now_mono_ns: i64) -> State {
        State {
            sync: SyncState::InSync,
            leap: LeapState::None,
            error_bound_ns: 1_200,
            declared_accuracy_ns: 100_000,
            offset_ns: -35,
            frequency_offset_ppt: 12_345_678,
            last_pulse_realtime_ns: 1_750_000_000_000_000_000,
            updated_at_mono_ns: now_mono_ns,
            valid_until_mono_ns: now_mono_ns + 1_000_000_000,
            tai_offset_s: 37,
            next_leap_utc_s: 0,
            leap_window: None,
            pulse_source_id: Ident::new("gps0:/dev/pps0").unwrap(),
            time_of_day_ref_id: Ident::new("nts:time.example UTC(XX)").unwrap(),
        }
    }

    #[test]
    fn encode_decode_round_trip() {
        let mut state = insync_at(5_000_000_000);
        state.leap = LeapState::Positive;
        state.next_leap_utc_s = 1_798_761_600;
        state.leap_window = Some(LeapWindow {
            start_realtime_ns: 1,
            end_realtime_ns: 2,
            start_mono_ns: 3,
            end_mono_ns: 4,
        });
        let words = encode(&state, FLAG_WRITER_CLOSED);
        assert_eq!(decode(&words), Ok((state, FLAG_WRITER_CLOSED)));
        assert!(writer_closed(FLAG_WRITER_CLOSED));
        assert!(!writer_closed(0));
    }

    #[test]
    fn corrupted_word_fails_its_checksum() {
        let words = encode(&insync_at(1), 0);
        for index in 0..PAYLOAD_WORDS {
            let mut bad = words;
            bad[index] ^= 0x10;
            assert_eq!(decode(&bad), Err(DecodeError::Checksum), "word {index}");
        }
    }

    #[test]
    fn all_zero_payload_fails_the_checksum() {
        assert_eq!(decode(&[0; PAYLOAD_WORDS]), Err(DecodeError::Checksum));
    }

    #[test]
    fn undefined_code_is_refused_even_with_a_good_checksum() {
        let mut words = encode(&insync_at(1), 0);
        words[word::SYNC_STATE] = 4;
        words[word::VERDICT_CHECKSUM] = verdict_checksum(&words[..VERDICT_WORDS]);
        assert_eq!(decode(&words), Err(DecodeError::UndefinedCode));
    }

    #[test]
    fn codes_match_the_documented_values() {
        for code in 0..4 {
            assert_eq!(SyncState::from_code(code).unwrap() as u64, code);
            assert_eq!(LeapState::from_code(code).unwrap() as u64, code);
        }
        assert_eq!(SyncState::from_code(4), None);
        assert_eq!(LeapState::from_code(u64::MAX), None);
        assert_eq!(SyncState::SoonOutOfSync.name(), "SOON_OUT_OF_SYNC");
    }

    #[test]
    fn ident_accepts_short_ascii_and_refuses_the_rest() {
        let id = Ident::new("gps0:/dev/pps0").unwrap();
        assert_eq!(id.as_string(), "gps0:/dev/pps0");
        assert_eq!(Ident::new(&"x".repeat(33)), Err(IdentError::TooLong(33)));
        assert_eq!(Ident::new("naïve"), Err(IdentError::NotPrintableAscii));
        assert_eq!(
            Ident::new(&"y".repeat(32)).unwrap().as_string(),
            "y".repeat(32)
        );
        assert_eq!(Ident::from_words(&[0xff, 0, 0, 0]).as_string(), "?");
    }
}
