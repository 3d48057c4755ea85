//! The leap-seconds.list parser and query on the real Debian list, on invented lists with future
//! positive and negative leaps, and on damaged copies: each kind of damage gives its own error
//! naming the source and line. No test here reads the clock.

use ppsd::engine::leap::{LeapErrorKind, LeapList, LeapSign, ParsedLeapFile, NTP_UNIX_OFFSET_S};
use ppsd::time::Timestamp;

const REAL: &str = include_str!("data/leap/leap-seconds.list");
const POSITIVE: &str = include_str!("data/leap/future-positive.list");
const NEGATIVE: &str = include_str!("data/leap/future-negative.list");
const TAMPERED: &str = include_str!("data/leap/tampered.list");

/// Unix seconds of a UTC date at midnight, from the NTP value the lists use.
fn ntp(ntp_s: i64) -> i64 {
    ntp_s - NTP_UNIX_OFFSET_S
}

fn at(unix_s: i64) -> Timestamp {
    Timestamp::new(unix_s, 0)
}

fn parse_err(text: &str) -> ppsd::engine::leap::LeapError {
    match LeapList::parse("x.list", text.as_bytes()) {
        Ok(_) => panic!("accepted a damaged list:\n{text}"),
        Err(e) => e,
    }
}

/// The line number in the real list of the first line that starts with `prefix`.
fn line_of(prefix: &str) -> usize {
    REAL.lines()
        .position(|l| l.starts_with(prefix))
        .map(|i| i + 1)
        .expect("prefix in real list")
}

#[test]
fn real_debian_list_checks_out() {
    let list =
        LeapList::parse("real", REAL.as_bytes()).expect("real list parses and its hash holds");
    assert_eq!(list.entries().len(), 28);
    assert_eq!(list.leaps().count(), 27);
    assert!(list.leaps().all(|l| l.sign == LeapSign::Positive));
    assert_eq!(list.updated_unix_s(), ntp(3_960_835_200));
    assert_eq!(list.expires_unix_s(), ntp(3_991_593_600));
    assert_eq!(list.entries()[0].tai_offset_s, 10);
    assert_eq!(list.entries()[0].line, line_of("2272060800"));

    // 2026-01-01T00:00:00Z: 37 s, last leap 2017-01-01, none next, current.
    let q = list.at(at(1_767_225_600));
    assert_eq!(q.tai_offset_s, Some(37));
    let last = q.last_leap.expect("a last leap");
    assert_eq!(
        ppsd::engine::leap::utc_string(last.unix_s),
        "2017-01-01T00:00:00Z"
    );
    assert_eq!((last.sign, last.tai_offset_s), (LeapSign::Positive, 37));
    assert_eq!(q.next_leap, None);
    assert!(!q.expired);
    assert!(list.check_expiry(at(1_767_225_600)).is_ok());
}

#[test]
fn real_list_offsets_change_exactly_at_the_listed_instants() {
    let list = LeapList::parse("real", REAL.as_bytes()).unwrap();
    let jan_1999 = ntp(3_124_137_600);
    let before = list.at(Timestamp::new(jan_1999 - 1, 999_999_999));
    let after = list.at(at(jan_1999));
    assert_eq!(
        (before.tai_offset_s, after.tai_offset_s),
        (Some(31), Some(32))
    );
    assert_eq!(before.next_leap.map(|l| l.unix_s), Some(jan_1999));
    assert_eq!(after.last_leap.map(|l| l.unix_s), Some(jan_1999));
    assert_eq!(after.next_leap.map(|l| l.unix_s), Some(ntp(3_345_062_400)));
    // Before 1972 there is no integer offset; the first leap (1972-07-01) is next.
    let q = list.at(at(0));
    assert_eq!((q.tai_offset_s, q.last_leap), (None, None));
    assert_eq!(
        q.next_leap.map(|l| (l.unix_s, l.tai_offset_s)),
        Some((ntp(2_287_785_600), 11))
    );
}

