//! The seqlock protocol over a sequence word and a block of 64-bit payload words, all atomics.
//!
//! One writer (the daemon) and any number of readers (signers, in other processes). The writer
//! never waits for a reader and a reader never spins without bound: after [`READ_ATTEMPTS`]
//! failed copies it reports [`ReadOutcome::Busy`]. Every access to shared memory is an atomic
//! load or store, never a plain or volatile read, so a copy racing the writer is not undefined
//! behaviour; it is merely discarded when the sequence says it was torn.
//!
//! Readers use only `Relaxed` loads followed by `Acquire` fences, never `Acquire` loads: Rust
//! defines relaxed atomic loads of at most 8 bytes on read-only (`PROT_READ`) memory on the
//! 64-bit targets this crate supports, and makes no such promise for other orderings. A relaxed
//! load followed by an acquire fence orders exactly as an acquire load would.
//!
//! Sequence values: 0 means never written, odd means a write is in progress, even and non-zero
//! means the payload is complete. This module must never block, allocate, or read a clock.

use crate::sync::{fence, spin_hint, AtomicU64};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

/// How many times a reader tries to copy the payload before giving up with
/// [`ReadOutcome::Busy`]. A write takes tens of nanoseconds, so running out of attempts means
/// the writer was preempted mid-write or is publishing far faster than ppsd ever does.
#[cfg(not(loom))]
pub const READ_ATTEMPTS: u32 = 64;
/// Under the loom model a small bound keeps the state space small; the protocol is the same.
#[cfg(loom)]
pub const READ_ATTEMPTS: u32 = 3;

/// What a reader got from one call to [`read`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    /// The payload was copied consistently. `seq` is the (even) sequence it was published
    /// under; `retries` is how many earlier attempts were discarded.
    Copied {
        /// The sequence value the copy belongs to.
        seq: u64,
        /// Discarded attempts before this one.
        retries: u32,
    },
    /// The sequence is 0: the writer has created the record but never published.
    NeverWritten,
    /// Every attempt raced a write; nothing was copied.
    Busy,
}

/// Publishes `src` into `dst` under `seq`: sequence to odd, payload stores, sequence to even.
///
/// Must only ever be called by the single writer of `seq`. The odd store is followed by a
/// `Release` fence so that a reader which sees any of the new payload values also sees the odd
/// sequence when it re-reads it; the final even store is `Release` so that a reader which sees
/// it (through its acquire fence) also sees the whole payload.
///
/// # Panics
/// If `dst` and `src` differ in length (a bug in this crate, never a runtime condition).
pub fn write(seq: &AtomicU64, dst: &[AtomicU64], src: &[u64]) {
    assert_eq!(dst.len(), src.len(), "seqlock write: length mismatch");
    // The writer is the only one storing to `seq`, so a relaxed load sees its own last store.
    let writing = seq.load(Relaxed) | 1;
    seq.store(writing, Relaxed);
    fence(Release);
    for (word, value) in dst.iter().zip(src) {
        word.store(*value, Relaxed);
    }
    // Wraps to 0 ("never written") only after 2^63 publishes: not reachable in practice.
    seq.store(writing.wrapping_add(1), Release);
}

/// Copies `src` into `dst` if a consistent copy can be taken within [`READ_ATTEMPTS`] tries.
///
/// On [`ReadOutcome::Copied`] every word of `dst` comes from the same publish. On the other
/// outcomes `dst` holds no meaningful data.
///
/// # Panics
/// If `dst` and `src` differ in length (a bug in this crate, never a runtime condition).
#[inline]
pub fn read(seq: &AtomicU64, src: &[AtomicU64], dst: &mut [u64]) -> ReadOutcome {
    assert_eq!(dst.len(), src.len(), "seqlock read: length mismatch");
    for attempt in 0..READ_ATTEMPTS {
        let before = seq.load(Relaxed);
        fence(Acquire);
        if before == 0 {
            return ReadOutcome::NeverWritten;
        }
        if before & 1 == 0 {
            for (value, word) in dst.iter_mut().zip(src) {
                *value = word.load(Relaxed);
            }
            fence(Acquire);
            if seq.load(Relaxed) == before {
                return ReadOutcome::Copied {
                    seq: before,
                    retries: attempt,
                };
            }
        }
        spin_hint();
    }
    ReadOutcome::Busy
}

/// The current sequence value, loaded as the first step of [`read`] is.
///
/// If it equals the `seq` of an earlier [`ReadOutcome::Copied`], that copy is still the latest
/// complete publish (the single writer moves the sequence on before changing any word), so a
/// reader may reuse it instead of copying again. Any other value, odd included, means: copy.
#[inline]
pub fn current(seq: &AtomicU64) -> u64 {
    let value = seq.load(Relaxed);
    fence(Acquire);
    value
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn block(n: usize) -> Vec<AtomicU64> {
        (0..n).map(|_| AtomicU64::new(0)).collect()
    }

    #[test]
    fn fresh_record_reads_as_never_written() {
        let seq = AtomicU64::new(0);
        let data = block(3);
        let mut out = [7u64; 3];
        assert_eq!(read(&seq, &data, &mut out), ReadOutcome::NeverWritten);
    }

    #[test]
    fn publish_then_read_round_trips_and_sequence_stays_even() {
        let seq = AtomicU64::new(0);
        let data = block(3);
        write(&seq, &data, &[1, 2, 3]);
        assert_eq!(seq.load(Relaxed), 2);
        write(&seq, &data, &[4, 5, 6]);
        assert_eq!(seq.load(Relaxed), 4);
        let mut out = [0u64; 3];
        let got = read(&seq, &data, &mut out);
        assert_eq!(got, ReadOutcome::Copied { seq: 4, retries: 0 });
        assert_eq!(out, [4, 5, 6]);
    }

    #[test]
    fn odd_sequence_gives_busy_after_bounded_attempts() {
        // A writer that died between its two sequence stores leaves the sequence odd forever.
        let seq = AtomicU64::new(5);
        let data = block(2);
        let mut out = [0u64; 2];
        assert_eq!(read(&seq, &data, &mut out), ReadOutcome::Busy);
    }

    #[test]
    fn writer_recovers_from_an_odd_sequence() {
        let seq = AtomicU64::new(5);
        let data = block(1);
        write(&seq, &data, &[9]);
        assert_eq!(seq.load(Relaxed), 6);
        let mut out = [0u64; 1];
        assert!(matches!(
            read(&seq, &data, &mut out),
            ReadOutcome::Copied { seq: 6, .. }
        ));
        assert_eq!(out, [9]);
    }
}
