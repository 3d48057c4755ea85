//! The daemon's side: create the record file atomically, publish states through the seqlock,
//! and leave an invalid, closed record behind when it stops.
//!
//! There is exactly one writer per file. The file is built under a temporary name in the same
//! directory, sized, mapped, given its header, and only then renamed into place, so a reader
//! never sees a half-made file. The writer never truncates or shrinks a file a reader may have
//! mapped: a restart creates a new inode and renames it over the old one. This module must
//! never publish anything it was not given, and never leave a readable "in sync" on drop.

use crate::error::CreateError;
use crate::layout::TIMENS_OFFSET_UNKNOWN;
use crate::layout::{Record, FLAG_WRITER_CLOSED, LAYOUT_VERSION, MAGIC, RECORD_SIZE};
use crate::reader::Reader;
use crate::seqlock;
use crate::state::{encode, State};
use crate::sys::Region;
use crate::timens;
use std::fs::{self, OpenOptions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
#[cfg(test)]
use std::sync::Arc;

/// The file mode of a record: readable by all, writable by its owner (the daemon) only.
pub const RECORD_FILE_MODE: u32 = 0o644;

/// The single writer of a record.
#[derive(Debug)]
pub struct Writer {
    path: PathBuf,
    region: Region,
    generation: u64,
}

impl Writer {
    /// Creates the record at `path` (replacing any previous one by rename), mode 0644, with
    /// its header written and its sequence at 0 (never published).
    ///
    /// The start generation is one more than that of a valid record already at `path`, or 1.
    /// The directory must exist.
    ///
    /// # Errors
    /// [`CreateError`] naming the file and the failed operation.
    pub fn create(path: impl AsRef<Path>) -> Result<Writer, CreateError> {
        let path = path.as_ref().to_path_buf();
        let generation = Reader::open(&path)
            .map(|old| old.writer_generation().wrapping_add(1).max(1))
            .unwrap_or(1);
        let tmp = temp_path(&path)?;
        let fail = |file: &Path, op, error| CreateError {
            path: file.to_path_buf(),
            op,
            error,
        };
        // A leftover from a writer that died with our pid; nobody else uses this name.
        let _ = fs::remove_file(&tmp);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(RECORD_FILE_MODE)
            .open(&tmp)
            .map_err(|e| fail(&tmp, "create", e))?;
        let built = (|| {
            // The umask may have cleared bits of the requested mode.
            let mode = fs::Permissions::from_mode(RECORD_FILE_MODE);
            file.set_permissions(mode)
                .map_err(|e| fail(&tmp, "fchmod", e))?;
            file.set_len(RECORD_SIZE as u64)
                .map_err(|e| fail(&tmp, "ftruncate", e))?;
            let region = Region::map(&file, true).map_err(|e| fail(&tmp, "mmap", e))?;
            write_header(region.record(), generation);
            fs::rename(&tmp, &path).map_err(|e| fail(&path, "rename", e))?;
            Ok(region)
        })();
        match built {
            Ok(region) => Ok(Writer {
                path,
                region,
                generation,
            }),
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// A writer over a heap record, for tests that cannot map files (Miri).
    #[cfg(test)]
    pub(crate) fn on_heap(record: Arc<Record>, generation: u64) -> Writer {
        write_header(&record, generation);
        Writer {
            path: PathBuf::from("<heap>"),
            region: Region::heap(record),
            generation,
        }
    }

    /// Publishes `state`: sequence to odd, payload, sequence to even. Never blocks.
    pub fn publish(&mut self, state: &State) {
        self.publish_words(state, 0);
    }

    /// The path of the record.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// This writer's start generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    fn publish_words(&mut self, state: &State, flags: u64) {
        let rec = self.region.record();
        seqlock::write(&rec.seq, &rec.payload, &encode(state, flags));
    }
}

impl Drop for Writer {
    /// Marks the record closed and expired (UNKNOWN, `valid_until` 0), so a stopped daemon
    /// leaves nothing a signer could accept. The file stays, so readers can tell "writer gone"
    /// from "never started".
    fn drop(&mut self) {
        self.publish_words(&State::closed(), FLAG_WRITER_CLOSED);
    }
}

/// `.NAME.tmp-PID` in the directory of `path`.
fn temp_path(path: &Path) -> Result<PathBuf, CreateError> {
    let name = path.file_name().ok_or_else(|| CreateError {
        path: path.to_path_buf(),
        op: "create",
        error: std::io::Error::new(std::io::ErrorKind::InvalidInput, "path has no file name"),
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    Ok(path.with_file_name(tmp_name))
}

fn write_header(rec: &Record, generation: u64) {
    let offset = timens::monotonic_offset_ns().unwrap_or(TIMENS_OFFSET_UNKNOWN);
    rec.magic.store(MAGIC, Relaxed);
    rec.layout_version.store(LAYOUT_VERSION, Relaxed);
    rec.record_size.store(RECORD_SIZE as u32, Relaxed);
    rec.writer_pid.store(std::process::id(), Relaxed);
    rec.writer_generation.store(generation, Relaxed);
    rec.writer_timens_monotonic_offset_ns.store(offset, Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::tests::insync_at;
    use crate::state::SyncState;
    use crate::sys::monotonic_ns;
    use crate::verdict::Reason;

    fn heap_pair() -> (Writer, Reader) {
        let record = Arc::new(Record::zeroed());
        let writer = Writer::on_heap(record.clone(), 3);
        let reader = Reader::from_region("<heap>".into(), Region::heap(record), (0, 0));
        (writer, reader)
    }

    #[test]
    fn unpublished_record_is_unknown() {
        let (_writer, mut reader) = heap_pair();
        let v = reader.check();
        assert_eq!((v.may_sign, v.reason), (false, Some(Reason::Unknown)));
        assert_eq!(reader.snapshot(), Err(Reason::Unknown));
        assert_eq!(reader.writer_generation(), 3);
        assert_eq!(reader.writer_pid(), std::process::id());
    }

    #[test]
    fn published_state_is_read_back() {
        let (mut writer, mut reader) = heap_pair();
        let state = insync_at(monotonic_ns());
        writer.publish(&state);
        let v = reader.check();
        assert!(v.may_sign, "{v:?}");
        assert_eq!(v.error_bound_ns, state.error_bound_ns);
        let snap = reader.snapshot().unwrap();
        assert_eq!(
            (snap.seq, snap.state, snap.writer_closed),
            (2, state, false)
        );
        let stamp = reader.timestamp();
        assert!(stamp.verdict.may_sign);
        assert!(stamp.realtime_sec > 1_577_836_800);
    }

    #[test]
    fn dropped_writer_leaves_a_closed_unknown_record() {
        let (mut writer, mut reader) = heap_pair();
        writer.publish(&insync_at(monotonic_ns()));
        drop(writer);
        let v = reader.check();
        assert!(!v.may_sign);
        assert_eq!(v.state, SyncState::Unknown);
        assert_eq!(v.reason, Some(Reason::WriterGone));
        let snap = reader.snapshot().unwrap();
        assert!(snap.writer_closed);
        assert_eq!(snap.state.valid_until_mono_ns, 0);
    }

    #[test]
    fn each_new_version_replaces_the_verified_copy() {
        let (mut writer, mut reader) = heap_pair();
        let mut state = insync_at(monotonic_ns());
        writer.publish(&state);
        assert!(reader.check().may_sign);
        assert!(reader.check().may_sign, "same version, reused");
        state.sync = SyncState::OutOfSync;
        writer.publish(&state);
        assert_eq!(reader.check().reason, Some(Reason::OutOfSync));
        state.sync = SyncState::InSync;
        state.error_bound_ns = 7;
        writer.publish(&state);
        let v = reader.check();
        assert_eq!((v.may_sign, v.error_bound_ns), (true, 7));
        assert_eq!(reader.check_uncached(), v);
    }

    #[test]
    fn out_of_sync_state_is_refused() {
        let (mut writer, mut reader) = heap_pair();
        let mut state = insync_at(monotonic_ns());
        state.sync = SyncState::OutOfSync;
        writer.publish(&state);
        assert_eq!(reader.check().reason, Some(Reason::OutOfSync));
    }

    #[test]
    fn concurrent_reader_never_accepts_a_mixed_copy() {
        // Under Miri this also runs its data-race detector and weak-memory emulation.
        let publishes: u64 = if cfg!(miri) { 60 } else { 20_000 };
        let (mut writer, mut reader) = heap_pair();
        let base = insync_at(monotonic_ns());
        let version = move |n: u64| State {
            error_bound_ns: n,
            offset_ns: -(n as i64),
            tai_offset_s: n as i64,
            ..base
        };
        writer.publish(&version(1));
        let handle = std::thread::spawn(move || {
            for n in 2..=publishes {
                writer.publish(&version(n));
            }
            writer
        });
        let mut last = 0;
        while last < publishes {
            match reader.snapshot() {
                Ok(snap) => {
                    let n = snap.state.error_bound_ns;
                    assert_eq!(snap.state, version(n), "mixed copy accepted");
                    assert_eq!(snap.seq, 2 * n);
                    assert!(n >= last, "went back from {last} to {n}");
                    last = n;
                }
                Err(reason) => assert_eq!(reason, Reason::Busy),
            }
            let v = reader.check();
            assert!(v.error_bound_ns >= last, "check went back");
        }
        drop(handle.join().unwrap());
    }

    #[test]
    fn temp_name_sits_beside_the_record() {
        let tmp = temp_path(Path::new("/run/ppsd/state")).unwrap();
        let expected = format!("/run/ppsd/.state.tmp-{}", std::process::id());
        assert_eq!(tmp, PathBuf::from(expected));
        assert!(temp_path(Path::new("/")).is_err());
    }
}
