//! Helpers shared by the integration tests: a scratch directory, record files in every state
//! the tests need, and the location of the built C library. Test support only.

#![allow(dead_code)]

use ppsd_shm::{monotonic_ns, Ident, LeapState, State, SyncState, Writer};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// A directory under the system temp dir, removed with its contents on drop.
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    /// A fresh, empty directory named after the test.
    pub fn new(tag: &str) -> ScratchDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ppsd-shm-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create scratch dir");
        ScratchDir(dir)
    }

    /// A path inside the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// The directory itself.
    pub fn dir(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// An INSYNC state computed now, valid for `valid_for_ns`.
pub fn insync_for(valid_for_ns: i64) -> State {
    let now = monotonic_ns();
    State {
        sync: SyncState::InSync,
        leap: LeapState::None,
        error_bound_ns: 850,
        declared_accuracy_ns: 1_000_000,
        offset_ns: 12,
        frequency_offset_ppt: -4_500_000,
        last_pulse_realtime_ns: 1_760_000_000_000_000_000,
        updated_at_mono_ns: now,
        valid_until_mono_ns: now + valid_for_ns,
        tai_offset_s: 37,
        next_leap_utc_s: 0,
        leap_window: None,
        pulse_source_id: Ident::new("gps0:/dev/pps0").unwrap(),
        time_of_day_ref_id: Ident::new("nts:ptb UTC(PTB)").unwrap(),
    }
}

/// Writes `bytes` to `path` with mode 0644.
pub fn write_file(path: &Path, bytes: &[u8]) {
    fs::write(path, bytes).expect("write test file");
    fs::set_permissions(path, fs::Permissions::from_mode(0o644)).expect("chmod test file");
}

/// Creates a record at `path`, publishes `state` and forgets the writer, so the record stays
/// as published (no drop marking it closed).
pub fn publish_and_leave(path: &Path, state: &State) {
    let mut writer = Writer::create(path).expect("create record");
    writer.publish(state);
    std::mem::forget(writer);
}

/// The directory in which cargo built this crate's libraries for this test run
/// (`target/<profile>/deps`, beside the test executable; `cargo test` does not copy the
/// cdylib and staticlib up to `target/<profile>`, so those copies may be stale).
pub fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent().expect("deps dir").to_path_buf()
}

/// The path of this crate's C shared library, failing the test with a clear message if cargo
/// has not built it.
pub fn cdylib() -> PathBuf {
    let lib = lib_dir().join("libppsd_shm.so");
    assert!(
        lib.exists(),
        "{}: not built (cargo builds it with the lib)",
        lib.display()
    );
    lib
}
