//! Scenario files: TOML describing the simulated world, the engine's settings and the faults.
//! Every key is documented in `scenarios/README.md`.
//!
//! Parsing is strict: unknown keys, wrong types, out-of-range values, unknown fault kinds, keys a
//! fault kind does not use, and overlapping faults of the same kind are errors. Every error is
//! one line naming the file, the line and the key, so `ppsd simulate` can print it and exit 2.
//! This module never panics on any input.

use serde::Deserialize;
use std::fmt;
use std::path::Path;
use toml::Spanned;

use super::fault::Fault;
use super::oscillator::OscillatorConfig;
use super::pps::PpsNoise;
use super::tod::TodConfig;
use crate::engine::EngineConfig;
use crate::time::NANOS_PER_SEC;

mod faults;
mod utc;
pub use utc::parse_utc;

/// Longest run a scenario may ask for, s (the report keeps one f64 per second).
pub const MAX_DURATION_S: i64 = 10_000_000;

/// A scenario that could not be loaded: one line, `FILE:LINE: KEY: what is wrong`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file.
    pub file: String,
    /// 1-based line, when the error has a place in the file.
    pub line: Option<usize>,
    /// The key concerned, when there is one.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// A validated scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The file it came from, as given.
    pub path: String,
    /// Length of the run, s.
    pub duration_s: i64,
    /// Seed of every random draw.
    pub seed: u64,
    /// Unix ns at the start of the run (`start_utc`).
    pub start_unix_ns: i64,
    /// Initial offset of the clock from UTC, ns.
    pub initial_offset_ns: i64,
    /// The oscillator.
    pub oscillator: OscillatorConfig,
    /// PPS capture noise.
    pub pps: PpsNoise,
    /// Time-of-day reference.
    pub tod: TodConfig,
    /// The engine's settings.
    pub engine: EngineConfig,
    /// Faults, in file order.
    pub faults: Vec<Fault>,
}

