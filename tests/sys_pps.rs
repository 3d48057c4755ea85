//! `PpsDevice::open` on things that are not PPS devices: each gives a one-line error naming
//! the path, the operation and the cause. This machine has no PPS device; the pulse path is
//! tested through pure functions in `src/sys/pps.rs` and `src/cli/probe.rs`.

use ppsd::sys::pps::PpsDevice;
use std::path::PathBuf;

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    dir.join(format!("{name}-{}", std::process::id()))
}

#[test]
fn missing_path_is_named_with_enoent() {
    let e = PpsDevice::open("/dev/nonexistent").unwrap_err();
    assert_eq!(
        e.to_string(),
        "/dev/nonexistent: open: No such file or directory (os error 2)"
    );
}

#[test]
fn dev_null_is_not_a_pps_device() {
    let e = PpsDevice::open("/dev/null").unwrap_err();
    assert_eq!(
        e.to_string(),
        "/dev/null: PPS_GETCAP: not a PPS device (ENOTTY: Inappropriate ioctl for device)"
    );
}

#[test]
fn regular_file_and_directory_are_refused_before_any_ioctl() {
    let file = scratch("not-pps");
    std::fs::write(&file, b"x").unwrap();
    let e = PpsDevice::open(&file).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}: open: not a PPS device: a regular file", file.display())
    );
    std::fs::remove_file(&file).unwrap();
    let e = PpsDevice::open("/tmp").unwrap_err();
    assert_eq!(e.to_string(), "/tmp: open: not a PPS device: a directory");
}

#[test]
fn fifo_without_writer_does_not_hang_open() {
    let fifo = scratch("not-pps-fifo");
    nix::unistd::mkfifo(
        &fifo,
        nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
    )
    .unwrap();
    let e = PpsDevice::open(&fifo).unwrap_err();
    std::fs::remove_file(&fifo).unwrap();
    assert_eq!(
        e.to_string(),
        format!("{}: open: not a PPS device: a FIFO", fifo.display())
    );
}
