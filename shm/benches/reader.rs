//! Cost of the signer's calls against one `clock_gettime(CLOCK_MONOTONIC)`: `check()` (target
//! ≤ 1.5×) and `timestamp()` (target ≤ 2.5×), single-threaded and with a second reader thread
//! spinning while a writer thread publishes at 1 kHz.
//!
//! Criterion reports its own estimates; afterwards (bench mode only) a per-call table gives
//! median and p99 over many 16-call batches, with the batch timer's own cost subtracted, and
//! the ratios. The clock read is measured three ways (raw `libc::clock_gettime`, this crate's
//! `monotonic_ns()`, `Instant::now()`) and the ratios divide by the fastest of the three, so
//! they are never flattered by a slow baseline. `check_uncached()` shows the cost of the first
//! check of a newly published version (copy, checksum, decode); later checks of the same
//! version reuse it. `cargo bench -p ppsd-shm --bench reader -- --quick` is the quick mode.

use criterion::{black_box, Criterion};
use ppsd_shm::{monotonic_ns, Ident, LeapState, Reader, State, SyncState, Writer};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

fn insync(valid_for_ns: i64) -> State {
    let now = monotonic_ns();
    State {
        sync: SyncState::InSync,
        leap: LeapState::None,
        error_bound_ns: 900,
        declared_accuracy_ns: 100_000,
        offset_ns: 3,
        frequency_offset_ppt: 1_000,
        last_pulse_realtime_ns: 0,
        updated_at_mono_ns: now,
        valid_until_mono_ns: now + valid_for_ns,
        tai_offset_s: 37,
        next_leap_utc_s: 0,
        leap_window: None,
        pulse_source_id: Ident::new("bench").expect("ident"),
        time_of_day_ref_id: Ident::new("bench").expect("ident"),
    }
}

/// A record file on tmpfs (like /run) with its writer.
struct Fixture {
    dir: PathBuf,
    path: PathBuf,
    writer: Arc<Mutex<Writer>>,
}

