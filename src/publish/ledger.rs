//! The ledger file: the untrusted intervals the engine reports, appended one JSON line each and
//! flushed to disk (`fdatasync`) before the call returns, so a record survives SIGKILL at once
//! and power loss as far as the filesystem keeps synced data. At start-up the file is read
//! back: a torn last line (power loss in the middle of a write) is dropped, or completed if
//! only its newline was lost, and the time ppsd was down — from the last record to now — is
//! recorded, since signers had nothing valid to read meanwhile. The format is in
//! `docs/trust.md`.
//!
//! Times are CLOCK_REALTIME as RFC 3339 UTC with nine fractional digits. This module never
//! rewrites a complete record and never decides anything about trust; every error is one line
//! naming the file and the operation.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::engine::ledger::{UntrustedBegan, UntrustedInterval};
use crate::engine::{EngineEvent, Reason, SyncState};
use crate::time::Timestamp;

/// One line of the ledger.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case", deny_unknown_fields)]
pub enum Record {
    /// ppsd was not running (or not publishing) from `from` (its last record) to `to` (its
    /// next start): signers had no valid state in between.
    Down {
        /// Time of the last record before the start.
        #[serde(with = "rfc3339")]
        from: Timestamp,
        /// The start.
        #[serde(with = "rfc3339")]
        to: Timestamp,
    },
    /// ppsd started.
    Started {
        /// When.
        #[serde(with = "rfc3339")]
        at: Timestamp,
    },
    /// An untrusted interval began and is not closed yet.
    UntrustedBegan {
        /// The last instant the state was INSYNC.
        #[serde(with = "rfc3339")]
        start: Timestamp,
        /// When the engine found the state no longer INSYNC.
        #[serde(with = "rfc3339")]
        found: Timestamp,
        /// Why.
        reason: Reason,
        /// The state published.
        state: SyncState,
    },
    /// A complete untrusted interval.
    Untrusted {
        /// The last instant the state was INSYNC before it.
        #[serde(with = "rfc3339")]
        start: Timestamp,
        /// The first instant the state was INSYNC after it.
        #[serde(with = "rfc3339")]
        end: Timestamp,
        /// Length on CLOCK_MONOTONIC, ns.
        duration_ns: i64,
        /// Why it began.
        reason: Reason,
        /// Worst state published in it.
        worst_state: SyncState,
        /// Largest bound published in it, ns; null when at some point there was none.
        worst_bound_ns: Option<i64>,
        /// Sum of the clock steps seen in it, ns.
        clock_steps_ns: i64,
    },
    /// ppsd is running and published `state` at `at` (a heartbeat: it bounds the down time
    /// recorded after a crash).
    Alive {
        /// When.
        #[serde(with = "rfc3339")]
        at: Timestamp,
        /// The state published then.
        state: SyncState,
    },
    /// ppsd stopped on request.
    Stopped {
        /// When.
        #[serde(with = "rfc3339")]
        at: Timestamp,
    },
}

impl Record {
    /// The latest instant the record speaks of.
    pub fn time(&self) -> Timestamp {
        match *self {
            Record::Down { to, .. } => to,
            Record::Started { at } | Record::Alive { at, .. } | Record::Stopped { at } => at,
            Record::UntrustedBegan { found, .. } => found,
            Record::Untrusted { end, .. } => end,
        }
    }

    /// The record for an engine event, if the event belongs in the ledger.
    pub fn from_event(e: &EngineEvent) -> Option<Record> {
        match *e {
            EngineEvent::UntrustedBegan(b) => Some(Record::began(&b)),
            EngineEvent::UntrustedEnded(i) => Some(Record::interval(&i)),
            _ => None,
        }
    }

    /// The record of an interval that has begun.
    pub fn began(b: &UntrustedBegan) -> Record {
        Record::UntrustedBegan {
            start: b.start,
            found: b.found,
            reason: b.reason,
            state: b.state,
        }
    }

    /// The record of a closed interval.
    pub fn interval(i: &UntrustedInterval) -> Record {
        Record::Untrusted {
            start: i.start,
            end: i.end,
            duration_ns: i.duration_ns,
            reason: i.reason,
            worst_state: i.worst_state,
            worst_bound_ns: i.worst_bound_ns,
            clock_steps_ns: i.clock_steps_ns,
        }
    }
}

/// RFC 3339 UTC with nine fractional digits, from and to integer nanoseconds.
mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::format_description::FormatItem;
    use time::macros::format_description;
    use time::{OffsetDateTime, PrimitiveDateTime};

    use crate::time::Timestamp;

    const FORMAT: &[FormatItem<'static>] =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z");

    pub fn text(t: Timestamp) -> Option<String> {
        let dt = OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.as_ns())).ok()?;
        dt.format(FORMAT).ok()
    }

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        match text(*t) {
            Some(v) => s.serialize_str(&v),
            None => Err(serde::ser::Error::custom("time out of range")),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let v = <&str>::deserialize(d)?;
        let dt = PrimitiveDateTime::parse(v, FORMAT).map_err(serde::de::Error::custom)?;
        let ns = i64::try_from(dt.assume_utc().unix_timestamp_nanos())
            .map_err(|_| serde::de::Error::custom("time out of range"))?;
        Ok(Timestamp::from_ns(ns))
    }
}

/// A time as the ledger writes it (RFC 3339 UTC, nine fractional digits).
pub fn format_time(t: Timestamp) -> String {
    rfc3339::text(t).unwrap_or_else(|| t.to_string())
}