#[test]
fn expiry_is_a_verdict_from_the_expiry_instant_on() {
    let list = LeapList::parse("real", REAL.as_bytes()).unwrap();
    let expiry = ntp(3_991_593_600);
    assert!(!list.at(Timestamp::new(expiry - 1, 999_999_999)).expired);
    let q = list.at(at(expiry));
    assert!(q.expired);
    assert_eq!(q.tai_offset_s, Some(37), "data stay usable after expiry");
    let e = list.check_expiry(at(expiry + 86_400)).unwrap_err();
    assert!(matches!(e.kind(), LeapErrorKind::Expired { .. }));
    let msg = e.to_string();
    assert!(
        msg.starts_with("real: expired at 2026-06-28T00:00:00Z"),
        "{msg}"
    );
    assert!(msg.contains("2026-06-29T00:00:00Z"), "{msg}");
}

#[test]
fn future_positive_leap() {
    let list = LeapList::parse("pos", POSITIVE.as_bytes()).expect("fixture hash holds");
    let leap = ntp(4_007_750_400); // 2027-01-01
    let q = list.at(at(leap - 1));
    assert_eq!(q.tai_offset_s, Some(37));
    let next = q.next_leap.expect("next leap");
    assert_eq!(
        (next.unix_s, next.sign, next.tai_offset_s),
        (leap, LeapSign::Positive, 38)
    );
    let q = list.at(at(leap));
    assert_eq!(q.tai_offset_s, Some(38));
    assert_eq!(q.last_leap.map(|l| l.sign), Some(LeapSign::Positive));
    assert_eq!(q.next_leap, None);
    assert!(!q.expired);
}

#[test]
fn future_negative_leap() {
    let list = LeapList::parse("neg", NEGATIVE.as_bytes()).expect("fixture hash holds");
    let leap = ntp(4_039_286_400); // 2028-01-01
    let next = list.at(at(leap - 86_400)).next_leap.expect("next leap");
    assert_eq!(
        (next.unix_s, next.sign, next.tai_offset_s),
        (leap, LeapSign::Negative, 36)
    );
    let q = list.at(at(leap));
    assert_eq!(q.tai_offset_s, Some(36));
    assert_eq!(
        q.last_leap.map(|l| (l.unix_s, l.sign)),
        Some((leap, LeapSign::Negative))
    );
}

#[test]
fn hash_mismatch_reports_both_hashes_and_keeps_the_content_for_display() {
    let parsed = ParsedLeapFile::parse("tampered", TAMPERED.as_bytes()).expect("structure is fine");
    assert!(!parsed.hash_ok());
    assert_eq!(
        parsed.expected_hash(),
        [0x49db2447, 0x571e5e1b, 0x2f002a53, 0x9c8da8e4, 0x39b8e49e]
    );
    assert_eq!(parsed.unverified().entries().len(), 28);
    let e = parsed.verify().unwrap_err();
    assert!(matches!(e.kind(), LeapErrorKind::HashMismatch { .. }));
    assert_eq!(e.line(), Some(line_of("#h")));
    let msg = e.to_string();
    assert!(
        msg.contains("49db2447 571e5e1b 2f002a53 9c8da8e4 39b8e49e"),
        "{msg}"
    );
    assert!(msg.contains("hash mismatch"), "{msg}");
}

#[test]
fn truncated_lists_are_refused_as_truncated() {
    let cut_before_hash = &REAL[..REAL.find("#h").unwrap()];
    let e = parse_err(cut_before_hash);
    assert!(matches!(e.kind(), LeapErrorKind::Truncated { .. }));
    assert_eq!(
        e.to_string(),
        "x.list: truncated or incomplete: no #h hash line"
    );

    let e = parse_err(&REAL[..REAL.len() - 1]);
    assert_eq!(e.line(), Some(REAL.lines().count()));
    assert!(e.to_string().contains("no line end"), "{e}");

    let no_expiry = REAL.replace("#@\t3991593600\n", "");
    assert_eq!(
        parse_err(&no_expiry).to_string(),
        "x.list: truncated or incomplete: no #@ expiry line"
    );
    let no_update = REAL.replace("#$\t3960835200\n", "");
    assert!(parse_err(&no_update)
        .to_string()
        .ends_with("no #$ last-update line"));
    assert!(matches!(
        parse_err("").kind(),
        LeapErrorKind::Truncated { .. }
    ));
}

