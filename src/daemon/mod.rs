//! The daemon: one mio event loop on one thread that wires the clock and pulse source (real or
//! simulated), the time-of-day references, the sans-IO engine and the publishers.
//!
//! Startup order matters for safety: configuration, then (real mode) CAP_SYS_TIME, the
//! instance lock, the PPS device, and only then anything that may write the clock. The loop
//! itself lives in `run_loop.rs`; the clock and pulses behind [`world::World`]. Everything that
//! reads or adjusts a clock runs on the loop's thread; NTS key exchanges run on worker threads.
//! The loop never exits on a device or reference failure: it degrades the published state and
//! carries on. Only SIGTERM/SIGINT end it, leaving a closed record and (real mode) the kernel
//! status marked unsynchronised.

use std::path::{Path, PathBuf};

use tracing::{info, warn};

use crate::config::Config;
use crate::sim::scenario::Scenario;
use crate::sys::clock::ClockId;

pub mod edge;
pub mod leapfile;
pub mod ledger;
pub mod lock;
pub mod notify;
pub mod refs;
mod run_loop;
pub mod sim_world;
pub mod world;

use lock::InstanceLock;
use world::{RealWorld, World};

/// Where the lock file is when the configuration does not say.
pub const DEFAULT_LOCK: &str = "/run/ppsd/ppsd.lock";

/// Where the ledger of untrusted intervals is when the configuration does not say.
pub const DEFAULT_LEDGER: &str = "/var/lib/ppsd/ledger.jsonl";

/// What `ppsd run` hands the daemon.
pub struct Options {
    /// The configuration in force.
    pub config: Config,
    /// The file it came from (reread on SIGHUP), if any.
    pub config_path: Option<PathBuf>,
    /// The simulated world, with `--simulate`.
    pub scenario: Option<Scenario>,
    /// The shm record path.
    pub shm_path: PathBuf,
    /// The instance lock file.
    pub lock_path: PathBuf,
    /// The ledger of untrusted intervals.
    pub ledger_path: PathBuf,
}

/// Runs the daemon until SIGTERM or SIGINT.
///
/// # Errors
/// One line saying why it could not start (no CAP_SYS_TIME, another instance, device, record
/// file) or why the loop had to stop (the event poller failed).
pub fn run(opts: Options) -> Result<(), String> {
    let signals = run_loop::block_signals()?;
    match opts.scenario.clone() {
        Some(sc) => {
            let lock = InstanceLock::take(&opts.lock_path)?;
            let start = ClockId::Monotonic.now().as_ns();
            let world = sim_world::SimWorld::new(sc, start);
            if world.ignores_faults() {
                warn!("daemon_stall faults of the scenario are not played in real time");
            }
            run_world(world, opts, lock, signals, None)
        }
        None => {
            if !world::has_cap_sys_time() {
                return Err(
                    "ppsd run: needs CAP_SYS_TIME to discipline CLOCK_REALTIME (run it \
                            from the systemd unit or as root); `ppsd run --simulate` needs \
                            neither a device nor privileges"
                        .into(),
                );
            }
            let lock = InstanceLock::take(&opts.lock_path)?;
            let world = RealWorld::open(&opts.config.pps.device, opts.config.pps.edge)?;
            let latency = realtime_setup(&opts.config)?;
            run_world(world, opts, lock, signals, latency)
        }
    }
}

/// Real mode only: the CPU latency request, SCHED_FIFO and affinity the configuration asks for.
fn realtime_setup(cfg: &Config) -> Result<Option<crate::sys::sched::LatencyGuard>, String> {
    let rt = &cfg.runtime;
    if !rt.cpu_affinity.is_empty() {
        let cpus: Vec<usize> = rt.cpu_affinity.iter().map(|&c| c as usize).collect();
        crate::sys::sched::set_affinity(&cpus).map_err(|e| format!("runtime.cpu_affinity: {e}"))?;
    }
    if rt.sched_priority > 0 {
        crate::sys::sched::set_fifo_priority(rt.sched_priority as i32)
            .map_err(|e| format!("runtime.sched_priority: {e}"))?;
    }
    if !rt.cpu_dma_latency {
        return Ok(None);
    }
    match crate::sys::sched::hold_cpu_latency(0) {
        Ok(g) => Ok(Some(g)),
        Err(e) => {
            warn!("{e}: CPU idle states may add capture jitter");
            Ok(None)
        }
    }
}

fn run_world<W: World>(
    world: W,
    opts: Options,
    lock: InstanceLock,
    signals: nix::sys::signalfd::SignalFd,
    latency: Option<crate::sys::sched::LatencyGuard>,
) -> Result<(), String> {
    let mut daemon = run_loop::Daemon::new(world, opts, signals)?;
    info!(lock = %lock.path().display(), "instance lock held");
    let result = daemon.run();
    drop(latency);
    drop(lock);
    result
}

/// The default record path for `--simulate`: never the production record, so a simulated
/// INSYNC cannot reach a real signer. Root: `/run/ppsd-sim/state`; others:
/// `$XDG_RUNTIME_DIR/ppsd-sim/state`, else `/tmp/ppsd-sim-UID/state`.
pub fn simulate_shm_default() -> PathBuf {
    let uid = nix::unistd::geteuid();
    if uid.is_root() {
        return PathBuf::from("/run/ppsd-sim/state");
    }
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| Path::new(d).is_dir()) {
        Some(dir) => Path::new(&dir).join("ppsd-sim/state"),
        None => PathBuf::from(format!("/tmp/ppsd-sim-{uid}/state")),
    }
}

/// Creates the record's directory if missing (mode 0755) and checks that it belongs to us or
/// root and is not writable by others, so nobody else can replace the record.
///
/// # Errors
/// One line naming the directory.
pub fn prepare_dir(record: &Path) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let dir = record.parent().filter(|d| !d.as_os_str().is_empty());
    let Some(dir) = dir else { return Ok(()) };
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .map_err(|e| format!("{}: cannot create directory: {e}", dir.display()))?;
    }
    let meta = std::fs::metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let uid = nix::unistd::geteuid().as_raw();
    if meta.uid() != uid && meta.uid() != 0 {
        return Err(format!(
            "{}: owned by uid {}, not by us",
            dir.display(),
            meta.uid()
        ));
    }
    if meta.mode() & 0o002 != 0 && meta.mode() & 0o1000 == 0 {
        return Err(format!(
            "{}: writable by anyone; refusing to publish there",
            dir.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_directories_are_created_and_checked() {
        let base = std::env::temp_dir().join(format!("ppsd-dir-{}", std::process::id()));
        let record = base.join("a/b/state");
        prepare_dir(&record).unwrap();
        assert!(base.join("a/b").is_dir());
        // /tmp itself is world-writable but sticky: accepted.
        prepare_dir(Path::new("/tmp/state")).unwrap();
        let _ = std::fs::remove_dir_all(&base);
        let e = prepare_dir(Path::new("/proc/1/x/state")).unwrap_err();
        assert!(e.starts_with("/proc/1/x: "), "{e}");
    }

    #[test]
    fn simulated_record_is_never_the_production_one() {
        assert_ne!(
            simulate_shm_default(),
            PathBuf::from(ppsd_shm::DEFAULT_PATH)
        );
    }
}
