//! Read-only access to NTP shared-memory segments (`shmget(2)`, `shmat(2)` with
//! `SHM_RDONLY`), the refclock interface gpsd and receiver tools export for ntpd and chrony.
//!
//! Segment N has the System V key `0x4e545030 + N` ("NTP0" + N) and holds one `struct
//! shmTime` (layout below, as ntpd defines it). The writer fills the time fields and sets
//! `valid`; in mode 1 it also bumps `count` before and after, so a reader that sees the same
//! count on both sides of its copy knows the copy is not torn. This module only attaches and
//! copies (with volatile reads and fences); the protocol decisions are in
//! `reference::shm`. It never writes to a segment and never creates one: attaching read-only
//! means a reader cannot clear `valid`, so freshness is judged by the caller.

use crate::io::{DeviceError, DeviceErrorCause};
use std::os::raw::{c_int, c_uint};
use std::sync::atomic::{fence, Ordering};

/// The System V IPC key of segment 0; segment N is this plus N.
pub const NTP_SHM_BASE_KEY: i32 = 0x4e54_5030;

/// `struct shmTime` as ntpd's refclock_shm and gpsd's ntpshm define it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct ShmTime {
    mode: c_int,
    count: c_int,
    clock_sec: libc::time_t,
    clock_usec: c_int,
    receive_sec: libc::time_t,
    receive_usec: c_int,
    leap: c_int,
    precision: c_int,
    nsamples: c_int,
    valid: c_int,
    clock_nsec: c_uint,
    receive_nsec: c_uint,
    dummy: [c_int; 8],
}

/// One copy of a segment's fields, with the count read before and after the copy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShmSnapshot {
    /// 0: plain valid flag; 1: valid flag and count protocol.
    pub mode: i32,
    /// `count` read before copying the fields.
    pub count_before: i32,
    /// `count` read after copying the fields.
    pub count_after: i32,
    /// Nonzero when the writer has stored a sample.
    pub valid: i32,
    /// Reference (receiver) time, seconds.
    pub clock_sec: i64,
    /// Reference time, microseconds part.
    pub clock_usec: i32,
    /// Reference time, nanoseconds part (newer writers).
    pub clock_nsec: u32,
    /// Local time the sample was taken, seconds.
    pub receive_sec: i64,
    /// Local time, microseconds part.
    pub receive_usec: i32,
    /// Local time, nanoseconds part (newer writers).
    pub receive_nsec: u32,
    /// NTP leap indicator.
    pub leap: i32,
    /// Precision, log2 s.
    pub precision: i32,
}

/// An NTP SHM segment attached read-only.
#[derive(Debug)]
pub struct NtpShmSegment {
    ptr: *const ShmTime,
    target: String,
}

impl NtpShmSegment {
    /// `shmget` and `shmat(SHM_RDONLY)` of segment `unit`; the segment must exist.
    ///
    /// # Errors
    /// `ENOENT` when no writer has created it, `EACCES` when its mode does not let us read
    /// (units 0 and 1 are usually root-only), or a segment too small for `struct shmTime`.
    pub fn attach(unit: u8) -> Result<NtpShmSegment, DeviceError> {
        let key = NTP_SHM_BASE_KEY + i32::from(unit);
        let target = format!("NTP SHM unit {unit} (key {key:#x})");
        // SAFETY: shmget only looks up the key; size 0 and no IPC_CREAT never create anything.
        let id = unsafe { libc::shmget(key, 0, 0) };
        if id < 0 {
            return Err(super::last_error(&target, "shmget"));
        }
        NtpShmSegment::attach_id(id, target)
    }

    /// Attaches the segment with id `id` read-only after checking its size.
    fn attach_id(id: c_int, target: String) -> Result<NtpShmSegment, DeviceError> {
        let mut ds: libc::shmid_ds = zeroed_shmid_ds();
        // SAFETY: `ds` is a valid, writable shmid_ds; IPC_STAT only fills it in.
        if unsafe { libc::shmctl(id, libc::IPC_STAT, &mut ds) } < 0 {
            return Err(super::last_error(&target, "shmctl"));
        }
        if ds.shm_segsz < std::mem::size_of::<ShmTime>() {
            let why = format!(
                "segment of {} bytes is smaller than struct shmTime ({} bytes)",
                ds.shm_segsz,
                std::mem::size_of::<ShmTime>()
            );
            return Err(DeviceError::new(
                target,
                "shmat",
                DeviceErrorCause::Other(why),
            ));
        }
        // SAFETY: a null address lets the kernel choose; SHM_RDONLY maps it without write access.
        let ptr = unsafe { libc::shmat(id, std::ptr::null(), libc::SHM_RDONLY) };
        if ptr as isize == -1 {
            return Err(super::last_error(&target, "shmat"));
        }
        Ok(NtpShmSegment {
            ptr: ptr.cast::<ShmTime>(),
            target,
        })
    }

