//! The ledger file (`publish::ledger`): records written and read back exactly, a torn last line
//! after power loss dropped (or completed when only its newline was lost), the down time
//! recorded at each restart, damage in the middle reported without losing the rest, one-line
//! errors, and the engine's own records of a simulated run persisted end to end.

use ppsd::engine::ledger::UntrustedInterval;
use ppsd::engine::{EngineEvent, ForeignChange, Reason, SyncState};
use ppsd::publish::ledger::{self, format_time, LedgerFile, Record};
use ppsd::time::Timestamp;
use std::io::Write;
use std::path::PathBuf;

const S: i64 = 1_000_000_000;
const T0: i64 = 1_767_225_600 * S;

fn t(s: i64, ns: i64) -> Timestamp {
    Timestamp::from_ns(T0 + s * S + ns)
}

/// A fresh directory for one test.
fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ppsd-ledger-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn interval(start_s: i64, end_s: i64) -> Record {
    Record::interval(&UntrustedInterval {
        start: t(start_s, 10_000_000),
        end: t(end_s, 123),
        duration_ns: (end_s - start_s) * S,
        reason: Reason::ForeignChange,
        worst_state: SyncState::OutOfSync,
        worst_bound_ns: Some(4_500),
        clock_steps_ns: 1_000_000,
    })
}

#[test]
fn records_round_trip_with_nanosecond_times() {
    let path = dir("roundtrip").join("ledger.jsonl");
    let mut opened = LedgerFile::open(&path, t(0, 0)).unwrap();
    assert_eq!(opened.down, None, "a new ledger has no down time");
    let rec = interval(100, 130);
    opened.ledger.append(&rec).unwrap();
    let alive = Record::Alive {
        at: t(200, 999_999_999),
        state: SyncState::InSync,
    };
    opened.ledger.append(&alive).unwrap();
    drop(opened);
    let back = ledger::read(&path).unwrap();
    assert_eq!(back.records, [Record::Started { at: t(0, 0) }, rec, alive]);
    assert_eq!((back.bad_lines.len(), back.torn_bytes), (0, 0));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("\"start\":\"2026-01-01T00:01:40.010000000Z\""),
        "{text}"
    );
    assert!(text.contains("\"reason\":\"foreign_change\""), "{text}");
    assert!(text.contains("\"worst_state\":\"OUT_OF_SYNC\""), "{text}");
    assert_eq!(format_time(t(0, 1)), "2026-01-01T00:00:00.000000001Z");
}

#[test]
fn a_torn_last_line_is_dropped_and_the_down_time_recorded() {
    let path = dir("torn").join("ledger.jsonl");
    let mut opened = LedgerFile::open(&path, t(0, 0)).unwrap();
    opened.ledger.append(&interval(100, 130)).unwrap();
    drop(opened);
    // Power fails in the middle of the next append.
    let line = serde_json::to_string(&interval(500, 530)).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(&line.as_bytes()[..line.len() / 2]).unwrap();
    drop(f);
    let opened = LedgerFile::open(&path, t(900, 0)).unwrap();
    assert_eq!(opened.before.torn_bytes, line.len() / 2);
    assert!(!opened.before.torn_is_record);
    // Down from the last complete record (the end of the interval) to the restart.
    assert_eq!(opened.down, Some((t(130, 123), t(900, 0))));
    drop(opened);
    let back = ledger::read(&path).unwrap();
    assert_eq!((back.torn_bytes, back.bad_lines.len()), (0, 0));
    assert_eq!(
        back.records[2..],
        [
            Record::Down {
                from: t(130, 123),
                to: t(900, 0)
            },
            Record::Started { at: t(900, 0) }
        ]
    );
}

#[test]
fn a_last_record_that_only_lost_its_newline_is_kept() {
    let path = dir("newline").join("ledger.jsonl");
    drop(LedgerFile::open(&path, t(0, 0)).unwrap());
    let began = Record::UntrustedBegan {
        start: t(40, 0),
        found: t(40, 500_000_000),
        reason: Reason::Holdover,
        state: SyncState::SoonOutOfSync,
    };
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(serde_json::to_string(&began).unwrap().as_bytes())
        .unwrap();
    drop(f);
    // ppsd was killed with the interval open: the down time starts when it was found.
    let opened = LedgerFile::open(&path, t(100, 0)).unwrap();
    assert!(opened.before.torn_is_record);
    assert_eq!(opened.down, Some((t(40, 500_000_000), t(100, 0))));
    drop(opened);
    let back = ledger::read(&path).unwrap();
    assert_eq!(back.records[1], began);
    assert_eq!(back.records.len(), 4);
    assert_eq!(back.torn_bytes, 0);
}

