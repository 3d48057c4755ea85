//! What a simulation run measured, against ground truth: the tracker that watches the
//! published states and the true offset second by second, the JSON/text report, and the trace
//! CSV rows.
//!
//! Every figure here comes from the world's truth and from what the engine published; nothing is
//! taken from the engine's own opinion of itself. Same inputs give the same report byte for
//! byte, except `wall_ms`.

use serde::Serialize;
use std::io::Write;

use super::fault::{Fault, FaultKind};
use crate::engine::{EngineEvent, Reason, SyncState, TrustState};
use crate::time::NANOS_PER_SEC;

/// Window of the convergence test, s.
const CONVERGE_WINDOW_S: usize = 60;
/// Seconds after a fault's end still counted as its doing when judging "breaks the accuracy".
const FAULT_TAIL_S: i64 = 60;

/// One fault as the report sees it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FaultReport {
    /// Kind.
    pub kind: FaultKind,
    /// Start, s from the start of the run.
    pub start_s: f64,
    /// The true offset passed the declared accuracy during the fault or within 60 s after it.
    pub breaks_accuracy: bool,
    /// Time from the fault's start to the first published state other than INSYNC (or the
    /// expiry of the last INSYNC), ms; null if none came before the end of the run.
    pub first_not_insync_ms: Option<f64>,
}

/// One untrusted interval the engine recorded (its ledger), on the run's true timeline.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LedgerEntry {
    /// Why it began.
    pub reason: Reason,
    /// Its start (the last INSYNC publication before it), s from the start of the run.
    pub start_s: f64,
    /// Its end (INSYNC again), s; null while still open at the end of the run.
    pub end_s: Option<f64>,
    /// Worst state published in it; null while open.
    pub worst_state: Option<SyncState>,
    /// Largest bound published in it, ns; null while open or when at some point there was none.
    pub worst_bound_ns: Option<i64>,
}

/// The report of one run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// Scenario file.
    pub scenario: String,
    /// Servo name.
    pub servo: String,
    /// Seed.
    pub seed: u64,
    /// Length of the run, s.
    pub duration_s: i64,
    /// First t where the rms true offset over [t, t+60 s) is below 1 µs; null if never.
    pub converge_1us_s: Option<i64>,
    /// Same for 100 ns.
    pub converge_100ns_s: Option<i64>,
    /// rms true offset over the second half of the run, ns.
    pub tail_rms_ns: f64,
    /// 99th percentile of |true offset| over the second half, ns.
    pub tail_p99_ns: f64,
    /// Largest |true offset| over the second half, ns.
    pub tail_max_ns: f64,
    /// Largest |true offset| from `converge_1us_s` on, ns; null if it never converged.
    pub max_abs_after_converge_ns: Option<f64>,
    /// Seconds published as INSYNC.
    pub insync_s: i64,
    /// Seconds published as INSYNC while |true offset| > declared accuracy.
    pub false_insync_s: i64,
    /// Seconds published as INSYNC while the published bound < |true offset|.
    pub bound_violation_s: i64,
    /// Median of the bound in force at the INSYNC seconds of the second half, ns; null if none.
    pub tail_bound_median_ns: Option<f64>,
    /// `tail_bound_median_ns` / `tail_p99_ns`: how loose the bound is (1 would be as tight as
    /// the 99th percentile of the true offset); null if either is missing.
    pub bound_tightness: Option<f64>,
    /// Per fault, in scenario order: `first_not_insync_ms` where the fault breaks the
    /// accuracy, else null.
    pub detect_ms: Vec<Option<f64>>,
    /// Per fault details.
    pub faults: Vec<FaultReport>,
    /// Optimal linear filter's steady-state rms for this scenario's noise model, ns.
    pub limit_rms_ns: f64,
    /// Steps the engine made.
    pub steps: u64,
    /// Pulses fetched and rejected.
    pub pulses_rejected: u64,
    /// Foreign changes the engine reported.
    pub foreign_changes: u64,
    /// Published state changes.
    pub state_changes: u64,
    /// The engine's ledger of untrusted intervals, in order.
    pub ledger: Vec<LedgerEntry>,
    /// Wall-clock time of the run, ms (the one field that differs between identical runs).
    pub wall_ms: f64,
}

