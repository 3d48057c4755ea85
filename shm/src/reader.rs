//! The signer's side: open the record read-only, answer "may I sign now?" in about the cost of
//! one clock read, and follow the daemon across restarts.
//!
//! The fast path ([`Reader::check`]) is one load of the sequence, one CLOCK_MONOTONIC read and
//! a handful of comparisons; no system call besides the (vDSO) clock read, no allocation, no
//! lock. Each published version is copied through the seqlock, checksum-verified and decoded
//! once, the first time a check sees its sequence; later checks of the same version reuse that
//! verified copy (the single writer moves the sequence on before it changes any word). Only a
//! refusal that a daemon restart could explain takes the slow path, which looks at the path at
//! most every [`PATH_CHECK_INTERVAL_NS`] and reopens the file if it was replaced.
//!
//! Shrinking files: the writer never truncates; it replaces the file by rename, which leaves
//! this reader's mapping (and the old inode) intact. Open checks the size with `fstat` on the
//! same descriptor it maps, so a short file is an error, not a mapping, and refuses files
//! writable by group or others, so only the daemon's user and root can truncate the mapped
//! inode. If one of them does, the next read of the lost page raises SIGBUS, which kills the
//! signer unless it installed the opt-in guard (`sigbus.rs`); with the guard the read sees
//! zeros and the check refuses with [`Reason::FileShrunk`]. This module must never write to
//! the mapping or install signal handlers itself.

use crate::error::{OpenError, OpenErrorKind};
use crate::layout::{Record, LAYOUT_VERSION, MAGIC, RECORD_SIZE, TIMENS_OFFSET_UNKNOWN};
use crate::layout::{PAYLOAD_WORDS, VERDICT_WORDS};
use crate::seqlock::{self, ReadOutcome};
use crate::state::{decode, writer_closed, DecodeError, State};
use crate::sys::{self, Region};
use crate::timens;
use crate::verdict::{decode_block, judge_at, Published, Reason, Verdict};
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;

/// How often, at most, a refused reader looks at the path for a replaced file (100 ms).
pub const PATH_CHECK_INTERVAL_NS: i64 = 100_000_000;

/// Bytes of the header a reader validates before mapping: magic, version, record size.
const HEADER_PREFIX: usize = 16;

/// A verdict together with the CLOCK_REALTIME reading it applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// CLOCK_REALTIME seconds, read after the record and before the expiry clock read.
    pub realtime_sec: i64,
    /// CLOCK_REALTIME nanoseconds (0..1e9).
    pub realtime_nsec: u32,
    /// The verdict; sign with this time only if `verdict.may_sign`.
    pub verdict: Verdict,
}

/// A full, checksum-verified copy of the record, for status tools and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The (even) sequence value the copy was published under.
    pub seq: u64,
    /// Copies discarded because they raced the writer.
    pub retries: u32,
    /// The writer's process id.
    pub writer_pid: u32,
    /// The writer's start generation (one more than the record it replaced).
    pub writer_generation: u64,
    /// True if the writer has closed the record.
    pub writer_closed: bool,
    /// The published state.
    pub state: State,
}

/// A read-only view of the record that the daemon publishes.
///
/// `check` and `timestamp` take `&mut self` because they may reopen the file; give each thread
/// its own `Reader` (opening one is cheap) or guard a shared one with a lock.
#[derive(Debug)]
pub struct Reader {
    path: PathBuf,
    region: Region,
    /// The mapped file, kept open so its identity and size stay available.
    file: Option<File>,
    file_id: (u64, u64),
    writer_pid: u32,
    writer_generation: u64,
    clock_domain_ok: bool,
    /// Sequence of the version in `cached` (0: nothing cached; 0 is never a published one).
    cached_seq: u64,
    /// The last version copied, verified and decoded (meaningless while `cached_seq` is 0).
    cached: Published,
    next_path_check_ns: i64,
    /// Set by the slow path when the path no longer leads to a usable record.
    gone: Option<Reason>,
}

impl Reader {
    /// Opens the record at `path` read-only, validates its header and maps it `PROT_READ`.
    ///
    /// # Errors
    /// [`OpenError`] naming the path: missing, not a regular file, writable by others, too
    /// small or empty, wrong magic, unsupported layout version, size mismatch, or a failed
    /// system call.
    pub fn open(path: impl AsRef<Path>) -> Result<Reader, OpenError> {
        let path = path.as_ref();
        let err = |kind| OpenError {
            path: path.to_path_buf(),
            kind,
        };
        let file = File::open(path).map_err(|e| err(io_kind("open", e)))?;
        let meta = file.metadata().map_err(|e| err(io_kind("fstat", e)))?;
        validate_file(&file, &meta).map_err(err)?;
        let region = Region::map(&file, false).map_err(|e| err(io_kind("mmap", e)))?;
        let mut reader = Reader::from_region(path.to_path_buf(), region, (meta.dev(), meta.ino()));
        reader.file = Some(file);
        Ok(reader)
    }

