//! Reader and writer through real files: bad files give typed errors naming the path, the
//! writer's file is created atomically with mode 0644, and readers follow a daemon restart.

mod common;

use common::{insync_for, publish_and_leave, write_file, ScratchDir};
use ppsd_shm::{
    LeapState, LeapWindow, OpenErrorKind, Reader, Reason, SyncState, Writer, RECORD_SIZE,
};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

const MAGIC: &[u8; 8] = b"PPSD-SHM";

/// A header with the given magic, version and size, padded to `len` bytes.
fn header_bytes(magic: &[u8; 8], version: u32, size: u32, len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    bytes[..8].copy_from_slice(magic);
    bytes[8..12].copy_from_slice(&version.to_le_bytes());
    bytes[12..16].copy_from_slice(&size.to_le_bytes());
    bytes
}

fn open_kind(path: &std::path::Path) -> (OpenErrorKind, String) {
    let err = Reader::open(path).expect_err("open must fail");
    assert_eq!(err.path, path);
    let text = err.to_string();
    assert!(text.starts_with(&format!("{}: ", path.display())), "{text}");
    assert!(!text.contains('\n'));
    (err.kind, text)
}

#[test]
fn missing_file_is_not_found() {
    let dir = ScratchDir::new("missing");
    let (kind, _) = open_kind(&dir.path("state"));
    assert!(matches!(kind, OpenErrorKind::NotFound), "{kind:?}");
}

#[test]
fn empty_file_is_too_small() {
    let dir = ScratchDir::new("empty");
    let path = dir.path("state");
    write_file(&path, b"");
    let (kind, text) = open_kind(&path);
    assert!(
        matches!(kind, OpenErrorKind::TooSmall { size: 0, .. }),
        "{kind:?}"
    );
    assert!(text.ends_with("empty file"));
}

#[test]
fn truncated_files_are_too_small() {
    let dir = ScratchDir::new("truncated");
    let path = dir.path("state");
    write_file(&path, &header_bytes(MAGIC, 1, RECORD_SIZE as u32, 16)[..10]);
    let (kind, _) = open_kind(&path);
    assert!(
        matches!(
            kind,
            OpenErrorKind::TooSmall {
                size: 10,
                need: 384
            }
        ),
        "{kind:?}"
    );
    // A valid header whose body was cut short.
    write_file(&path, &header_bytes(MAGIC, 1, RECORD_SIZE as u32, 200));
    let (kind, text) = open_kind(&path);
    assert!(
        matches!(
            kind,
            OpenErrorKind::TooSmall {
                size: 200,
                need: 384
            }
        ),
        "{kind:?}"
    );
    assert!(text.ends_with("too short: 200 bytes, need 384"), "{text}");
}

#[test]
fn wrong_magic_is_refused() {
    let dir = ScratchDir::new("magic");
    let path = dir.path("state");
    write_file(
        &path,
        &header_bytes(b"NOTPPSD!", 1, RECORD_SIZE as u32, RECORD_SIZE),
    );
    let (kind, _) = open_kind(&path);
    let expected = u64::from_le_bytes(*b"NOTPPSD!");
    assert!(
        matches!(kind, OpenErrorKind::BadMagic { found } if found == expected),
        "{kind:?}"
    );
}

#[test]
fn newer_layout_version_is_refused_whatever_its_size() {
    let dir = ScratchDir::new("version");
    let path = dir.path("state");
    write_file(&path, &header_bytes(MAGIC, 2, 512, 512));
    let (kind, text) = open_kind(&path);
    let ok = matches!(
        kind,
        OpenErrorKind::UnsupportedVersion {
            found: 2,
            supported: 1
        }
    );
    assert!(ok, "{kind:?}");
    assert!(text.contains("layout version 2"), "{text}");
    // Smaller than a v1 record, but the version is what the operator needs to hear about.
    write_file(&path, &header_bytes(MAGIC, 7, 64, 64));
    let (kind, _) = open_kind(&path);
    assert!(
        matches!(kind, OpenErrorKind::UnsupportedVersion { found: 7, .. }),
        "{kind:?}"
    );
}