impl Report {
    /// The report as `key: value` lines.
    pub fn to_text(&self) -> String {
        fn json<T: Serialize>(v: &T) -> String {
            serde_json::to_string(v).unwrap_or_else(|_| "?".to_string())
        }
        let fields: [(&str, String); 24] = [
            ("scenario", self.scenario.clone()),
            ("servo", self.servo.clone()),
            ("seed", json(&self.seed)),
            ("duration_s", json(&self.duration_s)),
            ("converge_1us_s", json(&self.converge_1us_s)),
            ("converge_100ns_s", json(&self.converge_100ns_s)),
            ("tail_rms_ns", json(&self.tail_rms_ns)),
            ("tail_p99_ns", json(&self.tail_p99_ns)),
            ("tail_max_ns", json(&self.tail_max_ns)),
            (
                "max_abs_after_converge_ns",
                json(&self.max_abs_after_converge_ns),
            ),
            ("insync_s", json(&self.insync_s)),
            ("false_insync_s", json(&self.false_insync_s)),
            ("bound_violation_s", json(&self.bound_violation_s)),
            ("tail_bound_median_ns", json(&self.tail_bound_median_ns)),
            ("bound_tightness", json(&self.bound_tightness)),
            ("detect_ms", json(&self.detect_ms)),
            ("faults", json(&self.faults)),
            ("limit_rms_ns", json(&self.limit_rms_ns)),
            ("steps", json(&self.steps)),
            ("pulses_rejected", json(&self.pulses_rejected)),
            ("foreign_changes", json(&self.foreign_changes)),
            ("state_changes", json(&self.state_changes)),
            ("ledger", json(&self.ledger)),
            ("wall_ms", json(&self.wall_ms)),
        ];
        fields.iter().map(|(k, v)| format!("{k}: {v}\n")).collect()
    }
}

#[derive(Clone, Copy, Debug)]
struct InForce {
    state: SyncState,
    bound_ns: i64,
    at_true: i64,
    at_mono: i64,
    valid_until_mono: i64,
}

impl InForce {
    /// True instant at which this publication expires (true and monotonic time run at the
    /// same rate within the clock's frequency error, which is far below this resolution).
    fn expires_true(&self) -> i64 {
        self.at_true + (self.valid_until_mono - self.at_mono)
    }
}

/// Watches a run and computes its report.
#[derive(Debug)]
pub struct Tracker {
    accuracy_ns: f64,
    truth: Vec<f64>,
    /// (second, bound) at each INSYNC second.
    insync_bounds: Vec<(usize, i64)>,
    in_force: Option<InForce>,
    faults: Vec<(Fault, Option<i64>, bool)>,
    insync_s: i64,
    false_insync_s: i64,
    bound_violation_s: i64,
    steps: u64,
    pulses_rejected: u64,
    foreign_changes: u64,
    state_changes: u64,
    ledger: Vec<LedgerEntry>,
}

impl Tracker {
    /// A tracker for a run of `duration_s` with `faults` and a declared accuracy.
    pub fn new(duration_s: i64, accuracy_ns: i64, faults: &[Fault]) -> Tracker {
        Tracker {
            accuracy_ns: accuracy_ns as f64,
            truth: Vec::with_capacity(usize::try_from(duration_s).unwrap_or(0)),
            insync_bounds: Vec::with_capacity(usize::try_from(duration_s).unwrap_or(0)),
            in_force: None,
            faults: faults.iter().map(|f| (*f, None, false)).collect(),
            insync_s: 0,
            false_insync_s: 0,
            bound_violation_s: 0,
            steps: 0,
            pulses_rejected: 0,
            foreign_changes: 0,
            state_changes: 0,
            ledger: Vec::new(),
        }
    }

    /// The state and bound a reader sees at monotonic `mono` (UNKNOWN once expired).
    pub fn effective(&self, mono: i64) -> (SyncState, i64) {
        match self.in_force {
            Some(p) if p.valid_until_mono >= mono => (p.state, p.bound_ns),
            _ => (SyncState::Unknown, i64::MAX),
        }
    }

    /// Marks faults that have started by `tau` as detected if the state in force at their
    /// start, or its expiry since, was not INSYNC.
    fn watch_faults(&mut self, tau: i64) {
        for (fault, detected, armed) in &mut self.faults {
            if fault.start_ns > tau || detected.is_some() {
                continue;
            }
            let start = fault.start_ns;
            match self.in_force {
                Some(p) if p.state == SyncState::InSync => {
                    let expiry = p.expires_true();
                    if expiry < tau {
                        *detected = Some(expiry.max(start));
                    }
                }
                _ if !*armed => *detected = Some(start),
                _ => {}
            }
            *armed = true;
        }
    }

    /// Records the truth at whole second `tau` (true ns), with monotonic `mono`: returns the
    /// state and bound in force.
    pub fn sample(&mut self, tau: i64, mono: i64, true_offset_ns: f64) -> (SyncState, i64) {
        self.watch_faults(tau);
        self.truth.push(true_offset_ns);
        let (state, bound) = self.effective(mono);
        if state == SyncState::InSync {
            self.insync_s += 1;
            self.insync_bounds.push((self.truth.len() - 1, bound));
            if true_offset_ns.abs() > self.accuracy_ns {
                self.false_insync_s += 1;
            }
            if (bound as f64) < true_offset_ns.abs() {
                self.bound_violation_s += 1;
            }
        }
        (state, bound)
    }