    /// A reader over an already validated region (a mapping, or a heap record in tests).
    pub(crate) fn from_region(path: PathBuf, region: Region, file_id: (u64, u64)) -> Reader {
        let rec = region.record();
        let writer_offset = rec.writer_timens_monotonic_offset_ns.load(Relaxed);
        let own_offset = timens::monotonic_offset_ns();
        Reader {
            path,
            writer_pid: rec.writer_pid.load(Relaxed),
            writer_generation: rec.writer_generation.load(Relaxed),
            clock_domain_ok: writer_offset != TIMENS_OFFSET_UNKNOWN
                && own_offset == Some(writer_offset),
            file_id,
            region,
            file: None,
            cached_seq: 0,
            cached: Published::NONE,
            next_path_check_ns: i64::MIN,
            gone: None,
        }
    }

    /// May I sign now? One sequence load and one CLOCK_MONOTONIC read on the fast path.
    #[inline]
    pub fn check(&mut self) -> Verdict {
        let failure = self.refresh();
        let now = sys::monotonic_ns();
        let verdict = self.verdict(failure, now);
        if verdict.may_sign {
            return verdict;
        }
        self.after_refusal(verdict, now)
    }

    /// CLOCK_REALTIME now, with the verdict that applies to it. The realtime clock is read
    /// after the record and before the monotonic clock that decides expiry, so the returned
    /// time lies inside the validity the verdict checked.
    #[inline]
    pub fn timestamp(&mut self) -> Stamp {
        let failure = self.refresh();
        let realtime = sys::realtime();
        let now = sys::monotonic_ns();
        let mut verdict = self.verdict(failure, now);
        if !verdict.may_sign {
            verdict = self.after_refusal(verdict, now);
        }
        match realtime {
            Some((realtime_sec, realtime_nsec)) => Stamp {
                realtime_sec,
                realtime_nsec,
                verdict,
            },
            None => Stamp {
                realtime_sec: 0,
                realtime_nsec: 0,
                verdict: Verdict::refused(Reason::ClockUnreadable),
            },
        }
    }

    /// [`Reader::check`] with the verified copy of the current version discarded first, so
    /// that the call copies, verifies and decodes the record as it does for a new version.
    /// For measuring that path; signers call `check`.
    #[doc(hidden)]
    pub fn check_uncached(&mut self) -> Verdict {
        self.cached_seq = 0;
        self.check()
    }

    /// A full copy of the record with both checksums verified.
    ///
    /// # Errors
    /// The refusal reason: `Unknown` (never published), `Busy`, `Checksum` or `Inconsistent`
    /// (undefined code).
    pub fn snapshot(&self) -> Result<Snapshot, Reason> {
        let rec = self.region.record();
        let mut words = [0u64; PAYLOAD_WORDS];
        let (seq, retries) = match seqlock::read(&rec.seq, &rec.payload, &mut words) {
            ReadOutcome::Copied { seq, retries } => (seq, retries),
            ReadOutcome::NeverWritten => return Err(Reason::Unknown),
            ReadOutcome::Busy => return Err(Reason::Busy),
        };
        let (state, flags) = decode(&words).map_err(|e| match e {
            DecodeError::Checksum => Reason::Checksum,
            DecodeError::UndefinedCode => Reason::Inconsistent,
        })?;
        Ok(Snapshot {
            seq,
            retries,
            writer_pid: self.writer_pid,
            writer_generation: self.writer_generation,
            writer_closed: writer_closed(flags),
            state,
        })
    }

    /// Opens the path again and, if that succeeds, switches to the new record.
    ///
    /// # Errors
    /// As [`Reader::open`]; on error the reader keeps its current record.
    pub fn reopen(&mut self) -> Result<(), OpenError> {
        let fresh = Reader::open(&self.path)?;
        *self = fresh;
        Ok(())
    }

    /// The path this reader opened.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The writer's process id, from the header.
    pub fn writer_pid(&self) -> u32 {
        self.writer_pid
    }

    /// The writer's start generation, from the header.
    pub fn writer_generation(&self) -> u64 {
        self.writer_generation
    }

    /// True if this reader's CLOCK_MONOTONIC is the writer's (same time namespace offset).
    pub fn clock_domain_ok(&self) -> bool {
        self.clock_domain_ok
    }

    /// Makes `cached` the current version: nothing to do if the sequence has not moved,
    /// otherwise copy it. Returns why there is no usable current version, if there is none.
    #[inline]
    fn refresh(&mut self) -> Option<Reason> {
        let seq = seqlock::current(&self.region.record().seq);
        if seq == self.cached_seq && seq != 0 {
            return None;
        }
        self.copy_new_version()
    }

