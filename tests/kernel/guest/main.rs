//! `kernel-guest`: the helper that runs inside the throwaway qemu guest of the real-kernel test
//! (`tests/kernel/run`), built statically as an example of the `ppsd` package.
//!
//! Subcommands: `pulse` fires the parallel-port pulse train that `pps_parport` turns into
//! `/dev/pps0` events; `sys` exercises ppsd's kernel layer (`src/sys/`) on the guest's real
//! kernel, including writes to the guest's own clock, and records how the kernel answers poll; `probe-check` checks what `ppsd probe`
//! printed against the generator's log. The daemon scenarios' checks (`lock-check`,
//! `foreign-step`, `expiry`, `trace`) read ppsd's record, adjtimex and the generator's log. Every result is one `CHECK name PASS|FAIL detail` or
//! `MEASURE name value unit` line on stdout, which the guest forwards to the host.
//!
//! It must never run on the host: `pulse` pokes I/O ports through `/dev/port`, `sys` and
//! `foreign-step` set the clock and `expiry` kills ppsd, so all but `probe-check` refuse to start unless the kernel command line carries the guest marker
//! [`GUEST_MARKER`], which only the test's qemu boot passes. It holds no `unsafe`.

#![forbid(unsafe_code)]

mod daemon_checks;
mod port;
mod pps_poll;
mod probe_check;
mod pulse;
mod report;
mod sys_clock;
mod sys_pps;
mod truth;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// The kernel command-line word that marks the test guest.
pub const GUEST_MARKER: &str = "ppsd.kernel_test_guest=1";

/// Helper for the real-kernel test; runs only inside its qemu guest.
#[derive(Debug, Parser)]
#[command(name = "kernel-guest")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fire one parallel-port pulse per period of CLOCK_MONOTONIC_RAW until killed (SIGTERM)
    /// or `--count` pulses; log one line per pulse on stdout.
    Pulse(pulse::Args),
    /// Check ppsd's PPS and clock wrappers on the guest's real kernel (sets the guest clock).
    Sys {
        /// PPS device of the parallel port.
        #[arg(long, default_value = "/dev/pps0")]
        device: PathBuf,
        /// Whether the kernel was built with CONFIG_NTP_PPS (decides what PPS_KC_BIND must say).
        #[arg(long)]
        ntp_pps: bool,
        /// Program that steps the clock with settimeofday(2): `settod DELTA_MS`.
        #[arg(long, default_value = "/bin/settod")]
        settod: PathBuf,
    },
    /// Check `ppsd probe` output against the pulse generator's log.
    ProbeCheck(probe_check::Args),
    /// Check a locked ppsd: INSYNC, kernel frequency, STA_UNSYNC, the clock's true offset.
    LockCheck(daemon_checks::LockArgs),
    /// Step CLOCK_REALTIME (clock_settime) and time ppsd's OUT_OF_SYNC in its record.
    ForeignStep(daemon_checks::StepArgs),
    /// SIGKILL ppsd and time the record's expiry for readers; then watch the kernel.
    Expiry(daemon_checks::ExpiryArgs),
    /// Sample record, kernel and true time across pulse loss or a leap second, and check.
    Trace(daemon_checks::TraceArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let touches_kernel = !matches!(cli.command, Command::ProbeCheck(_));
    if touches_kernel {
        if let Err(why) = in_test_guest() {
            eprintln!("kernel-guest: refusing to run: {why}");
            return ExitCode::from(2);
        }
    }
    match cli.command {
        Command::Pulse(args) => pulse::run(&args),
        Command::Sys {
            device,
            ntp_pps,
            settod,
        } => {
            let mut report = report::Report::new();
            match port::ParallelPort::open() {
                Ok(port) => {
                    sys_pps::run(&mut report, &device, &port, ntp_pps);
                    sys_clock::run(&mut report, &settod);
                }
                Err(e) => report.check("sys.port", Err(e)),
            }
            report.exit_code()
        }
        Command::ProbeCheck(args) => probe_check::run(&args),
        Command::LockCheck(args) => daemon_checks::lock_check(&args),
        Command::ForeignStep(args) => daemon_checks::foreign_step(&args),
        Command::Expiry(args) => daemon_checks::expiry(&args),
        Command::Trace(args) => daemon_checks::trace(&args),
    }
}

/// Ok only inside the test guest: the kernel command line carries [`GUEST_MARKER`].
fn in_test_guest() -> Result<(), String> {
    let cmdline =
        std::fs::read_to_string("/proc/cmdline").map_err(|e| format!("/proc/cmdline: {e}"))?;
    if cmdline.split_whitespace().any(|w| w == GUEST_MARKER) {
        Ok(())
    } else {
        Err(format!(
            "/proc/cmdline lacks {GUEST_MARKER}: this is not the test guest, and this \
             command would poke I/O ports or set the clock"
        ))
    }
}
