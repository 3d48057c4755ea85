//! The daemon's configuration (`/etc/ppsd/ppsd.toml`): typed sections with a default for every
//! key, strict parsing, and validation whose errors name the file, the line, the key and the
//! reason (`/etc/ppsd/ppsd.toml:7: trust.declared_accuracy_ns: must be at most 1 s ...`).
//!
//! Every key is documented in `docs/config.md` and commented in `etc/ppsd.toml`. Parsing is
//! pure (text in, [`Config`] or [`ConfigError`] out, plus [`load`] reading one file); nothing
//! here opens a device, touches a clock, or panics on any input. Unknown keys are errors, so a
//! misspelt key never silently leaves a default in force.

use crate::time::NANOS_PER_SEC;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use crate::engine::servo::ServoPolicy;
use crate::engine::{EngineConfig, TrustConfig};
use crate::io::Edge;

mod error;
mod validate;
pub mod verify;

pub use error::ConfigError;

/// Where `ppsd run` looks for its configuration unless `--config` says otherwise.
pub const DEFAULT_PATH: &str = "/etc/ppsd/ppsd.toml";

/// The whole configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The PPS device and how its pulses are taken.
    pub pps: PpsSection,
    /// Declared accuracy and how the error bound is made.
    pub trust: TrustSection,
    /// The servo and the step policy.
    pub servo: ServoSection,
    /// Time-of-day references that number the seconds.
    pub reference: Vec<ReferenceSection>,
    /// How the references must agree to verify the seconds.
    pub verify: verify::VerifySection,
    /// The leap-seconds list.
    pub leap: LeapSection,
    /// The shared-memory record signers read.
    pub shm: ShmSection,
    /// The HTTP listener (metrics, state, status).
    pub http: HttpSection,
    /// SignServer's time monitor endpoint.
    pub signserver: SignServerSection,
    /// The event log.
    pub log: LogSection,
    /// Process settings: lock file, renewal, latency, scheduling.
    pub runtime: RuntimeSection,
}

/// `[pps]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PpsSection {
    /// The PPS device (a udev symlink such as `/dev/pps-gnss` keeps it stable).
    pub device: PathBuf,
    /// The edge that marks the second.
    pub edge: Edge,
    /// Receiver + cable + capture delay subtracted from each pulse, ns.
    pub delay_ns: i64,
    /// Pulse interval tolerance beyond the frequency set, ns.
    pub pulse_window_ns: i64,
    /// No pulse for this long is a loss (holdover), ms.
    pub pulse_timeout_ms: i64,
    /// How long after the expected edge the loop fetches, ms.
    pub fetch_delay_ms: i64,
}

impl Default for PpsSection {
    fn default() -> PpsSection {
        PpsSection {
            device: PathBuf::from("/dev/pps0"),
            edge: Edge::Assert,
            delay_ns: 0,
            pulse_window_ns: 1_000_000,
            pulse_timeout_ms: 1_500,
            fetch_delay_ms: 10,
        }
    }
}

/// `[trust]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrustSection {
    /// The accuracy the TSA declares, ns (at most 1 s).
    pub declared_accuracy_ns: i64,
    /// Receiver, cable and capture uncertainty added to every bound, ns.
    pub static_uncertainty_ns: i64,
    /// Multiplier of σ and of the frequency uncertainty.
    pub k_sigma: f64,
    /// Bound on the oscillator's frequency drift, ppb/s.
    pub drift_bound_ppb_per_s: f64,
    /// SOON_OUT_OF_SYNC past this fraction of the declared accuracy.
    pub warn_fraction: f64,
    /// How long a published state stays valid, ms.
    pub lifetime_ms: i64,
    /// Good pulses in a row needed to return to INSYNC after OUT_OF_SYNC.
    pub recover_pulses: i64,
    /// Locked samples needed before the measured spread is believed.
    pub min_samples: i64,
    /// In holdover, SOON_OUT_OF_SYNC once the bound would pass the accuracy within this
    /// long, s.
    pub holdover_horizon_s: i64,
}

/// The daemon's default declared accuracy: 100 ms, ten times inside the 1 s that ETSI EN 319
/// 421 allows. A TSA sets its own policy's figure; this default keeps the adjtimex poll that
/// guards against foreign clock writes cheap (docs/trust.md, "How often adjtimex is read").
pub const DEFAULT_DECLARED_ACCURACY_NS: i64 = 100_000_000;

