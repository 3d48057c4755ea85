//! Multi-process seqlock stress test (`harness = false`): this executable runs as the parent,
//! as one writer process that publishes at full speed a state whose every field derives from
//! one counter, and as 4 reader processes that copy the record for PPSD_SHM_STRESS_SECS
//! seconds (default 1) and check the rule on every accepted copy. Zero torn copies may be
//! accepted; the counts of reads and retries are printed.
//!
//! Full run: `PPSD_SHM_STRESS_SECS=10 cargo test -p ppsd-shm --release --test stress`.

use ppsd_shm::{monotonic_ns, Ident, LeapState, LeapWindow, Reader, Reason, State, SyncState};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

const READERS: usize = 4;

/// The state for publish number `n`; `base_mono_ns` is the writer's clock, refreshed now and
/// then (it is the only field not derived from `n`).
fn state_for(n: u64, base_mono_ns: i64) -> State {
    let k = n as i64;
    let mut id = [0u8; 32];
    write!(&mut id[..], "p{n:031}").expect("32 bytes hold p + 31 digits");
    let pulse = Ident::new(std::str::from_utf8(&id).expect("ascii")).expect("printable");
    State {
        sync: SyncState::InSync,
        leap: LeapState::None,
        error_bound_ns: n,
        declared_accuracy_ns: n + 1_000_000,
        offset_ns: -k,
        frequency_offset_ppt: k.wrapping_mul(3),
        last_pulse_realtime_ns: k.wrapping_mul(7),
        updated_at_mono_ns: base_mono_ns,
        valid_until_mono_ns: base_mono_ns + 5_000_000_000 + (k & 0xffff),
        tai_offset_s: k % 1000,
        next_leap_utc_s: k ^ 0x5555,
        leap_window: Some(LeapWindow {
            start_realtime_ns: k.wrapping_mul(11),
            end_realtime_ns: k.wrapping_mul(11) + 1,
            start_mono_ns: -k - 10,
            end_mono_ns: -k - 5,
        }),
        pulse_source_id: pulse,
        time_of_day_ref_id: Ident::new(&format!("t{}", n % 100_000)).expect("short"),
    }
}

fn run_writer(path: &str, end_ns: i64) {
    let mut writer = ppsd_shm::Writer::create(path).expect("create record");
    let mut base = monotonic_ns();
    writer.publish(&state_for(1, base));
    println!("ready");
    std::io::stdout().flush().expect("stdout");
    let mut n = 1u64;
    while base < end_ns {
        n += 1;
        if n % 1024 == 0 {
            base = monotonic_ns();
        }
        writer.publish(&state_for(n, base));
    }
    println!("publishes={n}");
    // Leave the record as published: readers may still be finishing their last copies.
    std::mem::forget(writer);
}

#[derive(Default, Debug)]
struct Counts {
    reads: u64,
    retries: u64,
    busy: u64,
    torn_accepted: u64,
    checksum_rejects: u64,
    checks: u64,
    bad_refusals: u64,
    distinct_seqs: u64,
}

fn run_reader(path: &str, end_ns: i64) {
    let mut reader = Reader::open(path).expect("open record");
    let mut c = Counts::default();
    let mut last_seq = 0;
    let mut last_checked_n = 0;
    let mut i = 0u64;
    loop {
        i += 1;
        if i % 256 == 0 && monotonic_ns() >= end_ns {
            break;
        }
        match reader.snapshot() {
            Ok(snap) => {
                c.reads += 1;
                c.retries += u64::from(snap.retries);
                let n = snap.state.error_bound_ns;
                if snap.state != state_for(n, snap.state.updated_at_mono_ns) || snap.seq % 2 != 0 {
                    c.torn_accepted += 1;
                }
                if snap.seq < last_seq {
                    c.torn_accepted += 1;
                }
                if snap.seq != last_seq {
                    c.distinct_seqs += 1;
                    last_seq = snap.seq;
                }
            }
            Err(Reason::Busy) => c.busy += 1,
            Err(Reason::Checksum) => c.checksum_rejects += 1,
            Err(other) => panic!("snapshot refused: {other}"),
        }
        if i % 4 == 0 {
            c.checks += 1;
            let v = reader.check();
            // Publish n has sequence 2n. The version check() judges never goes back, neither
            // behind its own last one nor behind the snapshot taken just before.
            if v.reason.is_none() {
                let n = v.error_bound_ns;
                if n < last_checked_n || n < last_seq / 2 {
                    c.torn_accepted += 1;
                }
                last_checked_n = n;
            }
            match v.reason {
                None | Some(Reason::Busy) => {}
                Some(Reason::Checksum) => c.checksum_rejects += 1,
                Some(_) => c.bad_refusals += 1,
            }
        }
    }
    println!(
        "reads={} retries={} busy={} torn_accepted={} checksum_rejects={} checks={} \
         bad_refusals={} distinct_seqs={}",
        c.reads,
        c.retries,
        c.busy,
        c.torn_accepted,
        c.checksum_rejects,
        c.checks,
        c.bad_refusals,
        c.distinct_seqs
    );
}

