//! The byte layout of the shared-memory record: header, sequence, payload words, checksums.
//!
//! `shm/LAYOUT.md` describes the same layout for readers in other languages; the two must
//! change together, and the tests at the bottom pin every offset. The record is only ever
//! accessed through atomics (see `seqlock.rs`). This module must never read a file, a clock, or
//! memory it did not get as a `&Record`.

use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64};

/// The first 8 bytes of every record: the ASCII bytes `PPSD-SHM` (read as a little-endian u64
/// on the little-endian hosts ppsd runs on).
pub const MAGIC: u64 = u64::from_le_bytes(*b"PPSD-SHM");

/// The layout version this crate writes and reads. A reader refuses any other version.
pub const LAYOUT_VERSION: u32 = 1;

/// Size in bytes of a version-1 record (and of the file that holds it).
pub const RECORD_SIZE: usize = 384;

/// Number of 64-bit payload words (both blocks, checksums included).
pub const PAYLOAD_WORDS: usize = 26;

/// Number of words in the verdict block (the words `check()` reads), checksum included.
pub const VERDICT_WORDS: usize = 10;

/// Value of `writer_timens_monotonic_offset_ns` when the writer could not tell its own time
/// namespace offset. Readers refuse such a record.
pub const TIMENS_OFFSET_UNKNOWN: i64 = i64::MIN;

/// Bit in the `flags` word: the writer has shut down and this record will never be renewed.
pub const FLAG_WRITER_CLOSED: u64 = 1;

/// Indices of the payload words. Word `i` sits at byte offset `128 + 8 * i`.
pub mod word {
    /// Sync state code (see [`crate::SyncState`]).
    pub const SYNC_STATE: usize = 0;
    /// Leap state code (see [`crate::LeapState`]).
    pub const LEAP_STATE: usize = 1;
    /// Flag bits ([`super::FLAG_WRITER_CLOSED`]).
    pub const FLAGS: usize = 2;
    /// Error bound in ns: a bound on |CLOCK_REALTIME − UTC| that the daemon guarantees.
    pub const ERROR_BOUND_NS: usize = 3;
    /// Declared accuracy in ns (the TSA's promise; INSYNC requires bound ≤ accuracy).
    pub const DECLARED_ACCURACY_NS: usize = 4;
    /// CLOCK_MONOTONIC ns when the state was computed.
    pub const UPDATED_AT_MONO_NS: usize = 5;
    /// CLOCK_MONOTONIC ns after which the state must not be used.
    pub const VALID_UNTIL_MONO_NS: usize = 6;
    /// Start of the leap window, CLOCK_MONOTONIC ns (0 with end 0: no window).
    pub const LEAP_WINDOW_START_MONO_NS: usize = 7;
    /// End (exclusive) of the leap window, CLOCK_MONOTONIC ns.
    pub const LEAP_WINDOW_END_MONO_NS: usize = 8;
    /// Checksum of words 0..=8.
    pub const VERDICT_CHECKSUM: usize = 9;
    /// Estimated offset of CLOCK_REALTIME from the reference, ns (positive: clock ahead).
    pub const OFFSET_NS: usize = 10;
    /// Estimated fractional frequency offset of the clock, parts per trillion (1e-12).
    pub const FREQUENCY_OFFSET_PPT: usize = 11;
    /// CLOCK_REALTIME ns of the last accepted pulse (0: none yet).
    pub const LAST_PULSE_REALTIME_NS: usize = 12;
    /// TAI − UTC in seconds (0: unknown).
    pub const TAI_OFFSET_S: usize = 13;
    /// UTC seconds since 1970 at which the next leap second takes effect (0: none scheduled).
    pub const NEXT_LEAP_UTC_S: usize = 14;
    /// Start of the leap window, CLOCK_REALTIME ns.
    pub const LEAP_WINDOW_START_REALTIME_NS: usize = 15;
    /// End (exclusive) of the leap window, CLOCK_REALTIME ns.
    pub const LEAP_WINDOW_END_REALTIME_NS: usize = 16;
    /// First of 4 words: pulse source identifier, 32 bytes ASCII, NUL-padded.
    pub const PULSE_SOURCE_ID: usize = 17;
    /// First of 4 words: time-of-day reference identifier, 32 bytes ASCII, NUL-padded.
    pub const TIME_OF_DAY_REF_ID: usize = 21;
    /// Checksum of words 10..=24.
    pub const INFO_CHECKSUM: usize = 25;
}

