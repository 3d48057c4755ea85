//! Model check of the seqlock protocol with loom: every interleaving (within a preemption
//! bound) of one writer publishing and readers copying, under the C11 memory model, and no
//! accepted copy is torn or stale. Built only with `--cfg loom`:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test -p ppsd-shm --release --test loom
//! ```
#![cfg(loom)]

use loom::sync::atomic::AtomicU64;
use loom::sync::Arc;
use loom::thread;
use ppsd_shm::seqlock::{read, write, ReadOutcome};

const WORDS: usize = 3;

/// Publish number `n` writes these words: every word derives from `n`, so a torn copy (words
/// from two publishes) or a stale one (words older than the sequence) breaks the rule.
fn payload(n: u64) -> [u64; WORDS] {
    [n, n * 10, n * 100]
}

fn model(publishes: u64, readers: usize) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(move || {
        let seq = Arc::new(AtomicU64::new(0));
        let data: Arc<[AtomicU64; WORDS]> = Arc::new(std::array::from_fn(|_| AtomicU64::new(0)));
        let writer = {
            let (seq, data) = (seq.clone(), data.clone());
            thread::spawn(move || {
                for n in 1..=publishes {
                    write(&seq, &data[..], &payload(n));
                }
            })
        };
        let reader_threads: Vec<_> = (0..readers)
            .map(|_| {
                let (seq, data) = (seq.clone(), data.clone());
                thread::spawn(move || {
                    let mut out = [0u64; WORDS];
                    match read(&seq, &data[..], &mut out) {
                        ReadOutcome::Copied { seq: s, .. } => {
                            assert_eq!(s % 2, 0, "accepted an odd sequence");
                            assert_eq!(out, payload(s / 2), "torn or stale copy accepted");
                        }
                        ReadOutcome::NeverWritten | ReadOutcome::Busy => {}
                    }
                })
            })
            .collect();
        writer.join().unwrap();
        for r in reader_threads {
            r.join().unwrap();
        }
        // After the writer is done, a read must succeed and see the last publish.
        let mut out = [0u64; WORDS];
        let last = read(&seq, &data[..], &mut out);
        assert_eq!(
            last,
            ReadOutcome::Copied {
                seq: 2 * publishes,
                retries: 0
            }
        );
        assert_eq!(out, payload(publishes));
    });
}

#[test]
fn one_reader_two_publishes() {
    model(2, 1);
}

#[test]
fn two_readers_one_publish() {
    model(1, 2);
}