    /// Copies the verdict block through the seqlock, verifies and decodes it, and caches it.
    #[cold]
    #[inline(never)]
    fn copy_new_version(&mut self) -> Option<Reason> {
        let rec: &Record = self.region.record();
        let mut words = [0u64; VERDICT_WORDS];
        match seqlock::read(&rec.seq, &rec.payload[..VERDICT_WORDS], &mut words) {
            ReadOutcome::Copied { seq, .. } => match decode_block(&words) {
                Ok(published) => {
                    self.cached_seq = seq;
                    self.cached = published;
                    None
                }
                Err(reason) => Some(reason),
            },
            ReadOutcome::NeverWritten => Some(Reason::Unknown),
            ReadOutcome::Busy => Some(Reason::Busy),
        }
    }

    /// The verdict at `now`: from the cached version, or the refusal `refresh` returned.
    #[inline]
    fn verdict(&self, failure: Option<Reason>, now: i64) -> Verdict {
        match failure {
            None => judge_at(&self.cached, now, self.clock_domain_ok),
            Some(reason) => Verdict::refused(reason),
        }
    }

    /// The slow path after a refusal: maybe look at the path, maybe reopen and judge again.
    #[cold]
    #[inline(never)]
    fn after_refusal(&mut self, verdict: Verdict, now: i64) -> Verdict {
        // Only a reader opened from a path (not a heap record in tests) can follow the path.
        if self.file.is_none() || !verdict.reason.is_some_and(Reason::may_be_restart) {
            return verdict;
        }
        if now >= self.next_path_check_ns {
            let reopened = self.follow_path();
            self.next_path_check_ns = now.saturating_add(PATH_CHECK_INTERVAL_NS);
            if reopened {
                // A fresh record: judge it once; the next reopen waits for the interval.
                let failure = self.refresh();
                return self.verdict(failure, sys::monotonic_ns());
            }
        }
        let reason = if self.region.shrunk() {
            Some(Reason::FileShrunk)
        } else {
            self.gone
        };
        match reason {
            Some(reason) => Verdict {
                reason: Some(reason),
                ..verdict
            },
            None => verdict,
        }
    }

    /// Looks at the path: same file, a replacement (reopened: returns true), or gone.
    fn follow_path(&mut self) -> bool {
        let meta = match std::fs::metadata(&self.path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.gone = Some(Reason::WriterGone);
                return false;
            }
            Err(_) => return false,
        };
        if (meta.dev(), meta.ino()) == self.file_id {
            self.gone = None;
            return false;
        }
        match Reader::open(&self.path) {
            Ok(fresh) => {
                *self = fresh;
                true
            }
            Err(e) => {
                self.gone = Some(if e.kind.is_layout() {
                    Reason::LayoutMismatch
                } else {
                    Reason::WriterGone
                });
                false
            }
        }
    }
}

fn io_kind(op: &'static str, error: io::Error) -> OpenErrorKind {
    if error.kind() == io::ErrorKind::NotFound {
        OpenErrorKind::NotFound
    } else {
        OpenErrorKind::Io { op, error }
    }
}

/// Checks type, permissions, size and header of an open file before anything maps it.
fn validate_file(file: &File, meta: &std::fs::Metadata) -> Result<(), OpenErrorKind> {
    if !meta.file_type().is_file() {
        return Err(OpenErrorKind::NotRegularFile);
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(OpenErrorKind::WritableByOthers { mode });
    }
    let size = meta.len();
    if size < HEADER_PREFIX as u64 {
        let need = RECORD_SIZE as u64;
        return Err(OpenErrorKind::TooSmall { size, need });
    }
    let mut prefix = [0u8; HEADER_PREFIX];
    file.read_exact_at(&mut prefix, 0)
        .map_err(|error| OpenErrorKind::Io { op: "pread", error })?;
    let [m0, m1, m2, m3, m4, m5, m6, m7, v0, v1, v2, v3, s0, s1, s2, s3] = prefix;
    let found = u64::from_le_bytes([m0, m1, m2, m3, m4, m5, m6, m7]);
    if found != MAGIC {
        return Err(OpenErrorKind::BadMagic { found });
    }
    let version = u32::from_le_bytes([v0, v1, v2, v3]);
    if version != LAYOUT_VERSION {
        return Err(OpenErrorKind::UnsupportedVersion {
            found: version,
            supported: LAYOUT_VERSION,
        });
    }
    let declared = u32::from_le_bytes([s0, s1, s2, s3]);
    if declared as usize != RECORD_SIZE {
        let expected = RECORD_SIZE as u32;
        return Err(OpenErrorKind::SizeMismatch { declared, expected });
    }
    if size < RECORD_SIZE as u64 {
        let need = RECORD_SIZE as u64;
        return Err(OpenErrorKind::TooSmall { size, need });
    }
    Ok(())
}
