//! Checks the generated kernel bindings against independent sources: `libc`'s `struct timex`
//! and constants, the `_IOC` formula for ioctl request numbers, and the seam types in
//! `ppsd::io` that repeat kernel values. Runs on any target; nothing here calls the kernel.

use ppsd::io::{ClockState, ClockStatus};
use ppsd::sys::bindings as b;
use ppsd::sys::ioctl;
use std::mem::{align_of, offset_of, size_of};

/// Compares a generated constant with libc's, whatever the two integer types are.
macro_rules! same_const {
    ($($name:ident),* $(,)?) => {
        $(assert_eq!(
            i64::from(b::$name),
            i64::from(libc::$name),
            concat!(stringify!($name), " differs from libc")
        );)*
    };
}

/// Compares one field's offset in the generated and libc's `struct timex`.
macro_rules! same_offset {
    ($($field:ident),* $(,)?) => {
        $(assert_eq!(
            offset_of!(b::timex, $field),
            offset_of!(libc::timex, $field),
            concat!("offset of timex.", stringify!($field))
        );)*
    };
}

#[test]
fn timex_matches_libc_in_size_alignment_and_every_field_offset() {
    assert_eq!(size_of::<b::timex>(), size_of::<libc::timex>());
    assert_eq!(align_of::<b::timex>(), align_of::<libc::timex>());
    same_offset!(
        modes, offset, freq, maxerror, esterror, status, constant, precision, tolerance, time,
        tick, ppsfreq, jitter, shift, stabil, jitcnt, calcnt, errcnt, stbcnt, tai,
    );
    assert_eq!(
        offset_of!(b::timeval, tv_sec),
        offset_of!(libc::timeval, tv_sec)
    );
    assert_eq!(
        offset_of!(b::timeval, tv_usec),
        offset_of!(libc::timeval, tv_usec)
    );
    assert_eq!(size_of::<b::timeval>(), size_of::<libc::timeval>());
    // The header's eleven `int :32` pad the struct out after `tai`.
    assert_eq!(
        size_of::<b::timex>(),
        offset_of!(b::timex, tai) + 4 + 44 + tail_pad()
    );
}

/// Padding after the 44 bytes of bitfields up to the struct's alignment.
fn tail_pad() -> usize {
    let end = offset_of!(b::timex, tai) + 4 + 44;
    end.next_multiple_of(align_of::<b::timex>()) - end
}

#[test]
fn adjtimex_constants_match_libc() {
    same_const!(
        ADJ_OFFSET,
        ADJ_FREQUENCY,
        ADJ_MAXERROR,
        ADJ_ESTERROR,
        ADJ_STATUS,
        ADJ_TIMECONST,
        ADJ_TAI,
        ADJ_SETOFFSET,
        ADJ_MICRO,
        ADJ_NANO,
        ADJ_TICK,
        ADJ_OFFSET_SINGLESHOT,
        ADJ_OFFSET_SS_READ,
    );
    same_const!(
        MOD_OFFSET,
        MOD_FREQUENCY,
        MOD_MAXERROR,
        MOD_ESTERROR,
        MOD_STATUS,
        MOD_TIMECONST,
        MOD_TAI,
        MOD_MICRO,
        MOD_NANO,
    );
    same_const!(
        STA_PLL,
        STA_PPSFREQ,
        STA_PPSTIME,
        STA_FLL,
        STA_INS,
        STA_DEL,
        STA_UNSYNC,
        STA_FREQHOLD,
        STA_PPSSIGNAL,
        STA_PPSJITTER,
        STA_PPSWANDER,
        STA_PPSERROR,
        STA_CLOCKERR,
        STA_NANO,
        STA_MODE,
        STA_CLK,
        STA_RONLY,
    );
    same_const!(TIME_OK, TIME_INS, TIME_DEL, TIME_OOP, TIME_WAIT, TIME_ERROR, TIME_BAD);
}