    /// Records a publication at true `tau`.
    pub fn publish(&mut self, tau: i64, s: &TrustState) {
        self.watch_faults(tau);
        if s.state != SyncState::InSync {
            for (fault, detected, _) in &mut self.faults {
                if fault.start_ns <= tau && detected.is_none() {
                    *detected = Some(tau);
                }
            }
        }
        self.in_force = Some(InForce {
            state: s.state,
            bound_ns: s.bound_ns,
            at_true: tau,
            at_mono: s.updated_mono_ns,
            valid_until_mono: s.valid_until_mono_ns,
        });
    }

    /// Counts an engine event handed over at true `tau`.
    pub fn event(&mut self, tau: i64, e: &EngineEvent) {
        let s = |ns: i64| round3(ns as f64 / 1e9);
        match e {
            EngineEvent::UntrustedBegan(b) => self.ledger.push(LedgerEntry {
                reason: b.reason,
                start_s: s(tau - b.found.diff_ns(b.start)),
                end_s: None,
                worst_state: None,
                worst_bound_ns: None,
            }),
            EngineEvent::UntrustedEnded(i) => {
                if let Some(entry) = self.ledger.last_mut().filter(|l| l.end_s.is_none()) {
                    entry.end_s = Some(s(tau));
                    entry.worst_state = Some(i.worst_state);
                    entry.worst_bound_ns = i.worst_bound_ns;
                }
            }
            EngineEvent::Stepped { .. } => self.steps += 1,
            EngineEvent::PulseRejected { .. } => self.pulses_rejected += 1,
            EngineEvent::ForeignChange(_) => self.foreign_changes += 1,
            EngineEvent::StateChanged { .. } => self.state_changes += 1,
            _ => {}
        }
    }

    /// The report (with `wall_ms` 0; the caller fills it in).
    pub fn finish(self, scenario: String, servo: String, seed: u64, limit_rms_ns: f64) -> Report {
        let x = &self.truth;
        let n = x.len();
        let converge = |threshold: f64| first_converged(x, threshold);
        let converge_1us_s = converge(1_000.0);
        let tail: Vec<f64> = x[n / 2..].iter().map(|v| v.abs()).collect();
        let tail_bounds: Vec<f64> = self
            .insync_bounds
            .iter()
            .filter(|(t, _)| *t >= n / 2)
            .map(|(_, b)| *b as f64)
            .collect();
        let tail_p99_ns = round2(percentile(&tail, 0.99));
        let tail_bound_median_ns = (!tail_bounds.is_empty()).then(|| percentile(&tail_bounds, 0.5));
        let bound_tightness = tail_bound_median_ns
            .filter(|_| tail_p99_ns > 0.0)
            .map(|b| round3(b / tail_p99_ns));
        let faults: Vec<FaultReport> = self
            .faults
            .iter()
            .map(|(f, detected, _)| {
                let from = (f.start_ns / NANOS_PER_SEC).max(0) as usize;
                let to = (f.end_ns / NANOS_PER_SEC + FAULT_TAIL_S).max(0) as usize;
                let window = &x[from.min(n)..to.clamp(from.min(n), n)];
                FaultReport {
                    kind: f.kind,
                    start_s: f.start_ns as f64 / 1e9,
                    breaks_accuracy: window.iter().any(|v| v.abs() > self.accuracy_ns),
                    first_not_insync_ms: detected.map(|d| round3((d - f.start_ns) as f64 / 1e6)),
                }
            })
            .collect();
        Report {
            scenario,
            servo,
            seed,
            duration_s: n as i64,
            converge_1us_s,
            converge_100ns_s: converge(100.0),
            tail_rms_ns: round2(rms(&tail)),
            tail_p99_ns,
            tail_max_ns: round2(tail.iter().copied().fold(0.0, f64::max)),
            max_abs_after_converge_ns: converge_1us_s
                .map(|t| round2(x[t as usize..].iter().fold(0.0, |m, v| v.abs().max(m)))),
            insync_s: self.insync_s,
            false_insync_s: self.false_insync_s,
            bound_violation_s: self.bound_violation_s,
            tail_bound_median_ns,
            bound_tightness,
            detect_ms: faults
                .iter()
                .map(|f| f.first_not_insync_ms.filter(|_| f.breaks_accuracy))
                .collect(),
            faults,
            limit_rms_ns: round2(limit_rms_ns),
            steps: self.steps,
            pulses_rejected: self.pulses_rejected,
            foreign_changes: self.foreign_changes,
            state_changes: self.state_changes,
            ledger: self.ledger,
            wall_ms: 0.0,
        }
    }
}

