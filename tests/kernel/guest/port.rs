//! The guest's emulated parallel port as a pulse output: one pulse is the control register
//! (0x37a) written with 0x1d then 0x1c through `/dev/port`. QEMU's `isa-parallel` raises
//! IRQ 7 when the strobe bit falls with the interrupt-enable bit set, and `pps_parport`
//! timestamps that interrupt as an assert event on `/dev/pps0`.
//!
//! Only the guest may use this (see `main.rs`): on a real machine these ports are hardware.
//! It must never write anything but the two control values to the one register.

use ppsd::sys::clock::ClockId;
use ppsd::time::Timestamp;
use std::fs::File;
use std::os::unix::fs::FileExt;

/// I/O port of the control register of the first parallel port (base 0x378 + 2).
const CONTROL_PORT: u64 = 0x37a;
/// Control value with the strobe line high: interrupt enable, select, not-init, strobe.
const STROBE_HIGH: u8 = 0x1d;
/// The same with the strobe line low: the falling strobe raises the interrupt.
const STROBE_LOW: u8 = 0x1c;

/// When one pulse was fired, read on the guest's clocks around the write that raises it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fired {
    /// CLOCK_MONOTONIC_RAW just before the interrupt-raising write.
    pub raw: Timestamp,
    /// CLOCK_REALTIME just before that write.
    pub rt_before: Timestamp,
    /// CLOCK_REALTIME just after it returned.
    pub rt_after: Timestamp,
}

/// `/dev/port`, open for writing the parallel port's control register.
#[derive(Debug)]
pub struct ParallelPort {
    file: File,
}

impl ParallelPort {
    /// Opens `/dev/port` for writing.
    ///
    /// # Errors
    /// The open error, naming the path.
    pub fn open() -> Result<ParallelPort, String> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/port")
            .map_err(|e| format!("/dev/port: open: {e}"))?;
        Ok(ParallelPort { file })
    }

    /// Fires one pulse and returns when, on the guest's clocks.
    ///
    /// # Errors
    /// A failed write, naming the port.
    pub fn fire(&self) -> Result<Fired, String> {
        self.write(STROBE_HIGH)?;
        let raw = ClockId::MonotonicRaw.now();
        let rt_before = ClockId::Realtime.now();
        self.write(STROBE_LOW)?;
        let rt_after = ClockId::Realtime.now();
        Ok(Fired {
            raw,
            rt_before,
            rt_after,
        })
    }

    fn write(&self, value: u8) -> Result<(), String> {
        match self.file.write_at(&[value], CONTROL_PORT) {
            Ok(1) => Ok(()),
            Ok(n) => Err(format!(
                "/dev/port: write at {CONTROL_PORT:#x}: wrote {n} bytes"
            )),
            Err(e) => Err(format!("/dev/port: write at {CONTROL_PORT:#x}: {e}")),
        }
    }
}