/// The shared-memory record. `#[repr(C)]`, 64-byte aligned, every field an atomic so that
/// other processes may read or write it concurrently without undefined behaviour.
///
/// Cache line 0 is the header (written once, before the file is renamed into place), line 1
/// holds only the sequence, lines 2–5 the payload and reserved space.
#[repr(C, align(64))]
#[derive(Debug)]
pub struct Record {
    pub(crate) magic: AtomicU64,
    pub(crate) layout_version: AtomicU32,
    pub(crate) record_size: AtomicU32,
    pub(crate) writer_pid: AtomicU32,
    pub(crate) header_reserved: AtomicU32,
    pub(crate) writer_generation: AtomicU64,
    pub(crate) writer_timens_monotonic_offset_ns: AtomicI64,
    pub(crate) reserved_header: [AtomicU64; 3],
    pub(crate) seq: AtomicU64,
    pub(crate) reserved_seq: [AtomicU64; 7],
    pub(crate) payload: [AtomicU64; PAYLOAD_WORDS],
    pub(crate) reserved_tail: [AtomicU64; 6],
}

impl Record {
    /// An all-zero record (never written, no header): what a fresh file maps as.
    pub fn zeroed() -> Record {
        Record {
            magic: AtomicU64::new(0),
            layout_version: AtomicU32::new(0),
            record_size: AtomicU32::new(0),
            writer_pid: AtomicU32::new(0),
            header_reserved: AtomicU32::new(0),
            writer_generation: AtomicU64::new(0),
            writer_timens_monotonic_offset_ns: AtomicI64::new(0),
            reserved_header: [const { AtomicU64::new(0) }; 3],
            seq: AtomicU64::new(0),
            reserved_seq: [const { AtomicU64::new(0) }; 7],
            payload: [const { AtomicU64::new(0) }; PAYLOAD_WORDS],
            reserved_tail: [const { AtomicU64::new(0) }; 6],
        }
    }
}

const _: () = assert!(std::mem::size_of::<Record>() == RECORD_SIZE);
const _: () = assert!(std::mem::align_of::<Record>() == 64);

/// Tag mixed into the verdict block's checksum (so the two blocks' sums differ).
pub const VERDICT_CHECKSUM_TAG: u64 = 1;
/// Tag mixed into the info block's checksum.
pub const INFO_CHECKSUM_TAG: u64 = 2;

const CHECKSUM_SEED: u64 = 0x9E37_79B9_7F4A_7C15;
const CHECKSUM_INDEX_KEY: u64 = 0xD6E8_FEB8_6659_FD93;
const CHECKSUM_MULTIPLIER: u64 = 0xFF51_AFD7_ED55_8CCD;

/// Longest block the checksum covers (the info block has 15 words).
const CHECKSUM_MAX_WORDS: usize = 16;

/// `key[i] = CHECKSUM_INDEX_KEY × (i + 1)` (wrapping), precomputed.
const CHECKSUM_KEYS: [u64; CHECKSUM_MAX_WORDS] = {
    let mut keys = [0u64; CHECKSUM_MAX_WORDS];
    let mut i = 0;
    while i < CHECKSUM_MAX_WORDS {
        keys[i] = CHECKSUM_INDEX_KEY.wrapping_mul(i as u64 + 1);
        i += 1;
    }
    keys
};