impl Default for TrustSection {
    fn default() -> TrustSection {
        let t = TrustConfig::default();
        TrustSection {
            declared_accuracy_ns: DEFAULT_DECLARED_ACCURACY_NS,
            static_uncertainty_ns: t.static_uncertainty_ns,
            k_sigma: t.k_sigma,
            drift_bound_ppb_per_s: t.drift_bound_ppb_per_s,
            warn_fraction: t.warn_fraction,
            lifetime_ms: t.lifetime_ns / 1_000_000,
            recover_pulses: i64::from(t.recover_pulses),
            min_samples: i64::from(t.min_samples),
            holdover_horizon_s: t.holdover_horizon_ns / NANOS_PER_SEC,
        }
    }
}

/// `[servo]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServoSection {
    /// `kalman` or `pi`.
    pub algorithm: String,
    /// Step when the offset is above this (ns) and stepping is allowed; 0 never steps.
    pub step_threshold_ns: i64,
    /// Whether the clock may still be stepped once it has been trusted.
    pub allow_step_after_trust: bool,
    /// Frequency clamp, ppb.
    pub max_freq_ppb: f64,
    /// Offsets at or under this count towards the stable lock, ns.
    pub stable_threshold_ns: i64,
    /// Consecutive small offsets needed for the stable lock.
    pub stable_count: i64,
}

impl Default for ServoSection {
    fn default() -> ServoSection {
        let p = ServoPolicy::default();
        ServoSection {
            algorithm: "kalman".into(),
            step_threshold_ns: p.step_threshold_ns,
            allow_step_after_trust: false,
            max_freq_ppb: p.max_freq_ppb,
            stable_threshold_ns: p.stable_threshold_ns,
            stable_count: i64::from(p.stable_count),
        }
    }
}

/// The kind of a time-of-day reference.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReferenceKind {
    /// NTS (RFC 8915): authenticated; `address` is the NTS-KE server `host[:port]`.
    #[default]
    Nts,
    /// Plain NTP: unauthenticated; `address` is `IP:port`.
    Ntp,
    /// gpsd's JSON stream; `address` is `IP:port` (usually `127.0.0.1:2947`).
    Gpsd,
    /// An NTP shared-memory segment; `unit` names it.
    Shm,
}

/// One `[[reference]]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReferenceSection {
    /// The kind of client.
    pub kind: ReferenceKind,
    /// Where to ask (see [`ReferenceKind`]); unused for `shm`.
    pub address: String,
    /// NTP shared-memory unit (`shm` only).
    pub unit: i64,
    /// Seconds between queries.
    pub interval_s: i64,
    /// Bound on one query, ms.
    pub timeout_ms: i64,
    /// PEM file of CA certificates for NTS-KE instead of the system store (`nts` only).
    pub ca_file: Option<PathBuf>,
    /// This reference's own verification tolerance, ms; 0: `verify.tolerance_ms`.
    pub tolerance_ms: i64,
}

impl Default for ReferenceSection {
    fn default() -> ReferenceSection {
        ReferenceSection {
            kind: ReferenceKind::Nts,
            address: String::new(),
            unit: 2,
            interval_s: 64,
            timeout_ms: 2_000,
            ca_file: None,
            tolerance_ms: 0,
        }
    }
}

/// `[leap]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LeapSection {
    /// The leap-seconds.list file; empty for none (then only references announce leaps).
    pub file: PathBuf,
    /// Replaced by `window_before_ms`/`window_after_ms`; accepted only to say so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_ms: Option<i64>,
    /// The leap state is published from this long before the leap, s.
    pub lead_s: i64,
    /// Signers pause from this long before the leap (its UTC midnight), ms.
    pub window_before_ms: i64,
    /// ... to this long after it, ms.
    pub window_after_ms: i64,
}

impl Default for LeapSection {
    fn default() -> LeapSection {
        LeapSection {
            file: PathBuf::from("/usr/share/zoneinfo/leap-seconds.list"),
            window_ms: None,
            lead_s: 86_400,
            window_before_ms: 2_000,
            window_after_ms: 1_000,
        }
    }
}

