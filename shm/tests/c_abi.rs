//! The C API from C: compiles `tests/c/ppsd_shm_probe.c` against `include/ppsd_shm.h` with
//! `cc -Wall -Wextra -Werror`, links it to the cdylib through the pkg-config file and to the
//! staticlib, and checks that the header's constants match the library and that open, check,
//! timestamp and the error paths behave as documented. Needs `cc` and `pkg-config`.

mod common;

use common::{cdylib, insync_for, lib_dir, publish_and_leave, write_file, ScratchDir};
use ppsd_shm::ffi::*;
use ppsd_shm::{LeapState, Reason, SyncState, Writer};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const CRATE_DIR: &str = env!("CARGO_MANIFEST_DIR");

fn run(cmd: &mut Command) -> String {
    // cargo's LD_LIBRARY_PATH may list target/<profile>, whose copy of the cdylib can be stale;
    // the probe must load the one this test run built.
    let out = cmd
        .env("LD_LIBRARY_PATH", lib_dir())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e} (is it installed?)", cmd.get_program()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{stdout}\n{stderr}",
        out.status
    );
    stdout
}

/// Writes a pkg-config file for the build tree from `ppsd-shm.pc.in`.
fn pc_dir(scratch: &ScratchDir) -> PathBuf {
    let template = std::fs::read_to_string(Path::new(CRATE_DIR).join("ppsd-shm.pc.in")).unwrap();
    let pc = template
        .replace("@PREFIX@", CRATE_DIR)
        .replace("@LIBDIR@", lib_dir().to_str().unwrap())
        .replace("@INCLUDEDIR@", &format!("{CRATE_DIR}/include"));
    std::fs::write(scratch.path("ppsd-shm.pc"), pc).unwrap();
    scratch.dir().to_path_buf()
}

fn pkg_config(scratch: &ScratchDir, args: &[&str]) -> Vec<String> {
    let out = run(Command::new("pkg-config")
        .args(args)
        .arg("ppsd-shm")
        .env("PKG_CONFIG_PATH", pc_dir(scratch)));
    out.split_whitespace().map(str::to_owned).collect()
}

/// Builds the probe linked to the shared library (flags from pkg-config).
fn build_shared(scratch: &ScratchDir) -> PathBuf {
    cdylib();
    let exe = scratch.path("probe-shared");
    let flags = pkg_config(scratch, &["--cflags", "--libs"]);
    run(Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&exe)
        .arg(Path::new(CRATE_DIR).join("tests/c/ppsd_shm_probe.c"))
        .args(&flags)
        .arg(format!("-Wl,-rpath,{}", lib_dir().display())));
    exe
}

/// Builds the probe linked to the static library (private libs from pkg-config --static).
fn build_static(scratch: &ScratchDir) -> PathBuf {
    let archive = lib_dir().join("libppsd_shm.a");
    assert!(archive.exists(), "{}: not built", archive.display());
    let exe = scratch.path("probe-static");
    let private: Vec<String> = pkg_config(scratch, &["--static", "--libs"])
        .into_iter()
        .filter(|f| f != "-lppsd_shm" && !f.starts_with("-L"))
        .collect();
    run(Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&exe)
        .arg(format!("-I{CRATE_DIR}/include"))
        .arg(Path::new(CRATE_DIR).join("tests/c/ppsd_shm_probe.c"))
        .arg(&archive)
        .args(&private));
    exe
}

fn parse_constants(out: &str) -> HashMap<String, i64> {
    out.lines()
        .filter_map(|l| l.strip_prefix("const "))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_owned(), v.parse().unwrap())
        })
        .collect()
}