#[test]
fn seam_types_repeat_the_kernel_values() {
    let pairs = [
        (ClockStatus::PLL, b::STA_PLL),
        (ClockStatus::PPSFREQ, b::STA_PPSFREQ),
        (ClockStatus::PPSTIME, b::STA_PPSTIME),
        (ClockStatus::FLL, b::STA_FLL),
        (ClockStatus::INS, b::STA_INS),
        (ClockStatus::DEL, b::STA_DEL),
        (ClockStatus::UNSYNC, b::STA_UNSYNC),
        (ClockStatus::FREQHOLD, b::STA_FREQHOLD),
        (ClockStatus::PPSSIGNAL, b::STA_PPSSIGNAL),
        (ClockStatus::PPSJITTER, b::STA_PPSJITTER),
        (ClockStatus::PPSWANDER, b::STA_PPSWANDER),
        (ClockStatus::PPSERROR, b::STA_PPSERROR),
        (ClockStatus::CLOCKERR, b::STA_CLOCKERR),
        (ClockStatus::NANO, b::STA_NANO),
        (ClockStatus::MODE, b::STA_MODE),
        (ClockStatus::CLK, b::STA_CLK),
    ];
    for (flag, raw) in pairs {
        assert_eq!(flag.bits() as u32, raw, "{flag:?}");
    }
    let states = [
        (ClockState::Ok, b::TIME_OK),
        (ClockState::Ins, b::TIME_INS),
        (ClockState::Del, b::TIME_DEL),
        (ClockState::Oop, b::TIME_OOP),
        (ClockState::Wait, b::TIME_WAIT),
        (ClockState::Error, b::TIME_ERROR),
    ];
    for (state, raw) in states {
        assert_eq!(ClockState::from_raw(raw as i32), Some(state));
    }
}

// The `_IOC` encoding, written out independently of nix: generic layout (x86, ARM, RISC-V,
// s390, LoongArch) or the one powerpc, MIPS and SPARC use.
#[cfg(not(any(
    target_arch = "powerpc",
    target_arch = "powerpc64",
    target_arch = "mips",
    target_arch = "mips64",
    target_arch = "sparc",
    target_arch = "sparc64"
)))]
mod ioc {
    pub const NONE_READ_WRITE: (u64, u64, u64) = (0, 2, 1);
    pub const SIZE_BITS: u32 = 14;
}
#[cfg(any(
    target_arch = "powerpc",
    target_arch = "powerpc64",
    target_arch = "mips",
    target_arch = "mips64",
    target_arch = "sparc",
    target_arch = "sparc64"
))]
mod ioc {
    pub const NONE_READ_WRITE: (u64, u64, u64) = (1, 2, 4);
    pub const SIZE_BITS: u32 = 13;
}

const READ: u64 = ioc::NONE_READ_WRITE.1;
const WRITE: u64 = ioc::NONE_READ_WRITE.2;

/// `_IOC(dir, type, nr, size)`: dir << 30 | size << 16 | type << 8 | nr (generic layout).
fn ioc(dir: u64, ty: u8, nr: u8, size: usize) -> u64 {
    assert!(
        size < 1 << ioc::SIZE_BITS,
        "size {size} does not fit the size field"
    );
    (dir << (16 + ioc::SIZE_BITS)) | ((size as u64) << 16) | (u64::from(ty) << 8) | u64::from(nr)
}

fn req(r: ioctl::Request) -> u64 {
    // The request type is c_ulong on glibc and c_int on musl; compare the low 32 bits.
    u64::from(r as u32)
}

#[test]
fn pps_requests_encode_a_pointer_sized_argument() {
    let ptr = size_of::<*const u8>();
    assert_eq!(req(ioctl::PPS_GETPARAMS), ioc(READ, b'p', 0xa1, ptr));
    assert_eq!(req(ioctl::PPS_SETPARAMS), ioc(WRITE, b'p', 0xa2, ptr));
    assert_eq!(req(ioctl::PPS_GETCAP), ioc(READ, b'p', 0xa3, ptr));
    assert_eq!(req(ioctl::PPS_FETCH), ioc(READ | WRITE, b'p', 0xa4, ptr));
    assert_eq!(req(ioctl::PPS_KC_BIND), ioc(WRITE, b'p', 0xa5, ptr));
    // Not the struct size: that would be a different request the kernel does not know.
    assert_ne!(
        req(ioctl::PPS_FETCH),
        ioc(READ | WRITE, b'p', 0xa4, size_of::<b::pps_fdata>())
    );
}