/// `[shm]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShmSection {
    /// The record file signers map.
    pub path: PathBuf,
    /// Identifier of the pulse source in the record (at most 32 ASCII bytes); empty: derived
    /// from the device path.
    pub pulse_source_id: String,
    /// Identifier of the time-of-day reference and the UTC(k) it traces to; empty: the first
    /// reference's kind and address.
    pub reference_id: String,
}

impl Default for ShmSection {
    fn default() -> ShmSection {
        ShmSection {
            path: PathBuf::from(ppsd_shm::DEFAULT_PATH),
            pulse_source_id: String::new(),
            reference_id: String::new(),
        }
    }
}

/// `[http]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSection {
    /// `ADDR:PORT` for `/metrics`, `/state`, `/status`; empty: no listener.
    pub listen: String,
}

/// `[signserver]`: the SignServer publisher (in place of SignServer's TimeMonitor).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignServerSection {
    /// SignServer's process URL the status is POSTed to; empty: none.
    pub endpoint: String,
    /// Name of the StatusPropertiesWorker (or TimeMonitorManager) that takes the update.
    pub worker_name: String,
    /// Status property of the sync state.
    pub insync_property: String,
    /// Status property of the leap state.
    pub leap_property: String,
    /// An update is sent at least this often, ms (and at every change).
    pub interval_ms: i64,
    /// Longest validity given to an in-sync status, ms.
    pub status_expire_ms: i64,
    /// Validity given to the leap status, ms.
    pub leap_expire_ms: i64,
    /// Bound on connecting and on one whole request, ms.
    pub timeout_ms: i64,
    /// PEM file of CA certificates for an https endpoint instead of the system store.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (chain) for SignServers that require client authentication.
    pub client_cert: Option<PathBuf>,
    /// PEM private key of `client_cert`.
    pub client_key: Option<PathBuf>,
}

impl Default for SignServerSection {
    fn default() -> SignServerSection {
        SignServerSection {
            endpoint: String::new(),
            worker_name: "StatusPropertiesWorker".into(),
            insync_property: "TIMESOURCE0_INSYNC".into(),
            leap_property: "LEAPSECOND".into(),
            interval_ms: 250,
            status_expire_ms: 900,
            leap_expire_ms: 60_000,
            timeout_ms: 400,
            ca_file: None,
            client_cert: None,
            client_key: None,
        }
    }
}

/// Log formats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `key=value` lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Log levels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// And warnings.
    Warn,
    /// And every sync event (the default).
    #[default]
    Info,
    /// And diagnostics.
    Debug,
    /// Everything.
    Trace,
}

/// `[log]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSection {
    /// `text` or `json`.
    pub format: LogFormat,
    /// `error`, `warn`, `info`, `debug` or `trace`.
    pub level: LogLevel,
}

/// `[runtime]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeSection {
    /// Lock file refusing a second instance; empty: `/run/ppsd/ppsd.lock`, or beside the
    /// record with `--simulate`.
    pub lock_file: PathBuf,
    /// Ledger of untrusted intervals (append-only, synced); empty:
    /// `/var/lib/ppsd/ledger.jsonl`, or beside the record with `--simulate`.
    pub ledger_file: PathBuf,
    /// The state is renewed at least this often, ms.
    pub renew_ms: i64,
    /// adjtimex is read at least this often, µs: the ceiling of the poll rule, which reads
    /// more often while the margin (accuracy − bound) asks for it (`engine::poll`).
    pub kernel_poll_us: i64,
    /// Fraction of the margin (declared accuracy − bound) a worst-case foreign adjtimex write
    /// may use up before the next read finds it; sets the poll interval.
    pub kernel_poll_margin: f64,
    /// Hold `/dev/cpu_dma_latency` at 0 while running (real devices only).
    pub cpu_dma_latency: bool,
    /// SCHED_FIFO priority of the loop, 1–99; 0 leaves the default scheduler.
    pub sched_priority: i64,
    /// CPUs the loop may run on; empty: all.
    pub cpu_affinity: Vec<i64>,
}

impl Default for RuntimeSection {
    fn default() -> RuntimeSection {
        RuntimeSection {
            lock_file: PathBuf::new(),
            ledger_file: PathBuf::new(),
            renew_ms: 250,
            kernel_poll_us: crate::engine::poll::MAX_POLL_NS / 1_000,
            kernel_poll_margin: crate::engine::poll::PollRule::default().margin_fraction,
            cpu_dma_latency: true,
            sched_priority: 0,
            cpu_affinity: Vec::new(),
        }
    }
}

