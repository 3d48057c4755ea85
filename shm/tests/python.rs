//! The Python binding: writes record files, then runs `python/test_ppsd_shm.py` with python3
//! against the cdylib this test run built, and requires every Python test to pass. Needs
//! python3 on PATH (set PPSD_SHM_PYTHON to use another interpreter).

mod common;

use common::{cdylib, insync_for, publish_and_leave, write_file, ScratchDir};
use ppsd_shm::{SyncState, Writer};
use std::process::Command;

#[test]
fn python_binding_passes_its_tests() {
    let scratch = ScratchDir::new("python");
    publish_and_leave(&scratch.path("insync"), &insync_for(6_000_000_000));
    let mut state = insync_for(5_000_000_000);
    state.sync = SyncState::OutOfSync;
    publish_and_leave(&scratch.path("outofsync"), &state);
    drop(Writer::create(scratch.path("closed")).unwrap());
    write_file(&scratch.path("badmagic"), &[0x11; 384]);

    let python = std::env::var("PPSD_SHM_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/test_ppsd_shm.py");
    let out = Command::new(&python)
        .arg(script)
        .env("PPSD_SHM_LIB", cdylib())
        .env("PPSD_SHM_TEST_DIR", scratch.dir())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e} (install python3)"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stderr}");
    assert!(out.status.success(), "python tests failed:\n{stderr}");
    assert!(
        stderr.contains("Ran 8 tests"),
        "unexpected test count:\n{stderr}"
    );
    assert!(stderr.trim_end().ends_with("OK"), "{stderr}");
}
