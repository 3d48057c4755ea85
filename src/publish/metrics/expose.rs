//! The Prometheus exposition of [`Metrics`]: a snapshot of every family taken at render time,
//! encoded by `prometheus-client` in the Prometheus text format 0.0.4 (what `promtool check
//! metrics` and every Prometheus server read).
//!
//! Names and units follow Prometheus conventions (base units, `_seconds`, `_ratio`, counters
//! ending `_total`); `docs/metrics.md` lists them all and must change with this file. Rendering
//! allocates (it runs per scrape, off the pulse path) and never reads a clock: `now` comes in.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::hist::{BucketCounts, Windowed, BOUNDS_NS};
use super::{labels, leap_index, sync_index, Metrics};
use crate::engine::Stamp;

type Labels = Vec<(&'static str, &'static str)>;

#[derive(Debug)]
enum Value {
    Counter(u64),
    Gauge(f64),
    Histogram {
        sum: f64,
        count: u64,
        buckets: Vec<(f64, u64)>,
    },
}

#[derive(Debug)]
struct Family {
    name: &'static str,
    help: &'static str,
    samples: Vec<(Labels, Value)>,
}

/// All families, owned, so the registry's collector can be `'static`.
#[derive(Debug, Default)]
struct Snapshot(Vec<Family>);

impl Snapshot {
    fn one(&mut self, name: &'static str, help: &'static str, v: Value) {
        self.0.push(Family {
            name,
            help,
            samples: vec![(Vec::new(), v)],
        });
    }

    fn labelled<const N: usize>(
        &mut self,
        name: &'static str,
        help: &'static str,
        key: &'static str,
        values: [&'static str; N],
        f: impl Fn(usize) -> Value,
    ) {
        let samples = (0..N).map(|i| (vec![(key, values[i])], f(i))).collect();
        self.0.push(Family {
            name,
            help,
            samples,
        });
    }

    fn histogram(
        &mut self,
        name: &'static str,
        help: &'static str,
        b: &BucketCounts,
        count: u64,
        sum_ns: i128,
    ) {
        let buckets = BOUNDS_NS
            .iter()
            .map(|&ns| ns as f64 / 1e9)
            .chain(std::iter::once(f64::INFINITY))
            .zip(b.iter().copied())
            .collect();
        let sum = sum_ns as f64 / 1e9;
        self.one(
            name,
            help,
            Value::Histogram {
                sum,
                count,
                buckets,
            },
        );
    }

    fn windowed(&mut self, w: &Windowed, names: [&'static str; 2], helps: [&'static str; 2]) {
        let mut b = [0; BOUNDS_NS.len() + 1];
        w.total().add_buckets(&mut b);
        self.histogram(
            names[0],
            helps[0],
            &b,
            w.total().count(),
            w.total().sum_ns(),
        );
        let (b, count, sum) = w.recent();
        self.histogram(names[1], helps[1], &b, count, sum);
    }
}

fn encode_value(v: &Value, enc: &mut MetricEncoder) -> fmt::Result {
    match v {
        Value::Counter(n) => enc.encode_counter::<NoLabelSet, u64, u64>(n, None),
        Value::Gauge(x) => enc.encode_gauge(x),
        Value::Histogram {
            sum,
            count,
            buckets,
        } => enc.encode_histogram::<NoLabelSet>(*sum, *count, buckets, None),
    }
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        for fam in &self.0 {
            let kind = match fam.samples.first().map(|s| &s.1) {
                Some(Value::Counter(_)) => MetricType::Counter,
                Some(Value::Histogram { .. }) => MetricType::Histogram,
                _ => MetricType::Gauge,
            };
            let mut enc = encoder.encode_descriptor(fam.name, fam.help, None, kind)?;
            for (labels, value) in &fam.samples {
                if labels.is_empty() {
                    encode_value(value, &mut enc)?;
                } else {
                    encode_value(value, &mut enc.encode_family(labels)?)?;
                }
            }
        }
        Ok(())
    }
}

/// Nanoseconds as seconds (a division, so round numbers print as such: 1000 ns is 1e-6).
fn secs(ns: i64) -> f64 {
    ns as f64 / 1e9
}

fn secs_or_inf(ns: Option<i64>) -> f64 {
    match ns {
        Some(n) if n != i64::MAX => secs(n),
        _ => f64::INFINITY,
    }
}

