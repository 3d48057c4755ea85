//! The pages over the loop's current state: [`Snapshot`] borrows the metrics and what the loop
//! knows, with the instant to render at, and implements [`Pages`] by calling the formatters
//! ([`Metrics::encode`], [`status::render`], [`StateLine`]). It holds no state of its own and
//! never reads a clock: the loop builds one per event with a fresh stamp.

use super::{Page, Pages};
use crate::engine::Stamp;
use crate::publish::metrics::Metrics;
use crate::publish::status::{self, StatusInfo};
use crate::publish::timemonitor::StateLine;

/// `Content-Type` of the Prometheus text format 0.0.4.
pub const METRICS_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// `Content-Type` of `/status`.
pub const STATUS_TYPE: &str = "application/json";
/// `Content-Type` of `/state`.
pub const STATE_TYPE: &str = "text/plain; charset=utf-8";

/// What the pages are rendered from.
#[derive(Clone, Copy, Debug)]
pub struct Snapshot<'a> {
    /// The metrics the loop feeds.
    pub metrics: &'a Metrics,
    /// What else `/status` shows.
    pub info: StatusInfo<'a>,
    /// Now, on the engine's clocks (the same clocks as the published state's stamps).
    pub now: Stamp,
}

impl Pages for Snapshot<'_> {
    fn render(&mut self, page: Page, out: &mut String) -> &'static str {
        match page {
            Page::Metrics => {
                self.metrics.encode(self.now, out);
                METRICS_TYPE
            }
            Page::Status => {
                status::render(self.metrics, self.now, &self.info, out);
                STATUS_TYPE
            }
            Page::State => {
                let line = StateLine::new(self.metrics, self.now, self.info.config_version);
                out.push_str(&line.to_string());
                STATE_TYPE
            }
        }
    }
}