#[test]
fn a_bad_number_names_the_field_and_line() {
    let text = REAL.replace("3550089600      35", "35500896OO      35");
    let e = parse_err(&text);
    assert_eq!(e.line(), Some(line_of("3550089600")));
    let LeapErrorKind::BadNumber {
        field, text: shown, ..
    } = e.kind()
    else {
        panic!("wrong kind: {e}");
    };
    assert_eq!((*field, shown.as_str()), ("NTP time", "35500896OO"));
    assert!(e.to_string().starts_with(&format!(
        "x.list:{}: bad number in NTP time",
        line_of("3550089600")
    )));

    let e = parse_err(&REAL.replace("3550089600      35", "3550089600      -35"));
    assert!(
        matches!(
            e.kind(),
            LeapErrorKind::BadNumber {
                field: "TAI-UTC",
                ..
            }
        ),
        "{e}"
    );
    let e = parse_err(&REAL.replace("#@\t3991593600", "#@\t39915936x0"));
    assert!(
        matches!(
            e.kind(),
            LeapErrorKind::BadNumber {
                field: "#@ expiry",
                ..
            }
        ),
        "{e}"
    );
    let e = parse_err(&REAL.replace("39b8e49e", "39b8e49g"));
    assert!(
        matches!(
            e.kind(),
            LeapErrorKind::BadNumber {
                field: "#h hash",
                ..
            }
        ),
        "{e}"
    );
    let e = parse_err(&REAL.replace("3550089600      35", "3550089600      35  7"));
    assert!(matches!(e.kind(), LeapErrorKind::BadLine { .. }), "{e}");
}

#[test]
fn non_increasing_entries_name_both_lines() {
    // The 2017 entry given the 2012 time: the offset still steps by one, the time goes back.
    let text = REAL.replace("3692217600      37", "3550089600      37");
    let e = parse_err(&text);
    let LeapErrorKind::NonIncreasing { previous_line, .. } = e.kind() else {
        panic!("wrong kind: {e}");
    };
    assert_eq!(*previous_line, line_of("3644697600"));
    assert_eq!(e.line(), Some(line_of("3692217600")));
    assert!(e.to_string().contains("not increasing"), "{e}");

    let dup = REAL.replace("3692217600      37", "3644697600      37");
    assert!(matches!(
        parse_err(&dup).kind(),
        LeapErrorKind::NonIncreasing { .. }
    ));
}

#[test]
fn other_structural_errors_are_distinct() {
    let jump = REAL.replace("3692217600      37", "3692217600      38");
    assert!(matches!(
        parse_err(&jump).kind(),
        LeapErrorKind::BadStep {
            previous_offset_s: 36,
            offset_s: 38
        }
    ));
    let noon = REAL.replace("3692217600      37", "3692260800      37");
    assert!(matches!(
        parse_err(&noon).kind(),
        LeapErrorKind::NotMidnight { .. }
    ));
    let twice = REAL.replace("#@\t3991593600\n", "#@\t3991593600\n#@\t3991593600\n");
    let e = parse_err(&twice);
    assert!(
        matches!(
            e.kind(),
            LeapErrorKind::Duplicate {
                what: "#@ expiry",
                ..
            }
        ),
        "{e}"
    );
    let backwards = REAL.replace("#@\t3991593600", "#@\t3960835200");
    assert!(matches!(
        parse_err(&backwards).kind(),
        LeapErrorKind::UpdateNotBeforeExpiry { .. }
    ));
}

#[test]
fn crlf_line_ends_and_unpadded_hash_words_are_accepted() {
    let crlf = REAL.replace('\n', "\r\n");
    assert!(LeapList::parse("crlf", crlf.as_bytes()).is_ok());
    // The hash words may be written without leading zeros; here, `0` for a zero word is
    // simply compared as a number (and does not match).
    let parsed = ParsedLeapFile::parse("short", REAL.replace("39b8e49e", "0").as_bytes()).unwrap();
    assert_eq!(parsed.expected_hash()[4], 0);
    assert!(!parsed.hash_ok());
}