#[test]
fn header_constants_match_the_library() {
    let scratch = ScratchDir::new("c-constants");
    let out = run(Command::new(build_shared(&scratch)).arg("constants"));
    let c = parse_constants(&out);
    let codes = [
        ("PPSD_SHM_OK", PPSD_SHM_OK),
        ("PPSD_SHM_E_INVALID_ARGUMENT", PPSD_SHM_E_INVALID_ARGUMENT),
        ("PPSD_SHM_E_NOT_FOUND", PPSD_SHM_E_NOT_FOUND),
        ("PPSD_SHM_E_IO", PPSD_SHM_E_IO),
        ("PPSD_SHM_E_NOT_REGULAR_FILE", PPSD_SHM_E_NOT_REGULAR_FILE),
        (
            "PPSD_SHM_E_WRITABLE_BY_OTHERS",
            PPSD_SHM_E_WRITABLE_BY_OTHERS,
        ),
        ("PPSD_SHM_E_TOO_SMALL", PPSD_SHM_E_TOO_SMALL),
        ("PPSD_SHM_E_BAD_MAGIC", PPSD_SHM_E_BAD_MAGIC),
        (
            "PPSD_SHM_E_UNSUPPORTED_VERSION",
            PPSD_SHM_E_UNSUPPORTED_VERSION,
        ),
        ("PPSD_SHM_E_SIZE_MISMATCH", PPSD_SHM_E_SIZE_MISMATCH),
        ("PPSD_SHM_E_PANIC", PPSD_SHM_E_PANIC),
    ];
    for (name, value) in codes {
        assert_eq!(c[name], i64::from(value), "{name}");
    }
    let syncs = [
        ("PPSD_SHM_SYNC_UNKNOWN", SyncState::Unknown),
        ("PPSD_SHM_SYNC_INSYNC", SyncState::InSync),
        ("PPSD_SHM_SYNC_SOON_OUT_OF_SYNC", SyncState::SoonOutOfSync),
        ("PPSD_SHM_SYNC_OUT_OF_SYNC", SyncState::OutOfSync),
    ];
    for (name, state) in syncs {
        assert_eq!(c[name], state as i64, "{name}");
    }
    let leaps = [
        ("PPSD_SHM_LEAP_UNKNOWN", LeapState::Unknown),
        ("PPSD_SHM_LEAP_NONE", LeapState::None),
        ("PPSD_SHM_LEAP_POSITIVE", LeapState::Positive),
        ("PPSD_SHM_LEAP_NEGATIVE", LeapState::Negative),
    ];
    for (name, leap) in leaps {
        assert_eq!(c[name], leap as i64, "{name}");
    }
    let reasons: Vec<(&str, Reason)> = vec![
        ("EXPIRED", Reason::Expired),
        ("OUT_OF_SYNC", Reason::OutOfSync),
        ("UNKNOWN", Reason::Unknown),
        ("IN_LEAP_WINDOW", Reason::InLeapWindow),
        ("WRITER_GONE", Reason::WriterGone),
        ("LAYOUT_MISMATCH", Reason::LayoutMismatch),
        ("BUSY", Reason::Busy),
        ("CHECKSUM", Reason::Checksum),
        ("CLOCK_NAMESPACE", Reason::ClockNamespace),
        ("LEAP_UNKNOWN", Reason::LeapUnknown),
        ("INCONSISTENT", Reason::Inconsistent),
        ("CLOCK_UNREADABLE", Reason::ClockUnreadable),
        ("FILE_SHRUNK", Reason::FileShrunk),
    ];
    assert_eq!(
        reasons.len(),
        Reason::ALL.len(),
        "every reason has a C name"
    );
    assert_eq!(c["PPSD_SHM_REASON_NONE"], 0);
    for (name, reason) in reasons {
        assert_eq!(
            c[&format!("PPSD_SHM_REASON_{name}")],
            reason as i64,
            "{name}"
        );
        let line = format!("reason {}={}\n", reason as u32, reason.describe());
        assert!(out.contains(&line), "missing {line:?}");
    }
    assert_eq!(
        c["PPSD_SHM_LAYOUT_VERSION"],
        i64::from(ppsd_shm::LAYOUT_VERSION)
    );
    assert_eq!(
        c["library_layout_version"],
        i64::from(ppsd_shm::LAYOUT_VERSION)
    );
    assert!(out.contains("strerror -2=no such file (is ppsd running?)\n"));
    assert!(out.contains("reason 14=unknown reason code\n"));
    assert_eq!(c["guard_install"], i64::from(PPSD_SHM_OK));
}