/// The payload checksum ("ppsd-mix64"), as specified in `LAYOUT.md`:
/// `seed ^ tag ^ len + Σ mix(word[i] ^ key[i])` (wrapping), where
/// `mix(x) = m ^ (m >> 32)` with `m = x × multiplier` (wrapping).
///
/// `mix` is a bijection, so changing any single word always changes the sum; the index keys
/// make swapped words change it too. Words are mixed independently so the CPU does them in
/// parallel: the check must cost well under one clock read, and a byte-wise FNV-1a over the
/// same 72 bytes alone costs several times that.
///
/// # Panics
/// If `words` is longer than 16 (a bug in this crate: blocks have fixed sizes).
#[inline]
pub fn checksum(tag: u64, words: &[u64]) -> u64 {
    assert!(words.len() <= CHECKSUM_MAX_WORDS, "checksum block too long");
    let mut sum = CHECKSUM_SEED ^ tag ^ words.len() as u64;
    for (&value, &key) in words.iter().zip(&CHECKSUM_KEYS) {
        let mixed = (value ^ key).wrapping_mul(CHECKSUM_MULTIPLIER);
        sum = sum.wrapping_add(mixed ^ (mixed >> 32));
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    #[test]
    fn offsets_match_layout_md() {
        assert_eq!(offset_of!(Record, magic), 0);
        assert_eq!(offset_of!(Record, layout_version), 8);
        assert_eq!(offset_of!(Record, record_size), 12);
        assert_eq!(offset_of!(Record, writer_pid), 16);
        assert_eq!(offset_of!(Record, header_reserved), 20);
        assert_eq!(offset_of!(Record, writer_generation), 24);
        assert_eq!(offset_of!(Record, writer_timens_monotonic_offset_ns), 32);
        assert_eq!(offset_of!(Record, seq), 64);
        assert_eq!(offset_of!(Record, payload), 128);
        assert_eq!(offset_of!(Record, reserved_tail), 128 + 8 * PAYLOAD_WORDS);
        assert_eq!(word::INFO_CHECKSUM, PAYLOAD_WORDS - 1);
        assert_eq!(word::VERDICT_CHECKSUM, VERDICT_WORDS - 1);
    }

    #[test]
    fn magic_reads_as_ascii_in_a_hexdump() {
        assert_eq!(&MAGIC.to_le_bytes(), b"PPSD-SHM");
    }

    #[test]
    fn checksum_test_vectors_in_layout_md() {
        // These values are printed in LAYOUT.md for implementers in other languages.
        assert_eq!(
            checksum(VERDICT_CHECKSUM_TAG, &[0; 9]),
            0xDB52_EA7F_5A40_5C32
        );
        let counting: Vec<u64> = (1..=9).collect();
        assert_eq!(
            checksum(VERDICT_CHECKSUM_TAG, &counting),
            0xEF11_FF0C_36A9_0250
        );
        assert_eq!(checksum(INFO_CHECKSUM_TAG, &[0; 15]), 0x412B_5120_7EA4_AF63);
    }

    #[test]
    fn layout_md_states_the_same_constants() {
        let doc = include_str!("../LAYOUT.md");
        let hex = |v: u64| format!("0x{v:016X}");
        for needle in [
            hex(MAGIC),
            hex(checksum(VERDICT_CHECKSUM_TAG, &[0; 9])),
            hex(checksum(VERDICT_CHECKSUM_TAG, &[1, 2, 3, 4, 5, 6, 7, 8, 9])),
            hex(checksum(INFO_CHECKSUM_TAG, &[0; 15])),
            hex(CHECKSUM_SEED),
            hex(CHECKSUM_INDEX_KEY),
            hex(CHECKSUM_MULTIPLIER),
            format!("exactly **{RECORD_SIZE} bytes**"),
        ] {
            assert!(doc.contains(&needle), "LAYOUT.md lacks {needle}");
        }
        for (name, index) in [
            ("sync_state", word::SYNC_STATE),
            ("valid_until_mono_ns", word::VALID_UNTIL_MONO_NS),
            ("verdict_checksum", word::VERDICT_CHECKSUM),
            ("frequency_offset_ppt", word::FREQUENCY_OFFSET_PPT),
            ("info_checksum", word::INFO_CHECKSUM),
        ] {
            let row = format!("| {index} | {} | ", 128 + 8 * index);
            let field = format!(" | `{name}` | ");
            let line = doc
                .lines()
                .find(|l| l.starts_with('|') && l.contains(&field));
            assert!(
                line.is_some_and(|l| l.starts_with(&row)),
                "LAYOUT.md row for {name}"
            );
        }
    }

    #[test]
    fn zero_payload_does_not_carry_a_valid_zero_checksum() {
        assert_ne!(checksum(VERDICT_CHECKSUM_TAG, &[0; 9]), 0);
        assert_ne!(checksum(INFO_CHECKSUM_TAG, &[0; 15]), 0);
    }

    #[test]
    fn any_single_bit_flip_or_word_swap_changes_the_checksum() {
        let base: Vec<u64> = (0..9u64)
            .map(|i| i.wrapping_mul(0x0123_4567_89AB_CDEF))
            .collect();
        let reference = checksum(VERDICT_CHECKSUM_TAG, &base);
        for index in 0..base.len() {
            for bit in 0..64 {
                let mut flipped = base.clone();
                flipped[index] ^= 1 << bit;
                assert_ne!(checksum(VERDICT_CHECKSUM_TAG, &flipped), reference);
            }
        }
        let mut swapped = base.clone();
        swapped.swap(2, 5);
        assert_ne!(checksum(VERDICT_CHECKSUM_TAG, &swapped), reference);
        assert_ne!(checksum(INFO_CHECKSUM_TAG, &base), reference);
    }
}