#[test]
fn header_size_mismatch_is_refused() {
    let dir = ScratchDir::new("size");
    let path = dir.path("state");
    write_file(&path, &header_bytes(MAGIC, 1, 256, RECORD_SIZE));
    let (kind, _) = open_kind(&path);
    let ok = matches!(
        kind,
        OpenErrorKind::SizeMismatch {
            declared: 256,
            expected: 384
        }
    );
    assert!(ok, "{kind:?}");
}

#[test]
fn random_bytes_are_refused() {
    let dir = ScratchDir::new("random");
    let path = dir.path("state");
    // xorshift64: deterministic "random" content, several sizes.
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for len in [1usize, 15, 16, 383, 384, 4096] {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        write_file(&path, &bytes);
        let (kind, _) = open_kind(&path);
        let refused = matches!(
            kind,
            OpenErrorKind::TooSmall { .. } | OpenErrorKind::BadMagic { .. }
        );
        assert!(refused, "len {len}: {kind:?}");
    }
}

#[test]
fn directory_and_world_writable_files_are_refused() {
    let dir = ScratchDir::new("kind");
    let (kind, _) = open_kind(dir.dir());
    let not_file = matches!(
        kind,
        OpenErrorKind::NotRegularFile | OpenErrorKind::Io { .. }
    );
    assert!(not_file, "{kind:?}");
    let path = dir.path("state");
    publish_and_leave(&path, &insync_for(1_000_000_000));
    fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).unwrap();
    let (kind, _) = open_kind(&path);
    assert!(
        matches!(kind, OpenErrorKind::WritableByOthers { mode: 0o666 }),
        "{kind:?}"
    );
}

#[test]
fn writer_creates_a_0644_file_atomically_and_leaves_no_temp_file() {
    let dir = ScratchDir::new("create");
    let path = dir.path("state");
    let writer = Writer::create(&path).unwrap();
    let meta = fs::metadata(&path).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o644);
    assert_eq!(meta.len(), RECORD_SIZE as u64);
    let names: Vec<_> = fs::read_dir(dir.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("state")]);
    let mut reader = Reader::open(&path).unwrap();
    assert_eq!(
        reader.check().reason,
        Some(Reason::Unknown),
        "never published"
    );
    assert_eq!(reader.writer_pid(), std::process::id());
    assert_eq!(writer.generation(), 1);
    assert!(reader.clock_domain_ok());
}

#[test]
fn writer_fails_cleanly_when_the_directory_is_missing() {
    let dir = ScratchDir::new("nodir");
    let path = dir.path("missing/state");
    let err = Writer::create(&path).expect_err("no directory");
    assert_eq!(err.op, "create");
    assert!(err.to_string().contains("missing/.state.tmp-"), "{err}");
}

#[test]
fn published_state_reaches_a_file_reader() {
    let dir = ScratchDir::new("publish");
    let path = dir.path("state");
    let mut writer = Writer::create(&path).unwrap();
    let mut reader = Reader::open(&path).unwrap();
    let state = insync_for(2_000_000_000);
    writer.publish(&state);
    let v = reader.check();
    assert!(v.may_sign, "{v:?}");
    assert_eq!(
        (v.state, v.leap, v.error_bound_ns),
        (SyncState::InSync, LeapState::None, 850)
    );
    let snap = reader.snapshot().unwrap();
    assert_eq!(snap.state, state);
    assert_eq!(snap.state.pulse_source_id.as_string(), "gps0:/dev/pps0");
    let stamp = reader.timestamp();
    assert!(stamp.verdict.may_sign);
    let (sec, _) = ppsd_shm::realtime().unwrap();
    assert!((stamp.realtime_sec - sec).abs() <= 1);
}

#[test]
fn expired_state_is_refused() {
    let dir = ScratchDir::new("expired");
    let path = dir.path("state");
    let mut state = insync_for(0);
    state.valid_until_mono_ns = state.updated_at_mono_ns + 1;
    publish_and_leave(&path, &state);
    let mut reader = Reader::open(&path).unwrap();
    let v = reader.check();
    assert_eq!((v.may_sign, v.reason), (false, Some(Reason::Expired)));
}