#[test]
fn ptp_requests_encode_the_struct_size() {
    let m = b::PTP_CLK_MAGIC;
    assert_eq!(m, b'=');
    let caps = size_of::<b::ptp_clock_caps>();
    assert_eq!(req(ioctl::PTP_CLOCK_GETCAPS), ioc(READ, m, 1, caps));
    assert_eq!(req(ioctl::PTP_CLOCK_GETCAPS2), ioc(READ, m, 10, caps));
    let extts = size_of::<b::ptp_extts_request>();
    assert_eq!(req(ioctl::PTP_EXTTS_REQUEST), ioc(WRITE, m, 2, extts));
    assert_eq!(req(ioctl::PTP_EXTTS_REQUEST2), ioc(WRITE, m, 11, extts));
    let so = size_of::<b::ptp_sys_offset>();
    assert_eq!(req(ioctl::PTP_SYS_OFFSET), ioc(WRITE, m, 5, so));
    let pin = size_of::<b::ptp_pin_desc>();
    assert_eq!(req(ioctl::PTP_PIN_GETFUNC), ioc(READ | WRITE, m, 6, pin));
    assert_eq!(req(ioctl::PTP_PIN_SETFUNC), ioc(WRITE, m, 7, pin));
    let precise = size_of::<b::ptp_sys_offset_precise>();
    assert_eq!(
        req(ioctl::PTP_SYS_OFFSET_PRECISE),
        ioc(READ | WRITE, m, 8, precise)
    );
    let ext = size_of::<b::ptp_sys_offset_extended>();
    assert_eq!(
        req(ioctl::PTP_SYS_OFFSET_EXTENDED),
        ioc(READ | WRITE, m, 9, ext)
    );
    assert_eq!(
        req(ioctl::PTP_SYS_OFFSET_EXTENDED2),
        ioc(READ | WRITE, m, 18, ext)
    );
}

#[test]
fn struct_sizes_follow_the_header_declarations() {
    // Fixed-width members only, so the same on every architecture with 8-byte s64 alignment.
    assert_eq!(size_of::<b::pps_ktime>(), 16);
    assert_eq!(size_of::<b::pps_bind_args>(), 12);
    assert_eq!(size_of::<b::ptp_clock_time>(), 16);
    assert_eq!(size_of::<b::ptp_clock_caps>(), 20 * 4);
    assert_eq!(size_of::<b::ptp_extts_request>(), 16);
    assert_eq!(size_of::<b::ptp_extts_event>(), 32);
    assert_eq!(size_of::<b::ptp_sys_offset>(), 16 + 51 * 16);
    assert_eq!(size_of::<b::ptp_sys_offset_extended>(), 16 + 25 * 3 * 16);
    assert_eq!(size_of::<b::ptp_sys_offset_precise>(), 3 * 16 + 16);
    assert_eq!(size_of::<b::ptp_pin_desc>(), 64 + 8 * 4);
    assert_eq!(offset_of!(b::pps_kinfo, assert_tu), 8);
    assert_eq!(offset_of!(b::pps_fdata, timeout), size_of::<b::pps_kinfo>());
}

/// The values the C preprocessor gives on x86_64 (`printf("%#lx", PPS_FETCH)` and so on),
/// as a last check that the formulas above are the kernel's.
#[cfg(target_arch = "x86_64")]
#[test]
fn x86_64_request_numbers_are_the_known_values() {
    assert_eq!(req(ioctl::PPS_GETPARAMS), 0x8008_70a1);
    assert_eq!(req(ioctl::PPS_SETPARAMS), 0x4008_70a2);
    assert_eq!(req(ioctl::PPS_GETCAP), 0x8008_70a3);
    assert_eq!(req(ioctl::PPS_FETCH), 0xc008_70a4);
    assert_eq!(req(ioctl::PPS_KC_BIND), 0x4008_70a5);
    assert_eq!(req(ioctl::PTP_CLOCK_GETCAPS), 0x8050_3d01);
    assert_eq!(req(ioctl::PTP_EXTTS_REQUEST), 0x4010_3d02);
    assert_eq!(req(ioctl::PTP_SYS_OFFSET_EXTENDED), 0xc4c0_3d09);
    assert_eq!(req(ioctl::PTP_SYS_OFFSET_PRECISE), 0xc040_3d08);
}