/// A ledger file operation that failed: `PATH: operation: cause`, one line.
#[derive(Debug)]
pub struct LedgerError {
    /// The file.
    pub path: PathBuf,
    /// What was being done.
    pub op: &'static str,
    /// The cause.
    pub cause: std::io::Error,
}

impl fmt::Display for LedgerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.path.display(), self.op, self.cause)
    }
}

impl std::error::Error for LedgerError {}

/// What reading a ledger back found.
#[derive(Debug, Default)]
pub struct ReadBack {
    /// Every complete record, in file order.
    pub records: Vec<Record>,
    /// 1-based numbers of complete lines that are not records (damage; left in place).
    pub bad_lines: Vec<usize>,
    /// Length of an incomplete last line, bytes (0 when the file ends with a newline).
    pub torn_bytes: usize,
    /// The incomplete last line is a whole record that only lost its newline.
    pub torn_is_record: bool,
}

fn parse(bytes: &[u8]) -> ReadBack {
    let mut back = ReadBack::default();
    let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let lines = bytes[..complete.saturating_sub(1)].split(|b| *b == b'\n');
    for (i, line) in lines
        .enumerate()
        .filter(|(_, l)| complete > 0 && !l.is_empty())
    {
        match std::str::from_utf8(line)
            .ok()
            .and_then(|l| serde_json::from_str(l).ok())
        {
            Some(r) => back.records.push(r),
            None => back.bad_lines.push(i + 1),
        }
    }
    let tail = &bytes[complete..];
    back.torn_bytes = tail.len();
    if let Some(r) = std::str::from_utf8(tail)
        .ok()
        .and_then(|l| serde_json::from_str::<Record>(l).ok())
    {
        back.torn_is_record = true;
        back.records.push(r);
    }
    back
}

/// Reads the ledger at `path` without changing it.
///
/// # Errors
/// The file cannot be read.
pub fn read(path: &Path) -> Result<ReadBack, LedgerError> {
    let bytes = std::fs::read(path).map_err(|cause| LedgerError {
        path: path.to_path_buf(),
        op: "read",
        cause,
    })?;
    Ok(parse(&bytes))
}

/// The ledger, open for appending.
#[derive(Debug)]
pub struct LedgerFile {
    file: File,
    path: PathBuf,
}

/// What [`LedgerFile::open`] found and did.
#[derive(Debug)]
pub struct Opened {
    /// The ledger, ready for appending.
    pub ledger: LedgerFile,
    /// What the file held before this start (a torn record that only lost its newline
    /// included).
    pub before: ReadBack,
    /// The down time recorded, if the file held any record.
    pub down: Option<(Timestamp, Timestamp)>,
}

impl LedgerFile {
    fn err(&self, op: &'static str) -> impl FnOnce(std::io::Error) -> LedgerError + '_ {
        move |cause| LedgerError {
            path: self.path.clone(),
            op,
            cause,
        }
    }

    /// Opens (creating) the ledger at `path` as ppsd starts at CLOCK_REALTIME `now`: reads it
    /// back, repairs a torn last line (drops it, or completes it when only the newline was
    /// lost), records the down time since its last record (if any), and records the start.
    ///
    /// # Errors
    /// The file cannot be opened, read, repaired, written or synced.
    pub fn open(path: &Path, now: Timestamp) -> Result<Opened, LedgerError> {
        let created = !path.exists();
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(|cause| LedgerError {
                path: path.to_path_buf(),
                op: "open",
                cause,
            })?;
        let mut ledger = LedgerFile {
            file,
            path: path.to_path_buf(),
        };
        if created {
            ledger.sync_dir()?;
        }
        let mut bytes = Vec::new();
        (&ledger.file)
            .read_to_end(&mut bytes)
            .map_err(ledger.err("read"))?;
        let before = parse(&bytes);
        if before.torn_bytes > 0 {
            if before.torn_is_record {
                ledger.write_line(b"\n")?;
            } else {
                let keep = (bytes.len() - before.torn_bytes) as u64;
                ledger.file.set_len(keep).map_err(ledger.err("truncate"))?;
                ledger.file.sync_data().map_err(ledger.err("fdatasync"))?;
            }
        }
        let down = before.records.last().map(|r| (r.time(), now));
        if let Some((from, to)) = down {
            ledger.append(&Record::Down { from, to })?;
        }
        ledger.append(&Record::Started { at: now })?;
        Ok(Opened {
            ledger,
            before,
            down,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_line(&mut self, line: &[u8]) -> Result<(), LedgerError> {
        self.file.write_all(line).map_err(self.err("write"))?;
        self.file.sync_data().map_err(self.err("fdatasync"))
    }

    /// Makes the file's directory entry durable (after creating it).
    fn sync_dir(&self) -> Result<(), LedgerError> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(self.err("fsync directory"))
    }

    /// Appends `record` as one line and syncs it to disk before returning.
    ///
    /// # Errors
    /// The record cannot be encoded, written or synced.
    pub fn append(&mut self, record: &Record) -> Result<(), LedgerError> {
        let mut line = serde_json::to_vec(record).map_err(|e| LedgerError {
            path: self.path.clone(),
            op: "encode",
            cause: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })?;
        line.push(b'\n');
        self.write_line(&line)
    }

    /// Appends the record for `event` if it belongs in the ledger; true when it did.
    ///
    /// # Errors
    /// As [`LedgerFile::append`].
    pub fn record_event(&mut self, event: &EngineEvent) -> Result<bool, LedgerError> {
        match Record::from_event(event) {
            Some(r) => self.append(&r).map(|()| true),
            None => Ok(false),
        }
    }
}
