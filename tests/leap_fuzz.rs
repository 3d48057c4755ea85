//! Property tests of the leap-seconds.list parser: no panic on random bytes or on mutated copies
//! of the real list, no damaged copy ever accepted with different data, every error a single
//! line naming its source, and the query on random valid lists agreeing with a brute-force
//! reading of the same entries.

use ppsd::engine::leap::{LeapList, LeapSign, ParsedLeapFile, NTP_UNIX_OFFSET_S};
use ppsd::time::Timestamp;
use proptest::prelude::*;
use sha1::{Digest, Sha1};

const REAL: &[u8] = include_bytes!("data/leap/leap-seconds.list");

/// Parses, and checks what holds for every input: errors are one non-empty line naming the
/// source; accepted lists answer queries without panicking.
fn parse_any(bytes: &[u8], probe_s: i64) -> Option<LeapList> {
    match ParsedLeapFile::parse("fuzz.list", bytes) {
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with("fuzz.list:"), "{msg}");
            assert!(!msg.contains('\n') && !msg.contains('\r'), "{msg:?}");
            None
        }
        Ok(parsed) => {
            let _ = parsed.hash_error().map(|e| e.to_string());
            let list = parsed.unverified();
            let q = list.at(Timestamp::new(probe_s, 0));
            let _ = list
                .check_expiry(Timestamp::new(probe_s, 0))
                .map_err(|e| e.to_string());
            assert_eq!(q.tai_offset_s.is_none(), probe_s < list.entries()[0].unix_s);
            parsed.verify().ok()
        }
    }
}

/// The real list's content, the reference for "accepted with the same data".
fn real() -> LeapList {
    LeapList::parse("fuzz.list", REAL).expect("real list")
}

