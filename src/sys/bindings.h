/*
 * Input of `build.rs` for bindgen: the kernel UAPI headers whose items ppsd uses.
 * Which items are kept is decided by the allow-lists in build.rs (see docs/bindings.md).
 */
#include <linux/pps.h>
#include <linux/timex.h>
#include <linux/ptp_clock.h>
