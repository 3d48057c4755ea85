//! `ppsd check-leap FILE [--json] [--at UTC]`: checks a leap-seconds.list and prints what ppsd
//! takes from it at one instant: TAI−UTC, the last and next leap, update, expiry and hash.
//!
//! This is where the file is read from disk; parsing and the query are the engine's
//! ([`crate::engine::leap`]). Exit codes: 0 valid and current at `--at`, 1 expired or hash
//! mismatch, 2 unreadable or unparseable file or bad arguments. It reads CLOCK_REALTIME (through
//! `SystemTime`) only when `--at` is absent and must never change any clock.

use crate::engine::leap::{hash_string, utc_string, Leap, LeapQuery, LeapSign, ParsedLeapFile};
use crate::time::Timestamp;
use serde::Serialize;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use time::format_description::well_known::Rfc3339;

/// Files larger than this are not leap-seconds lists (the real one is about 5 KB).
const MAX_FILE_BYTES: u64 = 1 << 20;

const ADVICE_EXPIRED: &str = "update the tzdata package (apt-get install --only-upgrade tzdata) \
    or fetch a current leap-seconds.list from the IERS or the IETF";
const ADVICE_HASH: &str = "reinstall the tzdata package (apt-get install --reinstall tzdata) \
    or fetch a fresh leap-seconds.list from the IERS or the IETF";

/// Arguments of `ppsd check-leap`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// leap-seconds.list file, e.g. /usr/share/zoneinfo/leap-seconds.list.
    pub file: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// UTC instant to check at, RFC 3339 (e.g. 2026-01-01T00:00:00Z); default: now.
    #[arg(long, value_name = "UTC", value_parser = parse_utc)]
    pub at: Option<Timestamp>,
}

/// What `check-leap` reports, also its JSON form.
#[derive(Debug, Serialize)]
struct Report {
    file: String,
    at_utc: String,
    tai_offset_s: Option<i32>,
    last_leap_utc: Option<String>,
    last_leap_sign: Option<&'static str>,
    next_leap_utc: Option<String>,
    next_leap_sign: Option<&'static str>,
    next_leap_tai_offset_s: Option<i32>,
    updated_utc: String,
    expires_utc: String,
    hash_ok: bool,
    hash_expected: String,
    hash_computed: String,
    expired: bool,
    valid: bool,
    problems: Vec<String>,
}

/// Runs `ppsd check-leap`.
pub fn run(args: &Args) -> ExitCode {
    let at = args.at.unwrap_or_else(now);
    // The name goes into one-line messages: no control characters from odd paths.
    let source: String = args
        .file
        .display()
        .to_string()
        .chars()
        .map(shown_char)
        .collect();
    let parsed = match read_limited(&args.file, &source)
        .and_then(|bytes| ParsedLeapFile::parse(&source, &bytes).map_err(|e| e.to_string()))
    {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("ppsd check-leap: {message}");
            return ExitCode::from(2);
        }
    };
    let report = report(&source, &parsed, at);
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("ppsd check-leap: cannot write JSON: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        print_text(&report, &parsed.unverified().at(at));
    }
    for problem in &report.problems {
        eprintln!("ppsd check-leap: {problem}");
    }
    ExitCode::from(if report.valid { 0 } else { 1 })
}

fn report(source: &str, parsed: &ParsedLeapFile, at: Timestamp) -> Report {
    let list = parsed.unverified();
    let q = list.at(at);
    let mut problems = Vec::new();
    if let Some(e) = parsed.hash_error() {
        problems.push(format!("{e}; {ADVICE_HASH}"));
    }
    if let Err(e) = list.check_expiry(at) {
        problems.push(format!("{e}; {ADVICE_EXPIRED}"));
    }
    Report {
        file: source.to_owned(),
        at_utc: utc_string(at.sec()),
        tai_offset_s: q.tai_offset_s,
        last_leap_utc: q.last_leap.map(|l| utc_string(l.unix_s)),
        last_leap_sign: q.last_leap.map(|l| l.sign.as_str()),
        next_leap_utc: q.next_leap.map(|l| utc_string(l.unix_s)),
        next_leap_sign: q.next_leap.map(|l| l.sign.as_str()),
        next_leap_tai_offset_s: q.next_leap.map(|l| l.tai_offset_s),
        updated_utc: utc_string(list.updated_unix_s()),
        expires_utc: utc_string(list.expires_unix_s()),
        hash_ok: parsed.hash_ok(),
        hash_expected: hash_string(&parsed.expected_hash()),
        hash_computed: hash_string(&parsed.computed_hash()),
        expired: q.expired,
        valid: problems.is_empty(),
        problems,
    }
}

