//! Publishers: where the engine's trust state and events go. [`metrics`] keeps the counters,
//! gauges and histograms behind `/metrics`; [`http`] serves `/metrics`, `/status` and `/state`
//! on the daemon's event loop; [`status`] and [`timemonitor`] format the `/status` JSON and the
//! `/state` line.
//!
//! Publishers only report what the engine decided; they never decide trust themselves, never
//! touch a clock, and never block the clock thread.

pub mod http;
pub mod metrics;
pub mod status;
pub mod timemonitor;