/// Runs the probe's `check` mode over a set of record files and returns its lines by path.
fn check_lines(exe: &Path, paths: &[PathBuf]) -> String {
    run(Command::new(exe).arg("check").args(paths))
}

fn line_for<'a>(out: &'a str, kind: &str, path: &Path) -> &'a str {
    let prefix = format!("{kind} {} ", path.display());
    out.lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{out}"))
}

fn files(scratch: &ScratchDir) -> (Vec<PathBuf>, Writer) {
    let insync = scratch.path("insync");
    publish_and_leave(&insync, &insync_for(6_000_000_000));
    let out_of_sync = scratch.path("outofsync");
    let mut state = insync_for(5_000_000_000);
    state.sync = SyncState::OutOfSync;
    state.error_bound_ns = 2_000_000;
    publish_and_leave(&out_of_sync, &state);
    let closed = scratch.path("closed");
    drop({
        let mut w = Writer::create(&closed).unwrap();
        w.publish(&insync_for(5_000_000_000));
        w
    });
    let unpublished = scratch.path("unpublished");
    let writer = Writer::create(&unpublished).unwrap();
    let bad = scratch.path("badmagic");
    write_file(&bad, &[0xAB; 384]);
    let missing = scratch.path("missing");
    (
        vec![insync, out_of_sync, closed, unpublished, bad, missing],
        writer,
    )
}

fn check_probe(exe: &Path, scratch: &ScratchDir) {
    let (paths, _writer) = files(scratch);
    let out = check_lines(exe, &paths);
    let insync = line_for(&out, "check", &paths[0]);
    assert!(
        insync.contains("rc=0 may_sign=1 state=1 leap=1 reason=0 bound=850"),
        "{insync}"
    );
    let stamp = line_for(&out, "stamp", &paths[0]);
    let (now, _) = ppsd_shm::realtime().unwrap();
    let sec: i64 = stamp
        .split("sec=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((sec - now).abs() <= 5, "{stamp}");
    assert!(stamp.contains("may_sign=1 reason=0"), "{stamp}");
    let oos = line_for(&out, "check", &paths[1]);
    assert!(
        oos.contains("may_sign=0 state=3 leap=1 reason=2 bound=2000000"),
        "{oos}"
    );
    let closed = line_for(&out, "check", &paths[2]);
    assert!(
        closed.contains("may_sign=0 state=0 leap=0 reason=5"),
        "{closed}"
    );
    assert!(closed.contains("why=writer has gone"), "{closed}");
    let unpublished = line_for(&out, "check", &paths[3]);
    assert!(
        unpublished.contains("may_sign=0 state=0 leap=0 reason=3"),
        "{unpublished}"
    );
    let bad = line_for(&out, "open-error", &paths[4]);
    assert!(bad.contains("code=-7 msg="), "{bad}");
    assert!(
        bad.contains(": not a ppsd state file (magic 0xabababababababab)"),
        "{bad}"
    );
    let missing = line_for(&out, "open-error", &paths[5]);
    assert!(missing.contains("code=-2 msg="), "{missing}");
}

#[test]
fn shared_library_via_pkg_config_answers_from_c() {
    let scratch = ScratchDir::new("c-shared");
    let exe = build_shared(&scratch);
    check_probe(&exe, &scratch);
}

#[test]
fn static_library_answers_from_c() {
    let scratch = ScratchDir::new("c-static");
    let exe = build_static(&scratch);
    check_probe(&exe, &scratch);
}
