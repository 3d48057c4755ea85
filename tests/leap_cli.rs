//! `ppsd check-leap` end to end: output, JSON keys and exit codes (0 valid, 1 expired or hash
//! mismatch, 2 unreadable, unparseable or bad arguments). Every run passes `--at`, so no test
//! depends on today's date.

use serde_json::Value;
use std::process::Command;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/leap");

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn check_leap(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_ppsd"))
        .arg("check-leap")
        .args(args)
        .output()
        .expect("run ppsd");
    Run {
        code: out.status.code().expect("exited, not killed"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn fixture(name: &str) -> String {
    format!("{DATA}/{name}")
}

fn json(args: &[&str]) -> (i32, Value, String) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let run = check_leap(&all);
    let v: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", run.stdout));
    (run.code, v, run.stderr)
}

#[test]
fn real_list_before_expiry_is_valid_text() {
    let run = check_leap(&[
        &fixture("leap-seconds.list"),
        "--at",
        "2026-01-01T00:00:00Z",
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("TAI-UTC:    37 s\n"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("last leap:  2017-01-01T00:00:00Z positive"),
        "{}",
        run.stdout
    );
    assert!(run
        .stdout
        .contains("next leap:  none announced before 2026-06-28T00:00:00Z"));
    assert!(run
        .stdout
        .contains("expires:    2026-06-28T00:00:00Z (in 178 whole days)"));
    assert!(run.stdout.contains("verdict:    valid"));
    assert!(run.stderr.is_empty(), "{}", run.stderr);
}

#[test]
fn real_list_json_has_exactly_the_documented_keys() {
    let (code, v, _) = json(&[
        &fixture("leap-seconds.list"),
        "--at",
        "2026-01-01T00:00:00Z",
    ]);
    assert_eq!(code, 0);
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut want = vec![
        "file",
        "at_utc",
        "tai_offset_s",
        "last_leap_utc",
        "last_leap_sign",
        "next_leap_utc",
        "next_leap_sign",
        "next_leap_tai_offset_s",
        "updated_utc",
        "expires_utc",
        "hash_ok",
        "hash_expected",
        "hash_computed",
        "expired",
        "valid",
        "problems",
    ];
    want.sort_unstable();
    assert_eq!(keys, want);
    assert_eq!(v["tai_offset_s"], 37);
    assert_eq!(v["last_leap_utc"], "2017-01-01T00:00:00Z");
    assert_eq!(v["next_leap_utc"], Value::Null);
    assert_eq!(v["next_leap_sign"], Value::Null);
    assert_eq!(v["expires_utc"], "2026-06-28T00:00:00Z");
    assert_eq!(v["updated_utc"], "2025-07-07T00:00:00Z");
    assert_eq!(
        (v["hash_ok"].clone(), v["expired"].clone()),
        (true.into(), false.into())
    );
}

#[test]
fn real_list_after_expiry_says_so_and_exits_1() {
    let (code, v, stderr) = json(&[
        &fixture("leap-seconds.list"),
        "--at",
        "2026-11-24T12:00:00Z",
    ]);
    assert_eq!(code, 1);
    assert_eq!(v["expired"], true);
    assert_eq!(v["hash_ok"], true);
    assert_eq!(v["valid"], false);
    assert_eq!(v["tai_offset_s"], 37);
    assert!(
        stderr.contains("expired at 2026-06-28T00:00:00Z"),
        "{stderr}"
    );
    assert!(stderr.contains("tzdata"), "{stderr}");

    let run = check_leap(&[
        &fixture("leap-seconds.list"),
        "--at",
        "2026-11-24T12:00:00Z",
    ]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("next leap:  unknown: the list expired"),
        "{}",
        run.stdout
    );
    assert!(run
        .stdout
        .contains("verdict:    EXPIRED: update the tzdata package"));
}

#[test]
fn expiry_boundary_is_the_expiry_instant() {
    let list = fixture("leap-seconds.list");
    assert_eq!(
        check_leap(&[&list, "--at", "2026-06-27T23:59:59.999Z"]).code,
        0
    );
    assert_eq!(check_leap(&[&list, "--at", "2026-06-28T00:00:00Z"]).code, 1);
}

#[test]
fn future_positive_and_negative_leaps() {
    let (code, v, _) = json(&[
        &fixture("future-positive.list"),
        "--at",
        "2026-12-31T23:59:59Z",
    ]);
    assert_eq!(code, 0);
    assert_eq!(v["tai_offset_s"], 37);
    assert_eq!(v["next_leap_utc"], "2027-01-01T00:00:00Z");
    assert_eq!(v["next_leap_sign"], "positive");
    assert_eq!(v["next_leap_tai_offset_s"], 38);

    let (code, v, _) = json(&[
        &fixture("future-negative.list"),
        "--at",
        "2028-01-01T00:00:00Z",
    ]);
    assert_eq!(code, 0);
    assert_eq!(v["tai_offset_s"], 36);
    assert_eq!(v["last_leap_utc"], "2028-01-01T00:00:00Z");
    assert_eq!(v["last_leap_sign"], "negative");
    assert_eq!(v["next_leap_utc"], Value::Null);

    let run = check_leap(&[
        &fixture("future-negative.list"),
        "--at",
        "2027-07-01T00:00:00Z",
    ]);
    assert_eq!(run.code, 0);
    let want = "next leap:  2028-01-01T00:00:00Z negative (2027-12-31T23:59:59Z skipped), \
                TAI-UTC 36 s";
    assert!(run.stdout.contains(want), "{}", run.stdout);
}

#[test]
fn hash_mismatch_exits_1_with_both_hashes() {
    let (code, v, stderr) = json(&[&fixture("tampered.list"), "--at", "2026-01-01T00:00:00Z"]);
    assert_eq!(code, 1);
    assert_eq!(v["hash_ok"], false);
    assert_eq!(v["expired"], false);
    assert_eq!(
        v["hash_expected"],
        "49db2447 571e5e1b 2f002a53 9c8da8e4 39b8e49e"
    );
    assert_ne!(v["hash_computed"], v["hash_expected"]);
    assert!(stderr.contains("hash mismatch"), "{stderr}");
    assert!(stderr.contains("reinstall the tzdata package"), "{stderr}");
    assert_eq!(stderr.matches("altered or damaged").count(), 1, "{stderr}");
}

#[test]
fn unreadable_unparseable_and_bad_arguments_exit_2() {
    let run = check_leap(&[
        "/nonexistent/leap-seconds.list",
        "--at",
        "2026-01-01T00:00:00Z",
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("/nonexistent/leap-seconds.list: cannot open"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());

    let run = check_leap(&[DATA, "--at", "2026-01-01T00:00:00Z"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("not a regular file"), "{}", run.stderr);

    let bad = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("leap-bad-number.list");
    let text = std::fs::read_to_string(fixture("leap-seconds.list")).unwrap();
    std::fs::write(
        &bad,
        text.replace("3439756800      34", "34397568OO      34"),
    )
    .unwrap();
    let run = check_leap(&[
        "--json",
        bad.to_str().unwrap(),
        "--at",
        "2026-01-01T00:00:00Z",
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr
            .contains("leap-bad-number.list:110: bad number in NTP time"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);

    let run = check_leap(&[&fixture("leap-seconds.list"), "--at", "next tuesday"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("RFC 3339"), "{}", run.stderr);
    assert_eq!(check_leap(&[]).code, 2);
}