type Num = Option<Spanned<f64>>;
type Int = Option<Spanned<i64>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    duration_s: Spanned<f64>,
    seed: Int,
    start_utc: Option<Spanned<String>>,
    #[serde(default)]
    clock: RawClock,
    #[serde(default)]
    pps: RawPps,
    #[serde(default)]
    tod: RawTod,
    #[serde(default)]
    trust: RawTrust,
    #[serde(default)]
    engine: RawEngine,
    #[serde(default)]
    fault: Vec<RawFault>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClock {
    initial_offset_ns: Int,
    freq_ppm: Num,
    wander_ppb_per_sqrt_s: Num,
    temp_amplitude_ppb: Num,
    temp_period_s: Num,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPps {
    jitter_ns: Num,
    bias_ns: Num,
    sawtooth_ns: Num,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTod {
    jitter_ns: Num,
    interval_s: Int,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrust {
    declared_accuracy_ns: Int,
    static_uncertainty_ns: Int,
    k_sigma: Num,
    drift_bound_ppb_per_s: Num,
    warn_fraction: Num,
    lifetime_ms: Int,
    recover_pulses: Int,
    holdover_horizon_s: Int,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEngine {
    delay_ns: Int,
    step_threshold_ns: Int,
    pulse_window_ns: Int,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFault {
    kind: Spanned<String>,
    start_s: Spanned<f64>,
    duration_s: Num,
    offset_ns: Int,
    step_ns: Int,
    freq_ppm: Num,
    offset_s: Int,
    sign: Int,
}

/// Reads and validates the scenario at `path`.
///
/// # Errors
/// A [`ScenarioError`] naming the file, line and key.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: file.clone(),
        line: None,
        key: None,
        message: format!("cannot read scenario: {e}"),
    })?;
    parse(&file, &text)
}

/// Parses and validates scenario `text`; `file` names it in errors.
///
/// # Errors
/// A [`ScenarioError`] naming the file, line and key.
pub fn parse(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
    let cx = Cx { file, text };
    let raw: Raw = toml::from_str(text).map_err(|e| cx.toml_error(&e))?;
    cx.build(raw)
}

/// Context for errors: the file name and its text (to turn byte spans into lines).
struct Cx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Cx<'_> {
    fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    fn err(&self, span: Option<std::ops::Range<usize>>, key: &str, msg: String) -> ScenarioError {
        ScenarioError {
            file: self.file.to_string(),
            line: span.map(|s| self.line_of(s.start)),
            key: Some(key.to_string()),
            message: msg,
        }
    }

    fn toml_error(&self, e: &toml::de::Error) -> ScenarioError {
        let message = e.message().replace('\n', "; ");
        let line = e.span().map(|s| self.line_of(s.start));
        // The key: quoted in the message (unknown or missing field), else the line's own key.
        let quoted = message.split('`').nth(1).map(str::to_string);
        let from_line = line.and_then(|l| {
            let text = self.text.lines().nth(l - 1)?;
            let (key, _) = text.split_once('=')?;
            let key = key.trim();
            (!key.is_empty() && !key.starts_with('[')).then(|| key.to_string())
        });
        let key = match (quoted, from_line) {
            (Some(q), _) if message.contains("field") => q,
            (_, Some(k)) => k,
            (Some(q), None) => q,
            (None, None) => "(syntax)".to_string(),
        };
        ScenarioError {
            file: self.file.to_string(),
            line: Some(line.unwrap_or(1)),
            key: Some(key),
            message,
        }
    }

    /// A number with a default and an allowed range.
    fn num(
        &self,
        v: &Num,
        key: &str,
        default: f64,
        lo: f64,
        hi: f64,
    ) -> Result<f64, ScenarioError> {
        let Some(v) = v else { return Ok(default) };
        let x = *v.get_ref();
        if !x.is_finite() || x < lo || x > hi {
            let msg = format!("must be between {lo} and {hi}, got {x}");
            return Err(self.err(Some(v.span()), key, msg));
        }
        Ok(x)
    }

    fn int(
        &self,
        v: &Int,
        key: &str,
        default: i64,
        lo: i64,
        hi: i64,
    ) -> Result<i64, ScenarioError> {
        let Some(v) = v else { return Ok(default) };
        let x = *v.get_ref();
        if x < lo || x > hi {
            let msg = format!("must be between {lo} and {hi}, got {x}");
            return Err(self.err(Some(v.span()), key, msg));
        }
        Ok(x)
    }

    /// Seconds (possibly fractional, at least `lo`) to integer ns.
    fn seconds(&self, v: &Spanned<f64>, key: &str, lo: f64) -> Result<i64, ScenarioError> {
        let x = *v.get_ref();
        if !x.is_finite() || x < lo || x > MAX_DURATION_S as f64 {
            let what = if lo > 0.0 {
                "positive"
            } else {
                "zero or positive"
            };
            let msg = format!("must be {what} and at most {MAX_DURATION_S} s, got {x}");
            return Err(self.err(Some(v.span()), key, msg));
        }
        Ok((x * 1e9).round() as i64)
    }

    fn build(&self, raw: Raw) -> Result<Scenario, ScenarioError> {
        let duration_ns = self.seconds(&raw.duration_s, "duration_s", 1.0)?;
        if duration_ns % NANOS_PER_SEC != 0 {
            let msg = format!(
                "must be a whole number of seconds, got {}",
                raw.duration_s.get_ref()
            );
            return Err(self.err(Some(raw.duration_s.span()), "duration_s", msg));
        }
        let seed = self.int(&raw.seed, "seed", 1, 0, i64::MAX)? as u64;
        let start_unix_ns = match &raw.start_utc {
            None => parse_utc("2026-01-01T00:00:00Z").unwrap_or(0),
            Some(s) => parse_utc(s.get_ref()).ok_or_else(|| {
                let msg = format!(
                    "not a UTC time like 2026-01-01T00:00:00Z: {:?}",
                    s.get_ref()
                );
                self.err(Some(s.span()), "start_utc", msg)
            })?,
        };
        let c = &raw.clock;
        let oscillator = OscillatorConfig {
            freq_ppm: self.num(&c.freq_ppm, "clock.freq_ppm", 0.0, -1000.0, 1000.0)?,
            wander_ppb_per_sqrt_s: self.num(
                &c.wander_ppb_per_sqrt_s,
                "clock.wander_ppb_per_sqrt_s",
                0.0,
                0.0,
                1e4,
            )?,
            temp_amplitude_ppb: self.num(
                &c.temp_amplitude_ppb,
                "clock.temp_amplitude_ppb",
                0.0,
                0.0,
                1e5,
            )?,
            temp_period_s: self.num(&c.temp_period_s, "clock.temp_period_s", 86_400.0, 1.0, 1e9)?,
        };
        let initial_offset_ns = self.int(
            &c.initial_offset_ns,
            "clock.initial_offset_ns",
            0,
            -1_000_000 * NANOS_PER_SEC,
            1_000_000 * NANOS_PER_SEC,
        )?;
        let p = &raw.pps;
        let pps = PpsNoise {
            jitter_ns: self.num(&p.jitter_ns, "pps.jitter_ns", 100.0, 0.0, 1e8)?,
            bias_ns: self.num(&p.bias_ns, "pps.bias_ns", 0.0, -1e8, 1e8)?,
            sawtooth_ns: self.num(&p.sawtooth_ns, "pps.sawtooth_ns", 0.0, 0.0, 1e8)?,
        };
        let tod = TodConfig {
            jitter_ns: self.num(&raw.tod.jitter_ns, "tod.jitter_ns", 1e6, 0.0, 1e8)?,
            interval_s: self.int(&raw.tod.interval_s, "tod.interval_s", 16, 1, 86_400)?,
        };
        let engine = self.engine(&raw)?;
        let duration_s = duration_ns / NANOS_PER_SEC;
        let faults = self.faults(&raw.fault, duration_ns)?;
        Ok(Scenario {
            path: self.file.to_string(),
            duration_s,
            seed,
            start_unix_ns,
            initial_offset_ns,
            oscillator,
            pps,
            tod,
            engine,
            faults,
        })
    }

    fn engine(&self, raw: &Raw) -> Result<EngineConfig, ScenarioError> {
        let mut e = EngineConfig::default();
        let t = &raw.trust;
        let tr = &mut e.trust;
        // The ranges here only keep the arithmetic sane; TrustConfig::validate (shared with
        // the daemon's configuration) decides what is acceptable.
        let big = i64::MAX / 1_000_000_000;
        tr.declared_accuracy_ns = self.int(
            &t.declared_accuracy_ns,
            "trust.declared_accuracy_ns",
            tr.declared_accuracy_ns,
            i64::MIN,
            i64::MAX,
        )?;
        tr.static_uncertainty_ns = self.int(
            &t.static_uncertainty_ns,
            "trust.static_uncertainty_ns",
            0,
            i64::MIN,
            i64::MAX,
        )?;
        tr.k_sigma = self.num(&t.k_sigma, "trust.k_sigma", tr.k_sigma, -1e9, 1e9)?;
        tr.drift_bound_ppb_per_s = self.num(
            &t.drift_bound_ppb_per_s,
            "trust.drift_bound_ppb_per_s",
            tr.drift_bound_ppb_per_s,
            -1e12,
            1e12,
        )?;
        tr.warn_fraction = self.num(
            &t.warn_fraction,
            "trust.warn_fraction",
            tr.warn_fraction,
            -1e9,
            1e9,
        )?;
        let lifetime_ms = tr.lifetime_ns / 1_000_000;
        tr.lifetime_ns =
            self.int(&t.lifetime_ms, "trust.lifetime_ms", lifetime_ms, -big, big)? * 1_000_000;
        let pulses = i64::from(tr.recover_pulses);
        tr.recover_pulses = self.int(
            &t.recover_pulses,
            "trust.recover_pulses",
            pulses,
            0,
            1 << 31,
        )? as u32;
        let horizon_s = tr.holdover_horizon_ns / NANOS_PER_SEC;
        tr.holdover_horizon_ns = self.int(
            &t.holdover_horizon_s,
            "trust.holdover_horizon_s",
            horizon_s,
            -big,
            big,
        )? * NANOS_PER_SEC;
        if let Err(e) = tr.validate() {
            return Err(self.trust_error(t, e));
        }
        let g = &raw.engine;
        e.delay_ns = self.int(&g.delay_ns, "engine.delay_ns", 0, -100_000_000, 100_000_000)?;
        e.servo.step_threshold_ns = self.int(
            &g.step_threshold_ns,
            "engine.step_threshold_ns",
            e.servo.step_threshold_ns,
            0,
            NANOS_PER_SEC,
        )?;
        e.pulse_window_ns = self.int(
            &g.pulse_window_ns,
            "engine.pulse_window_ns",
            e.pulse_window_ns,
            1_000,
            400_000_000,
        )?;
        Ok(e)
    }

    /// A trust setting refused by [`crate::engine::TrustConfig::validate`], placed at its key.
    fn trust_error(&self, t: &RawTrust, e: crate::engine::trust::ConfigError) -> ScenarioError {
        let span = match e.key {
            "declared_accuracy_ns" => t.declared_accuracy_ns.as_ref().map(|v| v.span()),
            "static_uncertainty_ns" => t.static_uncertainty_ns.as_ref().map(|v| v.span()),
            "k_sigma" => t.k_sigma.as_ref().map(|v| v.span()),
            "drift_bound_ppb_per_s" => t.drift_bound_ppb_per_s.as_ref().map(|v| v.span()),
            "warn_fraction" => t.warn_fraction.as_ref().map(|v| v.span()),
            "lifetime_ms" => t.lifetime_ms.as_ref().map(|v| v.span()),
            "recover_pulses" => t.recover_pulses.as_ref().map(|v| v.span()),
            "holdover_horizon_s" => t.holdover_horizon_s.as_ref().map(|v| v.span()),
            _ => None,
        };
        self.err(span, &format!("trust.{}", e.key), e.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_what_is_missing() {
        let s = parse("x.toml", "duration_s = 100\n").unwrap();
        assert_eq!((s.duration_s, s.seed, s.tod.interval_s), (100, 1, 16));
        assert_eq!(s.pps.jitter_ns, 100.0);
        assert_eq!(s.engine.trust.declared_accuracy_ns, 1_000_000);
    }
}