#[test]
fn leap_window_refuses_while_inside() {
    let dir = ScratchDir::new("leap");
    let path = dir.path("state");
    let mut state = insync_for(5_000_000_000);
    state.leap = LeapState::Positive;
    state.leap_window = Some(LeapWindow {
        start_realtime_ns: 1,
        end_realtime_ns: 2,
        start_mono_ns: state.updated_at_mono_ns,
        end_mono_ns: state.updated_at_mono_ns + 4_000_000_000,
    });
    publish_and_leave(&path, &state);
    let v = Reader::open(&path).unwrap().check();
    assert_eq!((v.may_sign, v.reason), (false, Some(Reason::InLeapWindow)));
    assert_eq!(v.leap, LeapState::Positive);
}

#[test]
fn reader_follows_a_daemon_restart() {
    let dir = ScratchDir::new("restart");
    let path = dir.path("state");
    let mut first = Writer::create(&path).unwrap();
    first.publish(&insync_for(2_000_000_000));
    let mut reader = Reader::open(&path).unwrap();
    assert!(reader.check().may_sign);
    let old_pid_gen = (reader.writer_pid(), reader.writer_generation());
    drop(first);
    // The stopped daemon left a closed record; the path still leads to it.
    assert_eq!(reader.check().reason, Some(Reason::WriterGone));
    let mut second = Writer::create(&path).unwrap();
    assert_eq!(
        second.generation(),
        2,
        "one more than the record it replaced"
    );
    second.publish(&insync_for(2_000_000_000));
    // The reader looks at the path at most every PATH_CHECK_INTERVAL_NS.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let verdict = loop {
        let v = reader.check();
        if v.may_sign || std::time::Instant::now() > deadline {
            break v;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert!(verdict.may_sign, "{verdict:?}");
    assert_eq!(reader.writer_generation(), 2);
    assert_ne!(
        (reader.writer_pid(), reader.writer_generation()),
        old_pid_gen
    );
}

#[test]
fn removed_file_reads_as_writer_gone_and_the_mapping_survives() {
    let dir = ScratchDir::new("removed");
    let path = dir.path("state");
    let mut state = insync_for(0);
    state.valid_until_mono_ns = state.updated_at_mono_ns + 1;
    publish_and_leave(&path, &state);
    let mut reader = Reader::open(&path).unwrap();
    fs::remove_file(&path).unwrap();
    assert_eq!(reader.check().reason, Some(Reason::WriterGone));
    assert_eq!(
        reader.snapshot().unwrap().state,
        state,
        "old inode still mapped"
    );
    assert!(reader.reopen().is_err());
}

#[test]
fn replacement_with_a_newer_layout_is_reported_as_layout_mismatch() {
    let dir = ScratchDir::new("newer");
    let path = dir.path("state");
    let mut state = insync_for(0);
    state.valid_until_mono_ns = state.updated_at_mono_ns + 1;
    publish_and_leave(&path, &state);
    let mut reader = Reader::open(&path).unwrap();
    let tmp = dir.path("next");
    write_file(&tmp, &header_bytes(MAGIC, 2, 512, 512));
    fs::rename(&tmp, &path).unwrap();
    assert_eq!(reader.check().reason, Some(Reason::LayoutMismatch));
}

#[test]
fn reader_stuck_on_a_writer_that_died_mid_write_follows_its_successor() {
    let dir = ScratchDir::new("midwrite");
    let path = dir.path("state");
    // A valid header and a sequence left odd: the writer died between its two stores.
    let mut bytes = header_bytes(MAGIC, 1, RECORD_SIZE as u32, RECORD_SIZE);
    bytes[64..72].copy_from_slice(&7u64.to_le_bytes());
    write_file(&path, &bytes);
    let mut reader = Reader::open(&path).unwrap();
    assert_eq!(reader.check().reason, Some(Reason::Busy));
    let mut successor = Writer::create(&path).unwrap();
    successor.publish(&insync_for(2_000_000_000));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while !reader.check().may_sign && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(reader.check().may_sign, "{:?}", reader.check());
}
