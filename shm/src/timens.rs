//! The calling process's time-namespace offset for CLOCK_MONOTONIC, from
//! `/proc/self/timens_offsets` (see time_namespaces(7)).
//!
//! Writer and reader each record theirs; a reader whose offset differs from the writer's would
//! compare `valid_until` against a shifted clock, so it refuses. This module only reads /proc;
//! it must never guess an offset of zero when it cannot tell.

#[cfg(not(miri))]
use std::io;

#[cfg(not(miri))]
const OFFSETS_PATH: &str = "/proc/self/timens_offsets";

/// This process's CLOCK_MONOTONIC offset in ns, or `None` if it cannot be determined.
///
/// A kernel built without time namespaces has no `timens_offsets` file; that counts as offset
/// 0 only if `/proc/self` itself is there (otherwise /proc is just not mounted and nothing can
/// be told).
pub(crate) fn monotonic_offset_ns() -> Option<i64> {
    #[cfg(miri)]
    {
        Some(0)
    }
    #[cfg(not(miri))]
    match std::fs::read_to_string(OFFSETS_PATH) {
        Ok(text) => parse_monotonic_offset_ns(&text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => std::path::Path::new("/proc/self/stat")
            .exists()
            .then_some(0),
        Err(_) => None,
    }
}

/// Parses the `monotonic` line (clock name or clock id 1) of a `timens_offsets` text:
/// `monotonic <seconds> <nanoseconds>`.
pub(crate) fn parse_monotonic_offset_ns(text: &str) -> Option<i64> {
    let mut found = None;
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let clock = fields.next()?;
        if clock != "monotonic" && clock != "1" {
            continue;
        }
        let sec: i64 = fields.next()?.parse().ok()?;
        let nsec: i64 = fields.next()?.parse().ok()?;
        if fields.next().is_some() || found.is_some() {
            return None;
        }
        found = Some(sec.checked_mul(1_000_000_000)?.checked_add(nsec)?);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_kernel_format() {
        let root = "monotonic           0         0\nboottime            0         0\n";
        assert_eq!(parse_monotonic_offset_ns(root), Some(0));
        let shifted = "monotonic        -5 250000000\nboottime  86400 0\n";
        assert_eq!(parse_monotonic_offset_ns(shifted), Some(-4_750_000_000));
        assert_eq!(parse_monotonic_offset_ns("1 7 0\n"), Some(7_000_000_000));
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        assert_eq!(parse_monotonic_offset_ns(""), None);
        assert_eq!(parse_monotonic_offset_ns("boottime 0 0\n"), None);
        assert_eq!(parse_monotonic_offset_ns("monotonic x 0\n"), None);
        assert_eq!(parse_monotonic_offset_ns("monotonic 0 0 0\n"), None);
        assert_eq!(
            parse_monotonic_offset_ns("monotonic 0 0\nmonotonic 1 0\n"),
            None
        );
    }

    #[test]
    fn this_process_has_a_readable_offset() {
        assert!(monotonic_offset_ns().is_some());
    }
}