impl Config {
    /// The engine settings this configuration gives.
    pub fn engine(&self) -> EngineConfig {
        let d = EngineConfig::default();
        let t = &self.trust;
        let s = &self.servo;
        EngineConfig {
            edge: self.pps.edge,
            delay_ns: self.pps.delay_ns,
            pulse_window_ns: self.pps.pulse_window_ns,
            pulse_timeout_ns: self.pps.pulse_timeout_ms * 1_000_000,
            own_step_grace_ns: d.own_step_grace_ns,
            allow_step_after_trust: s.allow_step_after_trust,
            servo: ServoPolicy {
                step_threshold_ns: s.step_threshold_ns,
                max_freq_ppb: s.max_freq_ppb,
                stable_threshold_ns: s.stable_threshold_ns,
                stable_count: s.stable_count as u32,
            },
            trust: TrustConfig {
                declared_accuracy_ns: t.declared_accuracy_ns,
                static_uncertainty_ns: t.static_uncertainty_ns,
                k_sigma: t.k_sigma,
                drift_bound_ppb_per_s: t.drift_bound_ppb_per_s,
                warn_fraction: t.warn_fraction,
                lifetime_ns: t.lifetime_ms * 1_000_000,
                recover_pulses: t.recover_pulses as u32,
                min_samples: t.min_samples as u32,
                holdover_horizon_ns: t.holdover_horizon_s.saturating_mul(NANOS_PER_SEC),
            },
            verify: self.verify.engine(&self.reference),
            poll: crate::engine::poll::PollRule {
                margin_fraction: self.runtime.kernel_poll_margin,
                ceiling_ns: self.runtime.kernel_poll_us.saturating_mul(1_000),
            },
            leap_lead_s: self.leap.lead_s,
        }
    }

    /// The effective configuration as TOML, every key with its value.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# cannot print: {e}\n"))
    }

    /// The keys whose values differ between `self` and `new` that a reload (SIGHUP) cannot
    /// apply: everything but `[leap]`, `[log] level`, `[[reference]]` and the `[shm]`
    /// identifiers.
    pub fn restart_only_changes(&self, new: &Config) -> Vec<&'static str> {
        let mut keys = Vec::new();
        let mut check = |same: bool, key: &'static str| {
            if !same {
                keys.push(key);
            }
        };
        check(self.pps == new.pps, "[pps]");
        check(self.trust == new.trust, "[trust]");
        check(self.servo == new.servo, "[servo]");
        check(self.verify == new.verify, "[verify]");
        check(self.shm.path == new.shm.path, "shm.path");
        check(self.leap.lead_s == new.leap.lead_s, "leap.lead_s");
        check(self.http == new.http, "[http]");
        check(self.signserver == new.signserver, "[signserver]");
        check(self.log.format == new.log.format, "log.format");
        check(self.runtime == new.runtime, "[runtime]");
        keys
    }
}

/// Parses and validates configuration `text`; `file` names it in errors.
///
/// # Errors
/// A [`ConfigError`] naming the file, line, key and reason.
pub fn parse(file: &str, text: &str) -> Result<Config, ConfigError> {
    let cfg: Config = toml::from_str(text).map_err(|e| ConfigError::from_toml(file, text, &e))?;
    validate::check(&cfg).map_err(|(key, reason)| ConfigError::at_key(file, text, &key, reason))?;
    Ok(cfg)
}

/// Reads, parses and validates the configuration file at `path`.
///
/// # Errors
/// A [`ConfigError`]: unreadable file, or as [`parse`].
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| ConfigError::whole(&file, e.to_string()))?;
    if !meta.is_file() {
        return Err(ConfigError::whole(&file, "not a regular file".into()));
    }
    if meta.len() > 1 << 20 {
        return Err(ConfigError::whole(&file, "larger than 1 MiB".into()));
    }
    let text =
        std::fs::read_to_string(path).map_err(|e| ConfigError::whole(&file, e.to_string()))?;
    parse(&file, &text)
}

#[cfg(test)]
mod tests;