    /// What errors name this segment as.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Copies the segment's fields with the count read before and after.
    pub fn snapshot(&self) -> ShmSnapshot {
        let p = self.ptr;
        // Every read below: `p` points to a live read-only mapping at least
        // size_of::<ShmTime>() long (checked at attach) until `self` is dropped; another
        // process writes it concurrently, so each field is read with read_volatile through a
        // raw field pointer, never through a reference.
        // SAFETY: see above.
        let count_before = unsafe { std::ptr::addr_of!((*p).count).read_volatile() };
        fence(Ordering::Acquire);
        // SAFETY: see above.
        let raw = unsafe {
            ShmTime {
                mode: std::ptr::addr_of!((*p).mode).read_volatile(),
                count: 0,
                clock_sec: std::ptr::addr_of!((*p).clock_sec).read_volatile(),
                clock_usec: std::ptr::addr_of!((*p).clock_usec).read_volatile(),
                receive_sec: std::ptr::addr_of!((*p).receive_sec).read_volatile(),
                receive_usec: std::ptr::addr_of!((*p).receive_usec).read_volatile(),
                leap: std::ptr::addr_of!((*p).leap).read_volatile(),
                precision: std::ptr::addr_of!((*p).precision).read_volatile(),
                nsamples: 0,
                valid: std::ptr::addr_of!((*p).valid).read_volatile(),
                clock_nsec: std::ptr::addr_of!((*p).clock_nsec).read_volatile(),
                receive_nsec: std::ptr::addr_of!((*p).receive_nsec).read_volatile(),
                dummy: [0; 8],
            }
        };
        fence(Ordering::Acquire);
        // SAFETY: see above.
        let count_after = unsafe { std::ptr::addr_of!((*p).count).read_volatile() };
        #[allow(clippy::useless_conversion)] // time_t is i32 on some 32-bit targets
        ShmSnapshot {
            mode: raw.mode,
            count_before,
            count_after,
            valid: raw.valid,
            clock_sec: i64::from(raw.clock_sec),
            clock_usec: raw.clock_usec,
            clock_nsec: raw.clock_nsec,
            receive_sec: i64::from(raw.receive_sec),
            receive_usec: raw.receive_usec,
            receive_nsec: raw.receive_nsec,
            leap: raw.leap,
            precision: raw.precision,
        }
    }
}

impl Drop for NtpShmSegment {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from a successful shmat and is detached exactly once, here.
        unsafe { libc::shmdt(self.ptr.cast()) };
    }
}

/// A zeroed `shmid_ds` (all-integer C struct, for which zero is a valid value).
fn zeroed_shmid_ds() -> libc::shmid_ds {
    // SAFETY: shmid_ds holds only integers and an ipc_perm of integers; all-zero is valid.
    unsafe { std::mem::zeroed() }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A private, writable segment standing in for a writer process; removed on drop.
    struct Writer {
        id: c_int,
        ptr: *mut ShmTime,
    }

    impl Writer {
        fn new(size: usize) -> Writer {
            // SAFETY: creating a private segment touches no existing one.
            let id = unsafe { libc::shmget(libc::IPC_PRIVATE, size, libc::IPC_CREAT | 0o600) };
            assert!(id >= 0, "shmget: {}", std::io::Error::last_os_error());
            // SAFETY: attaching our own new segment read-write at a kernel-chosen address.
            let ptr = unsafe { libc::shmat(id, std::ptr::null(), 0) };
            assert_ne!(ptr as isize, -1);
            Writer {
                id,
                ptr: ptr.cast(),
            }
        }

        fn write(&self, t: ShmTime) {
            // SAFETY: `ptr` is our live read-write mapping of at least size_of::<ShmTime>().
            unsafe { self.ptr.write_volatile(t) };
        }
    }

    impl Drop for Writer {
        fn drop(&mut self) {
            // SAFETY: detaching our own mapping once and marking our own segment for removal.
            unsafe {
                libc::shmdt(self.ptr.cast());
                libc::shmctl(self.id, libc::IPC_RMID, std::ptr::null_mut());
            }
        }
    }

    #[test]
    fn snapshot_copies_every_field() {
        let w = Writer::new(std::mem::size_of::<ShmTime>());
        w.write(ShmTime {
            mode: 1,
            count: 42,
            clock_sec: 1_700_000_000,
            clock_usec: 123_456,
            receive_sec: 1_700_000_000,
            receive_usec: 223_456,
            leap: 1,
            precision: -20,
            nsamples: 3,
            valid: 1,
            clock_nsec: 123_456_789,
            receive_nsec: 223_456_789,
            dummy: [0; 8],
        });
        let seg = NtpShmSegment::attach_id(w.id, "test".into()).unwrap();
        let s = seg.snapshot();
        assert_eq!(
            (s.mode, s.count_before, s.count_after, s.valid),
            (1, 42, 42, 1)
        );
        assert_eq!(
            (s.clock_sec, s.clock_usec, s.clock_nsec),
            (1_700_000_000, 123_456, 123_456_789)
        );
        assert_eq!(
            (s.receive_usec, s.receive_nsec, s.leap, s.precision),
            (223_456, 223_456_789, 1, -20)
        );
    }

    #[test]
    fn too_small_segment_is_refused() {
        let w = Writer::new(16);
        let e = NtpShmSegment::attach_id(w.id, "small".into()).unwrap_err();
        assert!(e.to_string().contains("smaller than struct shmTime"), "{e}");
    }

    #[test]
    fn mapping_is_read_only() {
        // The attach asked for SHM_RDONLY: the kernel reports the mapping without write access.
        let w = Writer::new(std::mem::size_of::<ShmTime>());
        let seg = NtpShmSegment::attach_id(w.id, "ro".into()).unwrap();
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let addr = format!("{:x}-", seg.ptr as usize);
        let line = maps
            .lines()
            .find(|l| l.starts_with(&addr))
            .expect("mapping listed");
        assert!(
            line.split_whitespace().nth(1).unwrap().starts_with("r--"),
            "{line}"
        );
    }

    #[test]
    fn missing_unit_names_key_and_errno() {
        // Unit 251 is not used by gpsd, chrony or ntpd setups here.
        match NtpShmSegment::attach(251) {
            Err(e) => {
                let text = e.to_string();
                assert!(
                    text.starts_with("NTP SHM unit 251 (key 0x4e54512b): shmget:"),
                    "{text}"
                );
            }
            Ok(_) => eprintln!("note: a segment for unit 251 exists on this host; skipped"),
        }
    }
}
