//! Parsing of `start_utc`: RFC 3339 UTC times (`Z` only) to Unix nanoseconds, in integers.
//!
//! No leap-second table: 23:59:60 is rejected like any other out-of-range field.

use crate::time::NANOS_PER_SEC;

/// Unix ns of `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, or `None`.
pub fn parse_utc(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, dd) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    let ok = (1970..=2200).contains(&y)
        && (1..=12).contains(&m)
        && (1..=31).contains(&dd)
        && (0..24).contains(&hh)
        && (0..60).contains(&mm)
        && (0..60).contains(&ss)
        && frac.len() <= 9
        && frac.bytes().all(|b| b.is_ascii_digit());
    let leap_year = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [
        31,
        if leap_year { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !ok || date.len() != 10 || hms.len() != 8 || dd > month_days[(m - 1) as usize] {
        return None;
    }
    let nanos = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse::<i64>().ok()?
    };
    // Days from civil (proleptic Gregorian), after the well-known era algorithm.
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + dd - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + hh * 3_600 + mm * 60 + ss) * NANOS_PER_SEC) + nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_parses_to_unix_ns() {
        assert_eq!(parse_utc("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_utc("2026-01-01T00:00:00Z"),
            Some(1_767_225_600 * NANOS_PER_SEC)
        );
        assert_eq!(
            parse_utc("2024-02-29T12:00:00.5Z"),
            Some(1_709_208_000_500_000_000)
        );
        assert_eq!(parse_utc("2026-02-30T00:00:00Z"), None);
        assert_eq!(parse_utc("2026-01-01 00:00:00"), None);
    }
}