/// Bytes that matter to the format, so mutations hit its syntax often.
fn interesting_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        prop::sample::select(b"0123456789#$@h \t\r\n-+xf".to_vec()),
        any::<u8>(),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    DropLine(usize),
    DupLine(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = 0..REAL.len();
    prop_oneof![
        (at.clone(), interesting_byte()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (at.clone(), interesting_byte()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        at.clone().prop_map(Mutation::Delete),
        (0..200usize).prop_map(Mutation::DropLine),
        (0..200usize).prop_map(Mutation::DupLine),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len().max(1);
    match *m {
        Mutation::Set(i, b) => {
            if let Some(x) = bytes.get_mut(i % len) {
                *x = b;
            }
        }
        Mutation::Insert(i, b) => bytes.insert((i % len).min(bytes.len()), b),
        Mutation::Delete(i) => {
            if !bytes.is_empty() {
                bytes.remove(i % len);
            }
        }
        Mutation::DropLine(n) | Mutation::DupLine(n) => {
            let mut lines: Vec<Vec<u8>> = bytes
                .split_inclusive(|&b| b == b'\n')
                .map(<[u8]>::to_vec)
                .collect();
            if lines.is_empty() {
                return;
            }
            let i = n % lines.len();
            if matches!(m, Mutation::DropLine(_)) {
                lines.remove(i);
            } else {
                let copy = lines[i].clone();
                lines.insert(i, copy);
            }
            *bytes = lines.concat();
        }
    }
}

/// A valid list rendered as text, with its hash computed here from the format's rule.
fn render(entries: &[(i64, i32)], updated_ntp: i64, expires_ntp: i64) -> String {
    let mut digits = format!("{updated_ntp}{expires_ntp}");
    let mut text = format!("# generated\n#$\t{updated_ntp}\n#@ {expires_ntp}\n#\n");
    for (ntp, off) in entries {
        digits.push_str(&format!("{ntp}{off}"));
        text.push_str(&format!("{ntp}\t{off}\t# entry\n"));
    }
    let d = Sha1::digest(digits.as_bytes());
    let words: Vec<String> = d
        .chunks(4)
        .map(|c| format!("{:x}", u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
        .collect();
    text.push_str(&format!("#h {}\n", words.join(" ")));
    text
}

/// Random valid lists: midnights, strictly increasing, offsets stepping by ±1.
fn valid_list() -> impl Strategy<Value = (Vec<(i64, i32)>, i64, i64)> {
    (
        0i64..40_000,
        0i32..60,
        prop::collection::vec((1i64..3_000, any::<bool>()), 0..40),
        0i64..400,
        1i64..2_000,
    )
        .prop_map(|(start_day, start_off, steps, upd_days, exp_days)| {
            let mut day = start_day;
            let mut off = start_off;
            let mut entries = vec![(day * 86_400, off)];
            for (gap, up) in steps {
                day += gap;
                off += if up { 1 } else { -1 };
                entries.push((day * 86_400, off));
            }
            // Offsets may not go negative in the format (unsigned digits); shift them up.
            let min = entries.iter().map(|e| e.1).min().unwrap_or(0).min(0);
            for e in &mut entries {
                e.1 -= min;
            }
            let updated = day * 86_400 + upd_days * 86_400;
            (entries, updated, updated + exp_days * 86_400)
        })
}

/// The (unix_s, offset) pairs of a list.
fn pairs(l: &LeapList) -> Vec<(i64, i32)> {
    l.entries()
        .iter()
        .map(|e| (e.unix_s, e.tai_offset_s))
        .collect()
}

/// What the query must say at NTP instant `probe_ntp`, read directly off the entries:
/// (TAI−UTC, last leap instant, next leap (instant, sign, offset), expired), in Unix seconds.
type Expected = (Option<i32>, Option<i64>, Option<(i64, LeapSign, i32)>, bool);

fn brute_force(entries: &[(i64, i32)], expires_ntp: i64, probe_ntp: i64) -> Expected {
    let unix = |ntp: i64| ntp - NTP_UNIX_OFFSET_S;
    let in_effect = entries.iter().filter(|e| e.0 <= probe_ntp).count();
    let offset = in_effect.checked_sub(1).map(|i| entries[i].1);
    let last = (in_effect >= 2).then(|| unix(entries[in_effect - 1].0));
    let next = in_effect.max(1);
    let next_leap = entries.get(next).map(|e| {
        let sign = if e.1 > entries[next - 1].1 {
            LeapSign::Positive
        } else {
            LeapSign::Negative
        };
        (unix(e.0), sign, e.1)
    });
    (offset, last, next_leap, probe_ntp >= expires_ntp)
}

/// 512 cases per property, or `PROPTEST_CASES` for a longer run.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn random_bytes_never_panic(
        bytes in prop::collection::vec(interesting_byte(), 0..600),
        t in any::<i64>(),
    ) {
        parse_any(&bytes, t);
    }

    #[test]
    fn mutated_real_lists_never_panic_nor_pass_with_other_data(
        muts in prop::collection::vec(mutation(), 1..6),
        t in 0i64..4_000_000_000,
    ) {
        let mut bytes = REAL.to_vec();
        for m in &muts {
            apply(&mut bytes, m);
        }
        if let Some(list) = parse_any(&bytes, t) {
            let reference = real();
            prop_assert_eq!(list.updated_unix_s(), reference.updated_unix_s());
            prop_assert_eq!(list.expires_unix_s(), reference.expires_unix_s());
            prop_assert_eq!(pairs(&list), pairs(&reference));
        }
    }

    #[test]
    fn every_proper_prefix_of_the_real_list_is_refused(cut in 0..REAL.len()) {
        prop_assert!(LeapList::parse("fuzz.list", &REAL[..cut]).is_err());
    }

    #[test]
    fn valid_lists_round_trip_and_queries_match_brute_force(
        (entries, updated, expires) in valid_list(),
        probes in prop::collection::vec(-100_000i64..4_500_000_000, 1..20),
    ) {
        let text = render(&entries, updated, expires);
        let list = LeapList::parse("gen", text.as_bytes())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(list.entries().len(), entries.len());
        prop_assert_eq!(list.expires_unix_s(), expires - NTP_UNIX_OFFSET_S);
        // Random instants, and each boundary and the second before it.
        let edges = entries.iter().map(|e| e.0).chain([expires]);
        let all = probes.into_iter().chain(edges.flat_map(|x| [x - 1, x]));
        for probe_ntp in all {
            let q = list.at(Timestamp::new(probe_ntp - NTP_UNIX_OFFSET_S, 123));
            let got = (
                q.tai_offset_s,
                q.last_leap.map(|l| l.unix_s),
                q.next_leap.map(|l| (l.unix_s, l.sign, l.tai_offset_s)),
                q.expired,
            );
            prop_assert_eq!(got, brute_force(&entries, expires, probe_ntp));
        }
    }
}