/// First t where the rms of `x` over [t, t+60) is below `threshold`.
fn first_converged(x: &[f64], threshold: f64) -> Option<i64> {
    let w = CONVERGE_WINDOW_S;
    if x.len() < w {
        return None;
    }
    let limit = threshold * threshold * w as f64;
    let mut sum: f64 = x[..w].iter().map(|v| v * v).sum();
    for t in 0..=x.len() - w {
        if t > 0 {
            sum += x[t + w - 1] * x[t + w - 1] - x[t - 1] * x[t - 1];
        }
        if sum < limit {
            // Re-add exactly to rule out drift of the running sum.
            let exact: f64 = x[t..t + w].iter().map(|v| v * v).sum();
            if exact < limit {
                return Some(t as i64);
            }
        }
    }
    None
}

fn rms(x: &[f64]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64).sqrt()
}

/// The `p` quantile (nearest rank) of `x`.
fn percentile(x: &[f64], p: f64) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    let mut v = x.to_vec();
    let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    let (_, nth, _) = v.select_nth_unstable_by(rank, f64::total_cmp);
    *nth
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// One trace row: a simulated second.
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceRow {
    /// Seconds from the start of the run.
    pub t_s: i64,
    /// True offset, ns.
    pub true_offset_ns: f64,
    /// Offset the engine measured from this second's pulse, if it accepted one.
    pub measured_offset_ns: Option<i64>,
    /// Kernel frequency adjustment after the pulse, ppb.
    pub freq_ppb: f64,
    /// Published state in force at the second.
    pub state: SyncState,
    /// Published bound in force, ns (`None` when there is none).
    pub bound_ns: Option<i64>,
}

/// The trace CSV header line.
pub const TRACE_HEADER: &str = "t_s,true_offset_ns,measured_offset_ns,freq_ppb,state,bound_ns\n";

impl TraceRow {
    /// Writes the row as one CSV line.
    ///
    /// # Errors
    /// The writer's error.
    pub fn write_to(&self, w: &mut dyn Write) -> std::io::Result<()> {
        write!(w, "{},{:.1},", self.t_s, self.true_offset_ns)?;
        if let Some(m) = self.measured_offset_ns {
            write!(w, "{m}")?;
        }
        write!(w, ",{:.3},{},", self.freq_ppb, self.state.as_str())?;
        if let Some(b) = self.bound_ns {
            write!(w, "{b}")?;
        }
        writeln!(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn convergence_and_percentiles() {
        let mut x = vec![5_000.0; 100];
        x.extend(std::iter::repeat_n(50.0, 200));
        assert_eq!(first_converged(&x, 1_000.0), Some(98));
        assert_eq!(first_converged(&x, 10.0), None);
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&v, 1.0), 100.0);
        assert!((rms(&[3.0, 4.0]) - 12.5f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn text_report_has_every_json_field_in_order() {
        let r = Tracker::new(0, 1_000, &[]).finish("s.toml".into(), "pi".into(), 3, 38.98);
        let text = r.to_text();
        let keys: Vec<&str> = text.lines().filter_map(|l| l.split(':').next()).collect();
        let json = serde_json::to_string(&r).unwrap();
        let mut at = 0;
        for k in &keys {
            let found = json[at..].find(&format!("\"{k}\":")).expect(k);
            at += found;
        }
        assert_eq!(keys.len(), 24);
        assert!(text.starts_with("scenario: s.toml\nservo: pi\nseed: 3\n"));
    }

    #[test]
    fn counts_false_insync_and_bound_violations() {
        let mut t = Tracker::new(10, 1_000, &[]);
        let s = TrustState {
            state: SyncState::InSync,
            bound_ns: 500,
            updated_mono_ns: 0,
            valid_until_mono_ns: 1_500_000_000,
            ..TrustState::default()
        };
        t.publish(0, &s);
        assert_eq!(
            t.sample(1_000_000_000, 1_000_000_000, 700.0).0,
            SyncState::InSync
        );
        t.sample(1_000_000_000, 1_000_000_000, -2_000.0);
        // Expired: UNKNOWN, not counted.
        assert_eq!(
            t.sample(2_000_000_000, 2_000_000_000, 5_000.0).0,
            SyncState::Unknown
        );
        let r = t.finish("s".into(), "pi".into(), 1, 0.0);
        assert_eq!(
            (r.insync_s, r.false_insync_s, r.bound_violation_s),
            (2, 1, 2)
        );
    }
}