/// Every family as of `now`: gauges here, then counters and histograms.
fn snapshot(m: &Metrics, now: Stamp) -> Snapshot {
    let mut s = Snapshot::default();
    let ts = m.published();
    let state = sync_index(m.effective_state(now.mono_ns));
    let leap = leap_index(m.leap());
    s.labelled("ppsd_sync_state", "Sync state a signer sees now: 1 for the current state, 0 for the others (UNKNOWN once the published state has expired).", "state", labels::SYNC, |i| Value::Gauge(f64::from(u8::from(i == state))));
    s.labelled("ppsd_leap_state", "Leap second announced for the end of the current UTC day: 1 for the current leap state, 0 for the others.", "state", labels::LEAP, |i| Value::Gauge(f64::from(u8::from(i == leap))));
    s.one(
        "ppsd_offset_seconds",
        "Clock minus reference measured at the last accepted pulse.",
        Value::Gauge(secs(ts.map_or(0, |t| t.offset_ns))),
    );
    s.one("ppsd_frequency_adjustment_ratio", "Frequency correction ppsd has set on the clock (+ speeds it up), as a ratio (1e-6 is 1 ppm).", Value::Gauge(ts.map_or(0.0, |t| t.freq_ppb / 1e9)));
    s.one("ppsd_error_bound_seconds", "Error bound published with the state: the true offset stays within plus or minus this until the state expires; +Inf when there is none yet.", Value::Gauge(secs_or_inf(ts.map(|t| t.bound_ns))));
    s.one(
        "ppsd_declared_accuracy_seconds",
        "Declared accuracy: INSYNC only while the error bound is within it.",
        Value::Gauge(secs(m.config().declared_accuracy_ns)),
    );
    if let Some(tai) = m.tai_offset_s() {
        s.one(
            "ppsd_tai_offset_seconds",
            "TAI minus UTC, from the leap-seconds list.",
            Value::Gauge(tai as f64),
        );
    }
    s.one(
        "ppsd_last_pulse_age_seconds",
        "Time since the last accepted pulse; +Inf before the first.",
        Value::Gauge(secs_or_inf(m.last_pulse_age_ns(now.mono_ns))),
    );
    s.one(
        "ppsd_pulse_fetch_delay_seconds",
        "How long after its edge the last accepted pulse was handled by the loop.",
        Value::Gauge(secs(m.fetch_delay_ns().unwrap_or(0))),
    );
    s.one(
        "ppsd_state_valid_seconds",
        "Time left before the published state expires (negative once expired).",
        Value::Gauge(ts.map_or(f64::NEG_INFINITY, |t| {
            secs(t.valid_until_mono_ns.saturating_sub(now.mono_ns))
        })),
    );
    counters(&mut s, m);
    histograms(&mut s, m);
    s
}

fn counters(s: &mut Snapshot, m: &Metrics) {
    let c = m.counters();
    s.one(
        "ppsd_pulses_accepted",
        "Pulses accepted and measured.",
        Value::Counter(c.pulses_accepted),
    );
    s.labelled(
        "ppsd_pulses_rejected",
        "Pulses fetched but not used, by reason.",
        "reason",
        labels::REJECT,
        |i| Value::Counter(c.pulses_rejected[i]),
    );
    s.one(
        "ppsd_pulses_lost",
        "Losses of the pulse (no accepted pulse for longer than the pulse timeout: holdover).",
        Value::Counter(c.pulses_lost),
    );
    s.labelled(
        "ppsd_steps",
        "Steps of the clock ppsd made, by reason.",
        "reason",
        labels::STEP,
        |i| Value::Counter(c.steps[i]),
    );
    s.labelled(
        "ppsd_foreign_changes",
        "Changes of the clock ppsd did not make, by kind.",
        "kind",
        labels::FOREIGN,
        |i| Value::Counter(c.foreign_changes[i]),
    );
    s.labelled(
        "ppsd_state_changes",
        "Changes of the published sync state, by the state entered.",
        "to",
        labels::SYNC,
        |i| Value::Counter(c.state_changes[i]),
    );
    s.one(
        "ppsd_frequency_resets",
        "Servo restarts from a given frequency.",
        Value::Counter(c.frequency_resets),
    );
    s.labelled(
        "ppsd_pulse_train_shifts",
        "Moves of the pulse train suspected, cleared, or accepted.",
        "kind",
        labels::SHIFT,
        |i| Value::Counter(c.train_shifts[i]),
    );
    s.labelled("ppsd_reference_checks", "Time-of-day reference found (again) agreeing or disagreeing with the pulses on the second.", "result", labels::REFERENCE, |i| Value::Counter(c.reference_checks[i]));
    s.labelled(
        "ppsd_leap_events",
        "Leap seconds scheduled in the kernel and applied.",
        "event",
        labels::LEAP_EVENT,
        |i| Value::Counter(c.leap_events[i]),
    );
    s.one(
        "ppsd_publish_failures",
        "Publications of the state that failed.",
        Value::Counter(c.publish_failures),
    );
    if let Some(r) = m.signserver() {
        s.one(
            "ppsd_signserver_report_failures",
            "Updates to SignServer that failed (no answer, or one other than 200).",
            Value::Counter(r.failures),
        );
    }
}

fn histograms(s: &mut Snapshot, m: &Metrics) {
    s.windowed(m.offsets(), ["ppsd_pulse_offset_seconds", "ppsd_pulse_offset_recent_seconds"], ["Offset (clock minus reference) of each accepted pulse, since start.", "Offset of each accepted pulse over the recent window (between half of it and all of it); not a counter: use without rate()."]);
    s.windowed(m.jitter(), ["ppsd_pulse_interval_jitter_seconds", "ppsd_pulse_interval_jitter_recent_seconds"], ["Interval between consecutive pulses one second apart, minus one second, since start.", "Pulse interval minus one second over the recent window; not a counter: use without rate()."]);
    s.0.push(Family {
        name: "ppsd_build_info",
        help: "Version of the running ppsd (value 1).",
        samples: vec![(
            vec![("version", env!("CARGO_PKG_VERSION"))],
            Value::Gauge(1.0),
        )],
    });
}

/// Appends the exposition of `m` as of `now` to `out`.
pub fn encode(m: &Metrics, now: Stamp, out: &mut String) {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(snapshot(m, now)));
    // Writing into a String cannot fail, and every value above is encodable.
    let _ = prometheus_client::encoding::prometheus_text::encode(out, &registry);
}