#[test]
fn each_restart_records_the_gap_since_the_last_entry() {
    let path = dir("restarts").join("ledger.jsonl");
    let mut a = LedgerFile::open(&path, t(0, 0)).unwrap().ledger;
    a.append(&Record::Alive {
        at: t(60, 0),
        state: SyncState::InSync,
    })
    .unwrap();
    a.append(&Record::Stopped { at: t(70, 0) }).unwrap();
    drop(a);
    let b = LedgerFile::open(&path, t(3_600, 0)).unwrap();
    assert_eq!(b.down, Some((t(70, 0), t(3_600, 0))));
    drop(b);
    // Killed right after starting: the gap runs from that start.
    let c = LedgerFile::open(&path, t(7_200, 0)).unwrap();
    assert_eq!(c.down, Some((t(3_600, 0), t(7_200, 0))));
    drop(c);
    let downs: Vec<Record> = ledger::read(&path)
        .unwrap()
        .records
        .into_iter()
        .filter(|r| matches!(r, Record::Down { .. }))
        .collect();
    assert_eq!(downs.len(), 2);
}

#[test]
fn damage_in_the_middle_is_reported_and_the_rest_kept() {
    let path = dir("damage").join("ledger.jsonl");
    let mut l = LedgerFile::open(&path, t(0, 0)).unwrap().ledger;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(b"\x00\x00garbage\n").unwrap();
    drop(f);
    l.append(&interval(10, 20)).unwrap();
    drop(l);
    let back = ledger::read(&path).unwrap();
    assert_eq!(back.bad_lines, [2]);
    assert_eq!(back.records.len(), 2);
    let opened = LedgerFile::open(&path, t(50, 0)).unwrap();
    assert_eq!(opened.before.bad_lines, [2]);
    assert_eq!(opened.down, Some((t(20, 123), t(50, 0))));
}

#[test]
fn errors_are_one_line_naming_the_file() {
    let path = dir("errors").join("missing-dir").join("ledger.jsonl");
    let e = LedgerFile::open(&path, t(0, 0)).unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with(&format!("{}: open: ", path.display())),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1);
    let e = ledger::read(&path).unwrap_err();
    assert!(e.to_string().contains(": read: "), "{e}");
}

#[test]
fn the_engine_records_of_a_simulated_run_are_persisted_and_read_back() {
    use ppsd::engine::{servo, Action, Engine, EngineConfig, Input, Stamp, TodSample};
    use ppsd::io::PpsFetch;
    let path = dir("engine").join("ledger.jsonl");
    let mut file = LedgerFile::open(&path, t(0, 0)).unwrap().ledger;
    let mut e = Engine::new(EngineConfig::default(), servo::by_name("kalman").unwrap());
    let mut out = Vec::new();
    // A perfect clock that someone else steps 2 ms forward at 40.5 s.
    let step_ns = |ns: i64| if ns > 40 * S + S / 2 { 2_000_000 } else { 0 };
    let stamp = |ns: i64| Stamp {
        mono_ns: 1_000 * S + ns,
        real: Timestamp::from_ns(T0 + ns + step_ns(ns)),
    };
    let mut written = 0;
    let mut foreign = Vec::new();
    for k in 0..60 {
        out.clear();
        let fetch = PpsFetch {
            assert: t(k, step_ns(k * S)),
            assert_seq: k as u32 + 1,
            ..PpsFetch::default()
        };
        e.handle(stamp(k * S + 10_000_000), &Input::Pulse(fetch), &mut out);
        if k == 0 {
            e.handle(
                stamp(k * S + 20_000_000),
                &Input::Tod(TodSample::default()),
                &mut out,
            );
        }
        if k == 40 {
            e.handle(stamp(k * S + 500_050_000), &Input::ClockChanged, &mut out);
        }
        for a in &out {
            if let Action::Event(ev) = a {
                written += usize::from(file.record_event(ev).unwrap());
                if let EngineEvent::ForeignChange(c) = ev {
                    foreign.push(*c);
                }
            }
        }
    }
    assert_eq!(
        foreign,
        [ForeignChange::SteppedBy {
            delta_ns: 2_000_000
        }]
    );
    let open = e
        .untrusted_open()
        .expect("the step's interval is still open");
    assert_eq!(open.reason, Reason::ForeignChange);
    file.append(&Record::began(&open)).unwrap();
    file.append(&Record::Stopped { at: t(60, 0) }).unwrap();
    drop(file);
    let back = ledger::read(&path).unwrap();
    // The start-up interval (began, ended) and the step's (began), as the engine said.
    assert_eq!(written, 3);
    let reasons: Vec<Reason> = back
        .records
        .iter()
        .filter_map(|r| match r {
            Record::UntrustedBegan { reason, .. } => Some(*reason),
            Record::Untrusted { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        [
            Reason::Starting,
            Reason::Starting,
            Reason::ForeignChange,
            Reason::ForeignChange
        ]
    );
}
