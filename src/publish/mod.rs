//! Publishers: the I/O side of what the engine produces. [`shm`] writes the record signers read
//! (ppsd-shm); [`log`] writes the structured event log; [`ledger`] appends the untrusted
//! intervals to a file that survives crashes and power loss as far as the filesystem allows;
//! [`metrics`] keeps the counters, gauges and histograms behind `/metrics`; [`http`] serves
//! `/metrics`, `/status` and `/state` on the daemon's event loop; [`status`] and
//! [`timemonitor`] format the `/status` JSON and the `/state` line; [`signserver`] reports the
//! state to SignServer from its own thread, as SignServer's TimeMonitor does.
//!
//! Publishers only report what the engine decided; they never decide trust themselves, never
//! touch a clock, never block the clock thread for long (the shm write is a few stores), and a
//! failing publisher never changes the engine's state.

pub mod http;
mod leaplog;
pub mod ledger;
pub mod log;
pub mod metrics;
pub mod shm;
pub mod signserver;
pub mod status;
pub mod timemonitor;
