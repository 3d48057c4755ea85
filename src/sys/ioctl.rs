//! ioctl request numbers for the PPS and PTP clock ioctls, computed from their argument types.
//!
//! The kernel headers define these with function-like macros (`_IOR`, `_IOW`, `_IOWR`) that
//! bindgen cannot translate, so they are rebuilt here with nix's `request_code_*` macros, which
//! follow the target's `_IOC` encoding. Never write one as a hex literal: the size field
//! differs between architectures.
//!
//! Kernel caveat: the PPS ioctls declare a *pointer* as their size argument
//! (`_IOWR('p', 0xa4, struct pps_fdata *)`), so the encoded size is the size of a pointer
//! (8 on x86_64 and aarch64, 4 on 32-bit ARM), not of the struct. The PTP clock ioctls declare
//! the struct itself, so theirs is the struct's size. `tests/sys_bindings.rs` checks both
//! against the `_IOC` formula computed independently.

use super::bindings::{
    pps_bind_args, pps_fdata, pps_kparams, ptp_clock_caps, ptp_extts_request, ptp_pin_desc,
    ptp_sys_offset, ptp_sys_offset_extended, ptp_sys_offset_precise,
};
use nix::{request_code_read, request_code_readwrite, request_code_write};
use std::mem::size_of;
use std::os::raw::c_int;

/// The type `ioctl(2)` takes its request in on this target (`c_ulong` on glibc, `c_int` on
/// musl).
pub type Request = nix::sys::ioctl::ioctl_num_type;

const PPS_MAGIC: u8 = b'p';
const PTP_MAGIC: u8 = super::bindings::PTP_CLK_MAGIC;

/// `PPS_GETPARAMS`: `_IOR('p', 0xa1, struct pps_kparams *)`.
pub const PPS_GETPARAMS: Request =
    request_code_read!(PPS_MAGIC, 0xa1, size_of::<*mut pps_kparams>());
/// `PPS_SETPARAMS`: `_IOW('p', 0xa2, struct pps_kparams *)`.
pub const PPS_SETPARAMS: Request =
    request_code_write!(PPS_MAGIC, 0xa2, size_of::<*mut pps_kparams>());
/// `PPS_GETCAP`: `_IOR('p', 0xa3, int *)`.
pub const PPS_GETCAP: Request = request_code_read!(PPS_MAGIC, 0xa3, size_of::<*mut c_int>());
/// `PPS_FETCH`: `_IOWR('p', 0xa4, struct pps_fdata *)`.
pub const PPS_FETCH: Request =
    request_code_readwrite!(PPS_MAGIC, 0xa4, size_of::<*mut pps_fdata>());
/// `PPS_KC_BIND`: `_IOW('p', 0xa5, struct pps_bind_args *)`.
pub const PPS_KC_BIND: Request =
    request_code_write!(PPS_MAGIC, 0xa5, size_of::<*mut pps_bind_args>());

/// `PTP_CLOCK_GETCAPS`: `_IOR('=', 1, struct ptp_clock_caps)`.
pub const PTP_CLOCK_GETCAPS: Request =
    request_code_read!(PTP_MAGIC, 1, size_of::<ptp_clock_caps>());
/// `PTP_EXTTS_REQUEST`: `_IOW('=', 2, struct ptp_extts_request)`.
pub const PTP_EXTTS_REQUEST: Request =
    request_code_write!(PTP_MAGIC, 2, size_of::<ptp_extts_request>());
/// `PTP_SYS_OFFSET`: `_IOW('=', 5, struct ptp_sys_offset)`.
pub const PTP_SYS_OFFSET: Request = request_code_write!(PTP_MAGIC, 5, size_of::<ptp_sys_offset>());
/// `PTP_PIN_GETFUNC`: `_IOWR('=', 6, struct ptp_pin_desc)`.
pub const PTP_PIN_GETFUNC: Request =
    request_code_readwrite!(PTP_MAGIC, 6, size_of::<ptp_pin_desc>());
/// `PTP_PIN_SETFUNC`: `_IOW('=', 7, struct ptp_pin_desc)`.
pub const PTP_PIN_SETFUNC: Request = request_code_write!(PTP_MAGIC, 7, size_of::<ptp_pin_desc>());
/// `PTP_SYS_OFFSET_PRECISE`: `_IOWR('=', 8, struct ptp_sys_offset_precise)`.
pub const PTP_SYS_OFFSET_PRECISE: Request =
    request_code_readwrite!(PTP_MAGIC, 8, size_of::<ptp_sys_offset_precise>());
/// `PTP_SYS_OFFSET_EXTENDED`: `_IOWR('=', 9, struct ptp_sys_offset_extended)`.
pub const PTP_SYS_OFFSET_EXTENDED: Request =
    request_code_readwrite!(PTP_MAGIC, 9, size_of::<ptp_sys_offset_extended>());
/// `PTP_CLOCK_GETCAPS2`: `_IOR('=', 10, struct ptp_clock_caps)`; like `PTP_CLOCK_GETCAPS`
/// but with strict checking of reserved fields (Linux 5.8+).
pub const PTP_CLOCK_GETCAPS2: Request =
    request_code_read!(PTP_MAGIC, 10, size_of::<ptp_clock_caps>());
/// `PTP_EXTTS_REQUEST2`: `_IOW('=', 11, struct ptp_extts_request)`; honours
/// `PTP_STRICT_FLAGS` (Linux 5.8+).
pub const PTP_EXTTS_REQUEST2: Request =
    request_code_write!(PTP_MAGIC, 11, size_of::<ptp_extts_request>());
/// `PTP_SYS_OFFSET_EXTENDED2`: `_IOWR('=', 18, struct ptp_sys_offset_extended)`.
pub const PTP_SYS_OFFSET_EXTENDED2: Request =
    request_code_readwrite!(PTP_MAGIC, 18, size_of::<ptp_sys_offset_extended>());
