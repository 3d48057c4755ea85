//! gpsd's JSON reports, parsed without I/O: the classes a time client needs (TPV, TOFF, PPS,
//! VERSION, ERROR) and gpsd's ISO 8601 UTC times.
//!
//! A TPV report's `time` is the UTC time of the fix epoch as the receiver reported it; its
//! `mode` says whether there is a fix (0 unknown, 1 none, 2 2-D, 3 3-D). gpsd emits TPV with a
//! time even without a fix (from the receiver's clock, which may be wrong), so a time is only
//! used with mode ≥ 2. Lines are limited in length and every parse failure is an error value,
//! never a panic.

use crate::time::{Timestamp, NANOS_PER_SEC};
use serde::Deserialize;

/// The command that starts gpsd's JSON stream.
pub const WATCH_COMMAND: &[u8] = b"?WATCH={\"enable\":true,\"json\":true};\n";

/// A TPV (time-position-velocity) report, the fields a time client reads.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Tpv {
    /// The device that produced it.
    #[serde(default)]
    pub device: Option<String>,
    /// Fix mode: 0 unknown, 1 no fix, 2 2-D, 3 3-D.
    #[serde(default)]
    pub mode: u8,
    /// UTC time of the fix, ISO 8601.
    #[serde(default)]
    pub time: Option<String>,
    /// GPS − UTC leap seconds, when the receiver reported them.
    #[serde(default)]
    pub leapseconds: Option<i32>,
    /// Estimated time error, seconds.
    #[serde(default)]
    pub ept: Option<f64>,
}

/// A TOFF or PPS report: a receiver time and the local clock when it was seen.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct TimeOffset {
    /// Seconds of the receiver's (true) time.
    pub real_sec: i64,
    /// Nanoseconds of the receiver's time.
    pub real_nsec: i64,
    /// Seconds of the local clock.
    pub clock_sec: i64,
    /// Nanoseconds of the local clock.
    pub clock_nsec: i64,
}

/// One gpsd report.
#[derive(Clone, Debug, PartialEq)]
pub enum Report {
    /// TPV.
    Tpv(Tpv),
    /// TOFF: serial-message time offset.
    Toff(TimeOffset),
    /// PPS: pulse time offset.
    Pps(TimeOffset),
    /// VERSION, with gpsd's release.
    Version(String),
    /// ERROR, with gpsd's message.
    Error(String),
    /// Any other class (DEVICES, WATCH, SKY, ...).
    Other(String),
}