impl Fixture {
    fn new() -> Fixture {
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("ppsd-shm-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("bench dir");
        let path = dir.join("state");
        let writer = Writer::create(&path).expect("create record");
        Fixture {
            dir,
            path,
            writer: Arc::new(Mutex::new(writer)),
        }
    }

    /// Publishes a state valid for 9 s (records may not claim more than 10 s).
    fn refresh(&self) {
        self.writer
            .lock()
            .expect("writer")
            .publish(&insync(9_000_000_000));
    }

    /// Publishes a fresh state and returns a reader that may sign.
    fn fresh_reader(&self) -> Reader {
        self.refresh();
        let mut reader = Reader::open(&self.path).expect("open record");
        let v = reader.check();
        assert!(v.may_sign, "bench must measure the may-sign path: {v:?}");
        reader
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A writer thread publishing at 1 kHz and a second reader thread spinning on `check()`.
struct Contention {
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<u64>>,
}

impl Contention {
    fn start(fixture: &Fixture) -> Contention {
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (stop, writer) = (stop.clone(), fixture.writer.clone());
            thread::spawn(move || {
                let mut next = Instant::now();
                let mut publishes = 0;
                while !stop.load(Ordering::Relaxed) {
                    writer
                        .lock()
                        .expect("writer")
                        .publish(&insync(1_500_000_000));
                    publishes += 1;
                    next += Duration::from_millis(1);
                    thread::sleep(next.saturating_duration_since(Instant::now()));
                }
                publishes
            })
        };
        let other_reader = {
            let stop = stop.clone();
            let mut reader = Reader::open(&fixture.path).expect("open record");
            thread::spawn(move || {
                let mut refused = 0;
                while !stop.load(Ordering::Relaxed) {
                    refused += u64::from(!black_box(reader.check()).may_sign);
                }
                refused
            })
        };
        thread::sleep(Duration::from_millis(5));
        Contention {
            stop,
            threads: vec![writer, other_reader],
        }
    }

    /// Stops the threads; returns (publishes, refusals seen by the second reader).
    fn stop(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        let mut results = self.threads.into_iter().map(|t| t.join().expect("thread"));
        (results.next().unwrap_or(0), results.next().unwrap_or(0))
    }
}

/// One raw `clock_gettime(CLOCK_MONOTONIC)` through libc.
#[inline]
fn raw_clock_gettime() -> libc::timespec {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_MONOTONIC)");
    ts
}

fn criterion_groups(c: &mut Criterion, fixture: &Fixture) {
    for contended in [false, true] {
        let name = if contended {
            "2-readers-writer-1kHz"
        } else {
            "single-thread"
        };
        let mut reader = fixture.fresh_reader();
        let contention = contended.then(|| Contention::start(fixture));
        let mut group = c.benchmark_group(name);
        fixture.refresh();
        group.bench_function("clock_gettime_monotonic", |b| b.iter(raw_clock_gettime));
        fixture.refresh();
        group.bench_function("check", |b| b.iter(|| black_box(reader.check())));
        fixture.refresh();
        group.bench_function("timestamp", |b| b.iter(|| black_box(reader.timestamp())));
        group.finish();
        assert!(reader.check().may_sign, "state expired during the bench");
        if let Some(contention) = contention {
            let (publishes, refused) = contention.stop();
            println!("{name}: writer published {publishes} times; 2nd reader refused {refused}");
        }
    }
}

/// The calls the table compares, in its row order; the first three are clock reads.
const CALLS: [&str; 7] = [
    "batch timer (empty)",
    "clock_gettime(MONOTONIC)",
    "monotonic_ns()",
    "Instant::now()",
    "check()",
    "timestamp()",
    "check_uncached()",
];

/// Time of one 16-call batch of call number `which` (see [`CALLS`]), per call, in ns.
fn time_batch(which: usize, reader: &mut Reader) -> f64 {
    const BATCH: u32 = 16;
    let start = Instant::now();
    for _ in 0..BATCH {
        match which {
            0 => {}
            1 => drop(black_box(raw_clock_gettime())),
            2 => drop(black_box(monotonic_ns())),
            3 => drop(black_box(Instant::now())),
            4 => drop(black_box(reader.check())),
            5 => drop(black_box(reader.timestamp())),
            _ => drop(black_box(reader.check_uncached())),
        }
    }
    start.elapsed().as_nanos() as f64 / f64::from(BATCH)
}

/// Median and p99 of per-call ns for every call in [`CALLS`], from `batches` batches each,
/// measured in interleaved rounds so that background load hits every call alike.
fn measure_all(fixture: &Fixture, reader: &mut Reader, batches: usize) -> Vec<(f64, f64)> {
    const ROUNDS: usize = 20;
    let mut samples = vec![Vec::with_capacity(batches); CALLS.len()];
    for _ in 0..ROUNDS {
        fixture.refresh();
        for (which, bucket) in samples.iter_mut().enumerate() {
            bucket.extend((0..batches / ROUNDS).map(|_| time_batch(which, reader)));
        }
    }
    samples
        .into_iter()
        .map(|mut bucket| {
            bucket.sort_by(f64::total_cmp);
            (bucket[bucket.len() / 2], bucket[bucket.len() * 99 / 100])
        })
        .collect()
}

fn percentile_table(fixture: &Fixture, batches: usize) {
    println!();
    println!("per-call ns: {batches} batches of 16 calls per row, in 20 interleaved rounds;");
    println!("the empty batch's cost is subtracted; ratios divide by the fastest clock read");
    println!(
        "{:<24} {:<28} {:>8} {:>8} {:>13} {:>10}",
        "scenario", "call", "median", "p99", "ratio median", "ratio p99"
    );
    for contended in [false, true] {
        let name = if contended {
            "2 readers + writer 1kHz"
        } else {
            "single thread"
        };
        let mut reader = fixture.fresh_reader();
        let contention = contended.then(|| Contention::start(fixture));
        let rows = measure_all(fixture, &mut reader, batches);
        assert!(
            reader.check().may_sign,
            "state expired during the measurement"
        );
        if let Some(contention) = contention {
            contention.stop();
        }
        let (timer_m, timer_p) = rows[0];
        let net: Vec<(f64, f64)> = rows
            .iter()
            .map(|(m, p)| (m - timer_m, p - timer_p))
            .collect();
        let base_m = net[1..4].iter().map(|r| r.0).fold(f64::MAX, f64::min);
        let base_p = net[1..4].iter().map(|r| r.1).fold(f64::MAX, f64::min);
        for (call, (m, p)) in CALLS.iter().zip(&net).skip(1) {
            println!(
                "{name:<24} {call:<28} {m:>8.1} {p:>8.1} {:>13.2} {:>10.2}",
                m / base_m,
                p / base_p
            );
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bench_mode = args.iter().any(|a| a == "--bench");
    let quick = args.iter().any(|a| a == "--quick");
    let fixture = Fixture::new();
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    criterion_groups(&mut criterion, &fixture);
    criterion.final_summary();
    if bench_mode {
        percentile_table(&fixture, if quick { 20_000 } else { 200_000 });
    }
}
