//! The line-by-line parser of leap-seconds.list, and the SHA-1 over its data.
//!
//! Lines are classified as blank, comment, `#$`, `#@`, `#h` or data; the digits that the format
//! hashes (the `#$` and `#@` values and each data line's two numbers, in file order) go into
//! SHA-1 as they are read. Pure and total: it never panics, whatever the bytes, and uses only
//! checked or bounded arithmetic.

use super::error::bad_number;
use super::{
    LeapEntry, LeapError, LeapErrorKind, LeapList, ParsedLeapFile, MAX_NTP_S, NTP_UNIX_OFFSET_S,
    SECONDS_PER_DAY,
};
use sha1::{Digest, Sha1};

/// What one line of the file is.
enum LineKind<'a> {
    Blank,
    Comment,
    Updated(&'a [u8]),
    Expires(&'a [u8]),
    Hash(&'a [u8]),
    Data(&'a [u8]),
}

fn classify(line: &[u8]) -> LineKind<'_> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = line.trim_ascii_start();
    match line {
        [] => LineKind::Blank,
        [b'#', b'$', rest @ ..] => LineKind::Updated(rest),
        [b'#', b'@', rest @ ..] => LineKind::Expires(rest),
        [b'#', b'h', rest @ ..] => LineKind::Hash(rest),
        [b'#', ..] => LineKind::Comment,
        _ => {
            let end = line.iter().position(|&b| b == b'#').unwrap_or(line.len());
            LineKind::Data(&line[..end])
        }
    }
}

/// The parser's state between lines.
struct Builder<'s> {
    source: &'s str,
    hasher: Sha1,
    entries: Vec<LeapEntry>,
    updated: Option<(usize, i64)>,
    expires: Option<(usize, i64)>,
    hash: Option<(usize, [u32; 5])>,
}

/// Parses a whole list; see [`ParsedLeapFile::parse`].
pub(super) fn parse_file(source: &str, bytes: &[u8]) -> Result<ParsedLeapFile, LeapError> {
    let truncated = |line, detail| {
        Err(LeapError::new(
            source,
            line,
            LeapErrorKind::Truncated { detail },
        ))
    };
    if bytes.is_empty() {
        return truncated(None, "the file is empty");
    }
    let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    if !bytes.ends_with(b"\n") {
        return truncated(Some(lines.len()), "the last line has no line end");
    }
    let mut b = Builder {
        source,
        hasher: Sha1::new(),
        entries: Vec::new(),
        updated: None,
        expires: None,
        hash: None,
    };
    // The piece after the final newline is empty and not a line.
    for (i, raw) in lines[..lines.len() - 1].iter().enumerate() {
        b.line(i + 1, raw)?;
    }
    let Some((_, updated_ntp)) = b.updated else {
        return truncated(None, "no #$ last-update line");
    };
    let Some((expires_line, expires_ntp)) = b.expires else {
        return truncated(None, "no #@ expiry line");
    };
    let Some((hash_line, expected_hash)) = b.hash else {
        return truncated(None, "no #h hash line");
    };
    if b.entries.is_empty() {
        return truncated(None, "no data lines");
    }
    let (updated_unix_s, expires_unix_s) = (
        updated_ntp - NTP_UNIX_OFFSET_S,
        expires_ntp - NTP_UNIX_OFFSET_S,
    );
    if updated_unix_s >= expires_unix_s {
        let kind = LeapErrorKind::UpdateNotBeforeExpiry {
            updated_unix_s,
            expires_unix_s,
        };
        return Err(LeapError::new(source, Some(expires_line), kind));
    }
    let digest = b.hasher.finalize();
    let mut computed_hash = [0u32; 5];
    for (word, chunk) in computed_hash.iter_mut().zip(digest.chunks_exact(4)) {
        *word = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    let list = LeapList {
        source: source.to_owned(),
        entries: b.entries,
        updated_unix_s,
        expires_unix_s,
    };
    Ok(ParsedLeapFile {
        list,
        hash_line,
        expected_hash,
        computed_hash,
    })
}

impl Builder<'_> {
    fn err(&self, line: usize, kind: LeapErrorKind) -> LeapError {
        LeapError::new(self.source, Some(line), kind)
    }

    fn line(&mut self, n: usize, raw: &[u8]) -> Result<(), LeapError> {
        match classify(raw) {
            LineKind::Blank | LineKind::Comment => Ok(()),
            LineKind::Updated(rest) => {
                let v = self.single_time(n, rest, "#$ last update", self.updated)?;
                self.updated = Some((n, v));
                Ok(())
            }
            LineKind::Expires(rest) => {
                let v = self.single_time(n, rest, "#@ expiry", self.expires)?;
                self.expires = Some((n, v));
                Ok(())
            }
            LineKind::Hash(rest) => self.hash_line(n, rest),
            LineKind::Data(text) => self.data_line(n, text),
        }
    }

    /// A `#$` or `#@` line: exactly one NTP time.
    fn single_time(
        &mut self,
        n: usize,
        rest: &[u8],
        what: &'static str,
        seen: Option<(usize, i64)>,
    ) -> Result<i64, LeapError> {
        if let Some((first_line, _)) = seen {
            return Err(self.err(n, LeapErrorKind::Duplicate { what, first_line }));
        }
        let mut fields = rest
            .split(u8::is_ascii_whitespace)
            .filter(|f| !f.is_empty());
        let (Some(field), None) = (fields.next(), fields.next()) else {
            let kind = bad_number(what, rest, "expected one NTP time in seconds");
            return Err(self.err(n, kind));
        };
        let v = self.ntp_time(n, field, what)?;
        self.hasher.update(field);
        Ok(v)
    }

    fn hash_line(&mut self, n: usize, rest: &[u8]) -> Result<(), LeapError> {
        if let Some((first_line, _)) = self.hash {
            return Err(self.err(
                n,
                LeapErrorKind::Duplicate {
                    what: "#h hash",
                    first_line,
                },
            ));
        }
        let fields: Vec<&[u8]> = rest
            .split(u8::is_ascii_whitespace)
            .filter(|f| !f.is_empty())
            .collect();
        let mut words = [0u32; 5];
        if fields.len() != words.len() {
            let kind = bad_number("#h hash", rest, "expected five hexadecimal words");
            return Err(self.err(n, kind));
        }
        for (word, field) in words.iter_mut().zip(&fields) {
            let hex = std::str::from_utf8(field)
                .ok()
                .filter(|s| (1..=8).contains(&s.len()) && s.bytes().all(|c| c.is_ascii_hexdigit()));
            match hex.and_then(|s| u32::from_str_radix(s, 16).ok()) {
                Some(v) => *word = v,
                None => {
                    let kind = bad_number("#h hash", field, "not a 32-bit hexadecimal word");
                    return Err(self.err(n, kind));
                }
            }
        }
        self.hash = Some((n, words));
        Ok(())
    }

    fn data_line(&mut self, n: usize, text: &[u8]) -> Result<(), LeapError> {
        let fields: Vec<&[u8]> = text
            .split(u8::is_ascii_whitespace)
            .filter(|f| !f.is_empty())
            .collect();
        let [time_field, offset_field] = fields[..] else {
            let detail = if fields.len() < 2 {
                "expected <NTP seconds> <TAI-UTC>, found fewer fields"
            } else {
                "expected <NTP seconds> <TAI-UTC>, found more fields (comments start with #)"
            };
            return Err(self.err(n, LeapErrorKind::BadLine { detail }));
        };
        let ntp_s = self.ntp_time(n, time_field, "NTP time")?;
        let offset = digits_value(offset_field)
            .and_then(|v| i32::try_from(v).map_err(|_| "out of range"))
            .map_err(|why| self.err(n, bad_number("TAI-UTC", offset_field, why)))?;
        if ntp_s % SECONDS_PER_DAY != 0 {
            return Err(self.err(n, LeapErrorKind::NotMidnight { ntp_s }));
        }
        if let Some(prev) = self.entries.last() {
            let previous_ntp_s = prev.unix_s + NTP_UNIX_OFFSET_S;
            if ntp_s <= previous_ntp_s {
                let kind = LeapErrorKind::NonIncreasing {
                    previous_line: prev.line,
                    previous_ntp_s,
                    ntp_s,
                };
                return Err(self.err(n, kind));
            }
            if (i64::from(offset) - i64::from(prev.tai_offset_s)).abs() != 1 {
                let kind = LeapErrorKind::BadStep {
                    previous_offset_s: prev.tai_offset_s,
                    offset_s: offset,
                };
                return Err(self.err(n, kind));
            }
        }
        self.hasher.update(time_field);
        self.hasher.update(offset_field);
        self.entries.push(LeapEntry {
            unix_s: ntp_s - NTP_UNIX_OFFSET_S,
            tai_offset_s: offset,
            line: n,
        });
        Ok(())
    }

    fn ntp_time(&self, n: usize, field: &[u8], what: &'static str) -> Result<i64, LeapError> {
        match digits_value(field) {
            Ok(v) if v <= MAX_NTP_S => Ok(v),
            Ok(_) => Err(self.err(n, bad_number(what, field, "after the year 9999"))),
            Err(why) => Err(self.err(n, bad_number(what, field, why))),
        }
    }
}

/// An unsigned decimal number of at most 18 digits (so it fits an `i64`).
fn digits_value(field: &[u8]) -> Result<i64, &'static str> {
    if field.is_empty() || !field.iter().all(u8::is_ascii_digit) {
        return Err("not an unsigned decimal number");
    }
    if field.len() > 18 {
        return Err("too many digits");
    }
    Ok(field
        .iter()
        .fold(0i64, |acc, &d| acc * 10 + i64::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_special_lines_and_strips_comments() {
        assert!(matches!(classify(b"#$\t1"), LineKind::Updated(b"\t1")));
        assert!(matches!(classify(b"  #@ 2\r"), LineKind::Expires(b" 2")));
        assert!(matches!(classify(b"#h 1 2"), LineKind::Hash(b" 1 2")));
        assert!(matches!(classify(b"#\tcomment"), LineKind::Comment));
        assert!(matches!(classify(b" \t\r"), LineKind::Blank));
        assert!(matches!(classify(b"1 2 # x"), LineKind::Data(b"1 2 ")));
    }

    #[test]
    fn digits_value_rejects_signs_and_overlong_numbers() {
        assert_eq!(digits_value(b"0042"), Ok(42));
        assert!(digits_value(b"-1").is_err());
        assert!(digits_value(b"+1").is_err());
        assert!(digits_value(b"1e3").is_err());
        assert!(digits_value(b"1234567890123456789").is_err());
    }
}