#[derive(Deserialize)]
struct Class {
    class: String,
    #[serde(default)]
    release: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// Parses one line of gpsd output.
///
/// # Errors
/// A description naming what is wrong with the line.
pub fn parse_line(line: &str) -> Result<Report, String> {
    let class: Class =
        serde_json::from_str(line).map_err(|e| format!("not a gpsd JSON report: {e}"))?;
    Ok(match class.class.as_str() {
        "TPV" => Report::Tpv(serde_json::from_str(line).map_err(|e| format!("TPV: {e}"))?),
        "TOFF" => Report::Toff(serde_json::from_str(line).map_err(|e| format!("TOFF: {e}"))?),
        "PPS" => Report::Pps(serde_json::from_str(line).map_err(|e| format!("PPS: {e}"))?),
        "VERSION" => Report::Version(class.release.unwrap_or_default()),
        "ERROR" => Report::Error(class.message.unwrap_or_default()),
        other => Report::Other(other.to_string()),
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    // Shift the year to start in March so the leap day is the year's last.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: u32) -> u32 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses gpsd's UTC time, `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, to a Unix instant.
///
/// A leap second (`23:59:60`) maps to the Unix second the kernel shows during it, 23:59:59.
///
/// # Errors
/// A description naming the bad part.
pub fn parse_time(s: &str) -> Result<Timestamp, String> {
    let bad = |what: &str| format!("time {s:?}: {what}");
    if !s.is_ascii() {
        return Err(bad("non-ASCII character"));
    }
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad("not YYYY-MM-DDTHH:MM:SSZ"));
    }
    let num = |r: std::ops::Range<usize>| -> Result<u32, String> {
        let part = &s[r];
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().map_err(|_| bad("bad number"))
        } else {
            Err(bad("non-digit in a date or time field"))
        }
    };
    let (year, month, day) = (i64::from(num(0..4)?), num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err(bad("no such date"));
    }
    let leap_second = second == 60 && hour == 23 && minute == 59;
    if hour > 23 || minute > 59 || (second > 59 && !leap_second) {
        return Err(bad("no such time of day"));
    }
    let rest = &s[19..];
    let frac = match rest.strip_suffix('Z') {
        Some("") => "",
        Some(f) if f.len() >= 2 && f.starts_with('.') => &f[1..],
        _ => return Err(bad("fraction or zone is not .digits followed by Z")),
    };
    if !frac.bytes().all(|c| c.is_ascii_digit()) {
        return Err(bad("non-digit in the fraction"));
    }
    // Nanoseconds from the first nine digits; further digits are below resolution.
    let mut nsec: i64 = 0;
    for i in 0..9 {
        nsec = nsec * 10 + frac.as_bytes().get(i).map_or(0, |d| i64::from(d - b'0'));
    }
    let sec_of_day = i64::from(hour * 3600 + minute * 60 + second.min(59));
    let secs = days_from_civil(year, month, day) * 86_400 + sec_of_day;
    debug_assert!(nsec < NANOS_PER_SEC);
    Ok(Timestamp::new(secs, nsec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_tpv_with_fix_and_time() {
        let line = r#"{"class":"TPV","device":"/dev/pts/3","mode":3,"time":"2024-02-29T12:34:56.000Z","ept":0.005,"lat":50.1,"lon":14.4,"leapseconds":18}"#;
        let Report::Tpv(tpv) = parse_line(line).unwrap() else {
            panic!("not TPV")
        };
        assert_eq!(tpv.mode, 3);
        assert_eq!(tpv.device.as_deref(), Some("/dev/pts/3"));
        assert_eq!(tpv.leapseconds, Some(18));
        assert_eq!(
            parse_time(tpv.time.as_deref().unwrap()).unwrap(),
            Timestamp::new(1_709_210_096, 0)
        );
    }

    #[test]
    fn tpv_without_fix_has_mode_below_two() {
        let Report::Tpv(tpv) = parse_line(r#"{"class":"TPV","mode":1}"#).unwrap() else {
            panic!()
        };
        assert_eq!((tpv.mode, tpv.time), (1, None));
    }

    #[test]
    fn other_classes() {
        assert_eq!(
            parse_line(r#"{"class":"VERSION","release":"3.22","rev":"3.22"}"#).unwrap(),
            Report::Version("3.22".into())
        );
        assert_eq!(
            parse_line(r#"{"class":"ERROR","message":"Unrecognized request"}"#).unwrap(),
            Report::Error("Unrecognized request".into())
        );
        assert_eq!(
            parse_line(r#"{"class":"SKY"}"#).unwrap(),
            Report::Other("SKY".into())
        );
        let Report::Toff(t) = parse_line(r#"{"class":"TOFF","device":"x","real_sec":5,"real_nsec":6,"clock_sec":7,"clock_nsec":8}"#).unwrap() else { panic!() };
        assert_eq!((t.real_sec, t.clock_nsec), (5, 8));
    }

    #[test]
    fn bad_lines_are_errors_not_panics() {
        for line in [
            "",
            "{",
            "[]",
            r#"{"mode":3}"#,
            r#"{"class":"TPV","mode":"three"}"#,
            r#"{"class":"TPV","mode":300}"#,
        ] {
            assert!(parse_line(line).is_err(), "{line}");
        }
    }

    #[test]
    fn times_parse_exactly() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z").unwrap(), Timestamp::ZERO);
        assert_eq!(
            parse_time("2000-03-01T00:00:00.5Z").unwrap(),
            Timestamp::new(951_868_800, 500_000_000)
        );
        assert_eq!(
            parse_time("2038-01-19T03:14:08.123456789Z").unwrap(),
            Timestamp::new(2_147_483_648, 123_456_789)
        );
        assert_eq!(
            parse_time("2106-02-07T06:28:16.0000000001Z").unwrap(),
            Timestamp::new(4_294_967_296, 0)
        );
        // Leap second: the kernel shows 23:59:59 during it.
        assert_eq!(
            parse_time("2016-12-31T23:59:60.000Z").unwrap(),
            parse_time("2016-12-31T23:59:59Z").unwrap()
        );
    }

    #[test]
    fn bad_times_are_errors() {
        for s in [
            "2024-02-30T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T12:00:60Z",
            "2024-01-01T12:00:00",
            "2024-01-01T12:00:00+01:00",
            "2024-01-01T12:00:00.Z",
            "2024-01-01T12:00:00.1xZ",
            "2024-01-01 12:00:00Z",
            "+024-01-01T12:00:00Z",
            "2024-01-01T12:00:0éZ",
        ] {
            assert!(parse_time(s).is_err(), "{s}");
        }
    }
}