fn print_text(r: &Report, q: &LeapQuery) {
    let unverified = if r.hash_ok {
        ""
    } else {
        " (unverified: hash mismatch)"
    };
    println!("file:       {}", r.file);
    println!("at:         {}", r.at_utc);
    match q.tai_offset_s {
        Some(s) => println!("TAI-UTC:    {s} s{unverified}"),
        None => println!("TAI-UTC:    none (before the list's first entry){unverified}"),
    }
    match q.last_leap {
        Some(l) => println!("last leap:  {}", describe(&l)),
        None => println!("last leap:  none"),
    }
    match (q.next_leap, q.expired) {
        (Some(l), _) => println!("next leap:  {}", describe(&l)),
        (None, false) => println!("next leap:  none announced before {}", r.expires_utc),
        (None, true) => println!("next leap:  unknown: the list expired at {}", r.expires_utc),
    }
    println!("updated:    {}", r.updated_utc);
    // Whole days, rounded towards zero: plain second counts, no calendar involved.
    let days = (q.expires_unix_s - q.at_unix_s) / 86_400;
    if q.expired {
        println!(
            "expires:    {} (EXPIRED {} whole days ago)",
            r.expires_utc, -days
        );
    } else {
        println!("expires:    {} (in {days} whole days)", r.expires_utc);
    }
    if r.hash_ok {
        println!("hash:       ok ({})", r.hash_expected);
    } else {
        println!(
            "hash:       MISMATCH: #h says {}, data hash to {}",
            r.hash_expected, r.hash_computed
        );
    }
    let verdict = match (r.hash_ok, r.expired) {
        (true, false) => "valid".to_owned(),
        (false, _) => format!("HASH MISMATCH (file altered or damaged): {ADVICE_HASH}"),
        (true, true) => format!("EXPIRED: {ADVICE_EXPIRED}"),
    };
    println!("verdict:    {verdict}");
}

/// `2017-01-01T00:00:00Z positive (2016-12-31T23:59:60Z inserted), TAI-UTC 37 s`.
fn describe(leap: &Leap) -> String {
    let day_before = time::OffsetDateTime::from_unix_timestamp(leap.unix_s - 1)
        .map(|t| t.date().to_string())
        .unwrap_or_else(|_| "the day before".to_owned());
    let second = match leap.sign {
        LeapSign::Positive => format!("{day_before}T23:59:60Z inserted"),
        LeapSign::Negative => format!("{day_before}T23:59:59Z skipped"),
    };
    format!(
        "{} {} ({second}), TAI-UTC {} s",
        utc_string(leap.unix_s),
        leap.sign.as_str(),
        leap.tai_offset_s
    )
}

fn shown_char(c: char) -> char {
    if c.is_control() {
        '?'
    } else {
        c
    }
}

/// Parses `--at`: an RFC 3339 instant, taken as UTC.
fn parse_utc(text: &str) -> Result<Timestamp, String> {
    let t = time::OffsetDateTime::parse(text, &Rfc3339).map_err(|e| {
        format!("\"{text}\" is not an RFC 3339 instant like 2026-01-01T00:00:00Z ({e})")
    })?;
    Ok(Timestamp::new(
        t.unix_timestamp(),
        i64::from(t.nanosecond()),
    ))
}

/// CLOCK_REALTIME now, read through `SystemTime`.
fn now() -> Timestamp {
    let epoch = std::time::UNIX_EPOCH;
    match std::time::SystemTime::now().duration_since(epoch) {
        Ok(d) => Timestamp::new(
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            i64::from(d.subsec_nanos()),
        ),
        Err(e) => {
            let d = e.duration();
            Timestamp::new(
                -i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                -i64::from(d.subsec_nanos()),
            )
        }
    }
}

/// Reads a regular file of at most [`MAX_FILE_BYTES`]; errors name it as `shown`.
fn read_limited(path: &Path, shown: &str) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{shown}: cannot open: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("{shown}: cannot stat: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown}: not a regular file"));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{shown}: cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "{shown}: larger than {MAX_FILE_BYTES} bytes, not a leap-seconds list"
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_utc_accepts_rfc3339_with_offsets_and_rejects_the_rest() {
        assert_eq!(
            parse_utc("2026-01-01T00:00:00Z"),
            Ok(Timestamp::new(1_767_225_600, 0))
        );
        assert_eq!(
            parse_utc("2026-01-01T01:00:00.5+01:00"),
            Ok(Timestamp::new(1_767_225_600, 500_000_000))
        );
        assert!(parse_utc("2026-01-01").is_err());
        assert!(parse_utc("yesterday").is_err());
    }
}
