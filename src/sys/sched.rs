//! Capture latency controls for the clock thread: `/dev/cpu_dma_latency` (the PM QoS request
//! that keeps CPUs out of deep idle states while the file stays open), `sched_setscheduler`
//! with SCHED_FIFO, and `sched_setaffinity`.
//!
//! Deep C-states add tens of µs of wake-up latency to the interrupt that timestamps a pulse;
//! holding the latency request at 0 removes that jitter at the cost of idle power. These
//! wrappers only change how this process is scheduled; they never touch a clock.

use crate::io::{DeviceError, DeviceErrorCause};
use std::fs::File;
use std::io::Write;

/// The PM QoS CPU latency request file.
pub const CPU_DMA_LATENCY: &str = "/dev/cpu_dma_latency";

/// A held CPU wake-up latency request; dropping it closes the file, which releases it.
#[derive(Debug)]
pub struct LatencyGuard {
    _file: File,
}

/// Opens `/dev/cpu_dma_latency` and writes `max_us` (a 32-bit integer): CPUs then avoid idle
/// states with a longer exit latency for as long as the guard lives. See
/// <https://docs.kernel.org/power/pm_qos_interface.html>.
///
/// # Errors
/// `open` (`EACCES` without write access) or `write` errors.
pub fn hold_cpu_latency(max_us: i32) -> Result<LatencyGuard, DeviceError> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(CPU_DMA_LATENCY)
        .map_err(|e| super::io_error(CPU_DMA_LATENCY, "open", &e))?;
    file.write_all(&max_us.to_ne_bytes())
        .map_err(|e| super::io_error(CPU_DMA_LATENCY, "write", &e))?;
    Ok(LatencyGuard { _file: file })
}

/// `sched_setscheduler(0, SCHED_FIFO, priority)`: real-time FIFO scheduling for the calling
/// thread's process. See <https://man7.org/linux/man-pages/man2/sched_setscheduler.2.html>.
///
/// # Errors
/// `EINVAL` for a priority outside 1..=99, `EPERM` without CAP_SYS_NICE (or an RLIMIT_RTPRIO
/// allowing it).
pub fn set_fifo_priority(priority: i32) -> Result<(), DeviceError> {
    if !(1..=99).contains(&priority) {
        let why = format!("priority {priority} outside 1..=99");
        return Err(DeviceError::new(
            "SCHED_FIFO",
            "sched_setscheduler",
            DeviceErrorCause::Other(why),
        ));
    }
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: `param` is a valid sched_param that outlives the call; pid 0 is this process.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
    if rc != 0 {
        return Err(super::last_error("SCHED_FIFO", "sched_setscheduler"));
    }
    Ok(())
}

/// `sched_setaffinity(0, ...)`: restricts the calling thread to `cpus`. See
/// <https://man7.org/linux/man-pages/man2/sched_setaffinity.2.html>.
///
/// # Errors
/// `EINVAL` for an empty set or CPUs that do not exist; a CPU number past the set's size.
pub fn set_affinity(cpus: &[usize]) -> Result<(), DeviceError> {
    let mut set = nix::sched::CpuSet::new();
    for &cpu in cpus {
        set.set(cpu)
            .map_err(|e| DeviceError::os(format!("CPU {cpu}"), "sched_setaffinity", e as i32))?;
    }
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
        .map_err(|e| DeviceError::os("CPU set", "sched_setaffinity", e as i32))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current_latency_us() -> Option<i32> {
        let bytes = std::fs::read(CPU_DMA_LATENCY).ok()?;
        Some(i32::from_ne_bytes(bytes.get(..4)?.try_into().ok()?))
    }

    #[test]
    fn latency_request_holds_while_the_guard_lives() {
        match hold_cpu_latency(0) {
            Ok(guard) => {
                assert_eq!(current_latency_us(), Some(0), "request in force");
                drop(guard);
                assert_ne!(current_latency_us(), Some(0), "released with the guard");
            }
            Err(e) => {
                // Without write access (not root): the error names the file.
                assert!(
                    e.to_string().starts_with("/dev/cpu_dma_latency: open: "),
                    "{e}"
                );
            }
        }
    }

    #[test]
    fn bad_priority_is_refused_before_the_call() {
        let e = set_fifo_priority(0).unwrap_err().to_string();
        assert_eq!(
            e,
            "SCHED_FIFO: sched_setscheduler: priority 0 outside 1..=99"
        );
    }

    #[test]
    fn affinity_to_every_online_cpu_succeeds_and_an_absurd_cpu_fails() {
        let all: Vec<usize> =
            (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect();
        // Setting the affinity to all CPUs changes nothing for the test process.
        set_affinity(&all).unwrap();
        assert!(set_affinity(&[100_000]).is_err());
    }
}