fn field(line: &str, name: &str) -> u64 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {name} in {line:?}"))
        .parse()
        .expect("number")
}

fn parent() -> bool {
    let secs: f64 = std::env::var("PPSD_SHM_STRESS_SECS")
        .ok()
        .map(|s| {
            s.parse()
                .expect("PPSD_SHM_STRESS_SECS: a number of seconds")
        })
        .unwrap_or(1.0);
    let dir = std::env::temp_dir().join(format!("ppsd-shm-stress-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let path = dir.join("state");
    let path = path.to_str().expect("utf-8 temp path");
    let exe = std::env::current_exe().expect("current_exe");
    let end_ns = monotonic_ns() + (secs * 1e9) as i64 + 200_000_000;
    let spawn = |role: &str, end: i64| {
        Command::new(&exe)
            .args([role, path, &end.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn child")
    };
    let mut writer = spawn("--role=writer", end_ns + 300_000_000);
    let mut writer_out = BufReader::new(writer.stdout.take().expect("piped"));
    let mut line = String::new();
    writer_out.read_line(&mut line).expect("writer ready");
    assert_eq!(line.trim(), "ready", "writer did not start");
    let readers: Vec<_> = (0..READERS)
        .map(|_| spawn("--role=reader", end_ns))
        .collect();
    let mut total = Counts::default();
    let mut ok = true;
    for (id, child) in readers.into_iter().enumerate() {
        let out = child.wait_with_output().expect("reader output");
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().last().unwrap_or("");
        println!("stress: reader {id}: {line}");
        if !out.status.success() || line.is_empty() {
            println!("stress: reader {id} failed: {}", out.status);
            ok = false;
            continue;
        }
        total.reads += field(line, "reads");
        total.retries += field(line, "retries");
        total.busy += field(line, "busy");
        total.torn_accepted += field(line, "torn_accepted");
        total.checksum_rejects += field(line, "checksum_rejects");
        total.checks += field(line, "checks");
        total.bad_refusals += field(line, "bad_refusals");
        let distinct = field(line, "distinct_seqs");
        if distinct < 2 {
            println!("stress: reader {id} saw only {distinct} publishes: writer not racing");
            ok = false;
        }
    }
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut writer_out, &mut rest).expect("writer output");
    let status = writer.wait().expect("writer exit");
    let publishes = rest
        .lines()
        .find_map(|l| l.strip_prefix("publishes="))
        .unwrap_or("?");
    println!(
        "stress: {secs} s, 1 writer ({publishes} publishes), {READERS} readers: reads={} \
         retries={} busy={} checks={} torn_accepted={} checksum_rejects={} bad_refusals={}",
        total.reads,
        total.retries,
        total.busy,
        total.checks,
        total.torn_accepted,
        total.checksum_rejects,
        total.bad_refusals
    );
    let _ = std::fs::remove_dir_all(&dir);
    ok && status.success()
        && total.reads > 0
        && total.torn_accepted == 0
        && total.checksum_rejects == 0
        && total.bad_refusals == 0
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some(role @ ("--role=writer" | "--role=reader")) => {
            let path = &args[1];
            let end_ns: i64 = args[2].parse().expect("end time");
            if role == "--role=writer" {
                run_writer(path, end_ns);
            } else {
                run_reader(path, end_ns);
            }
        }
        _ if args.iter().any(|a| a == "--list") => println!("stress: test"),
        _ => {
            let filtered = args
                .iter()
                .any(|a| !a.starts_with('-') && !a.contains("stress"));
            if filtered {
                println!("stress: skipped (filtered out)");
                return;
            }
            let passed = parent();
            println!(
                "stress: {} passed, {} failed",
                u8::from(passed),
                u8::from(!passed)
            );
            std::process::exit(if passed { 0 } else { 1 });
        }
    }
}
