//! `kernel-guest probe-check`: checks what `ppsd probe` printed on the real `/dev/pps0`
//! against the pulse generator's log, and measures the timestamp jitter TCG allows.
//!
//! Checks: probe exited 0 and named the assert capability; exactly `--count` pulse lines;
//! sequence numbers rising by one; the probe's printed deviation equal to the one computed
//! here from its timestamps; every interval within `--max-interval-error-us` of the
//! generator's period; every pulse matched to exactly one generator write that it followed
//! by no more than `--max-latency-us`. Parsing and arithmetic are pure functions on text, in
//! integer nanoseconds; `f64` only for the spread of small differences. It never touches a
//! device or a clock, so it may run anywhere.

use crate::report::{ensure, us, Report};
use ppsd::time::{Timestamp, NANOS_PER_SEC};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `kernel-guest probe-check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What `ppsd probe` printed on stdout.
    #[arg(long)]
    pub probe_out: PathBuf,
    /// What `kernel-guest pulse` printed.
    #[arg(long)]
    pub pulse_log: PathBuf,
    /// The probe's exit code.
    #[arg(long)]
    pub exit_code: i32,
    /// Pulse lines the probe must have printed.
    #[arg(long)]
    pub count: usize,
    /// Largest allowed |interval − generator period|, µs.
    #[arg(long)]
    pub max_interval_error_us: i64,
    /// Largest allowed time from the generator's write to the kernel's timestamp, µs.
    #[arg(long)]
    pub max_latency_us: i64,
}

/// One pulse line of `ppsd probe`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbePulse {
    /// Assert sequence number.
    pub seq: u32,
    /// Assert timestamp.
    pub assert: Timestamp,
    /// The deviation the probe printed, absent on the first line.
    pub deviation_ns: Option<i64>,
}

/// One fired pulse of the generator's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenPulse {
    /// Pulse index in the schedule.
    pub k: u64,
    /// When it was due on the raw clock.
    pub target_raw_ns: i64,
    /// Raw clock just before the interrupt-raising write.
    pub raw_ns: i64,
    /// CLOCK_REALTIME just before that write.
    pub rt_before_ns: i64,
    /// CLOCK_REALTIME just after it.
    pub rt_after_ns: i64,
}

/// The generator's log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GenLog {
    /// Raw-clock period of the train.
    pub period_ns: i64,
    /// Fired pulses in order.
    pub pulses: Vec<GenPulse>,
    /// Indices skipped because the generator woke too late.
    pub missed: Vec<u64>,
    /// Pulses fired, from the `stop` line of a generator that was stopped or finished.
    pub stopped: Option<i64>,
}

/// Minimum, maximum, mean and standard deviation of small differences.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// Smallest value.
    pub min: i64,
    /// Largest value.
    pub max: i64,
    /// Mean.
    pub mean: f64,
    /// Standard deviation about the mean.
    pub sd: f64,
}

impl Spread {
    /// The spread of `values`; `None` when empty.
    pub fn of(values: &[i64]) -> Option<Spread> {
        let n = values.len() as f64;
        let min = *values.iter().min()?;
        let max = *values.iter().max()?;
        let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = values
            .iter()
            .map(|&v| (v as f64 - mean).powi(2))
            .sum::<f64>()
            / n;
        Some(Spread {
            min,
            max,
            mean,
            sd: var.sqrt(),
        })
    }
}

/// Parses `[-]S.NNNNNNNNN` (nine fraction digits, as ppsd prints a [`Timestamp`]: the sign
/// applies to the whole value).
pub fn parse_timestamp(text: &str) -> Result<Timestamp, String> {
    let bad = || format!("`{text}` is not a timestamp S.NNNNNNNNN");
    let (negative, body) = match text.strip_prefix('-') {
        Some(body) => (true, body),
        None => (false, text),
    };
    let (sec, frac) = body.split_once('.').ok_or_else(bad)?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if frac.len() != 9 || !digits(frac) || !digits(sec) {
        return Err(bad());
    }
    let sec: i64 = sec.parse().map_err(|_| bad())?;
    let nsec: i64 = frac.parse().map_err(|_| bad())?;
    let magnitude = Timestamp::new(sec, nsec);
    Ok(if negative {
        Timestamp::from_ns(-magnitude.as_ns())
    } else {
        magnitude
    })
}

/// The text between `start` and the next `end` after it in `line`.
fn between<'a>(line: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &line[line.find(start)? + start.len()..];
    Some(rest.find(end).map_or(rest, |i| &rest[..i]))
}

/// The capability line and the pulse lines of `ppsd probe` output.
///
/// # Errors
/// A pulse line that does not parse, naming its line number.
pub fn parse_probe(text: &str) -> Result<(Option<String>, Vec<ProbePulse>), String> {
    let mut caps = None;
    let mut pulses = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let where_ = || format!("probe output line {}: `{line}`", i + 1);
        if line.contains(": capabilities ") {
            caps = Some(line.to_owned());
        }
        if !line.starts_with("source 0 - assert ") {
            continue;
        }
        let assert = between(line, "assert ", ",").ok_or_else(where_)?;
        let assert = parse_timestamp(assert).map_err(|e| format!("{}: {e}", where_()))?;
        let seq = between(line, "sequence: ", " ")
            .and_then(|s| s.parse().ok())
            .ok_or_else(where_)?;
        let deviation_ns = match between(line, "deviation: ", " ns") {
            None => None,
            Some(d) => Some(d.parse().map_err(|_| where_())?),
        };
        pulses.push(ProbePulse {
            seq,
            assert,
            deviation_ns,
        });
    }
    Ok((caps, pulses))
}

/// The integer value of `key=` among `fields`.
fn field(fields: &[&str], key: &str) -> Option<i64> {
    fields
        .iter()
        .find_map(|f| f.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

/// Parses the generator's log.
///
/// # Errors
/// A malformed line or a missing `start` line, naming the line.
pub fn parse_pulse_log(text: &str) -> Result<GenLog, String> {
    let mut log = GenLog::default();
    for (i, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let bad = || format!("pulse log line {}: `{line}`", i + 1);
        let get = |key| field(&fields, key).ok_or_else(bad);
        match fields.first() {
            Some(&"start") => log.period_ns = get("period_ns")?,
            Some(&"pulse") => log.pulses.push(GenPulse {
                k: u64::try_from(get("k")?).map_err(|_| bad())?,
                target_raw_ns: get("target_raw_ns")?,
                raw_ns: get("raw_ns")?,
                rt_before_ns: get("rt_before_ns")?,
                rt_after_ns: get("rt_after_ns")?,
            }),
            Some(&"missed") => log
                .missed
                .push(u64::try_from(get("k")?).map_err(|_| bad())?),
            Some(&"stop") => log.stopped = Some(get("fired")?),
            _ => return Err(bad()),
        }
    }
    if log.period_ns == 0 {
        return Err("pulse log has no `start` line".into());
    }
    Ok(log)
}

/// For each probe pulse, the time from the one generator write it followed by at most
/// `max_ns` to its timestamp.
///
/// # Errors
/// A pulse with no such write (spurious, or stamped too late) or with more than one.
pub fn latencies(pulses: &[ProbePulse], gen: &GenLog, max_ns: i64) -> Result<Vec<i64>, String> {
    pulses
        .iter()
        .map(|p| {
            let at = p.assert.as_ns();
            let mut hits = gen
                .pulses
                .iter()
                .map(|g| at - g.rt_before_ns)
                .filter(|d| (0..=max_ns).contains(d));
            match (hits.next(), hits.next()) {
                (Some(d), None) => Ok(d),
                (None, _) => Err(format!(
                    "pulse seq {} at {} follows no generator write by 0..={}",
                    p.seq,
                    p.assert,
                    us(max_ns)
                )),
                (Some(_), Some(_)) => Err(format!("pulse seq {} matches two writes", p.seq)),
            }
        })
        .collect()
}

/// Runs the checks and prints them.
pub fn run(args: &Args) -> ExitCode {
    let mut report = Report::new();
    let read =
        |p: &PathBuf| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    let parsed = read(&args.probe_out)
        .and_then(|t| parse_probe(&t))
        .and_then(|p| Ok((p, read(&args.pulse_log).and_then(|t| parse_pulse_log(&t))?)));
    match parsed {
        Ok(((caps, pulses), gen)) => check(&mut report, args, caps, &pulses, &gen),
        Err(e) => report.check("probe.parse", Err(e)),
    }
    report.exit_code()
}

fn check(r: &mut Report, args: &Args, caps: Option<String>, p: &[ProbePulse], gen: &GenLog) {
    r.check(
        "probe.exit",
        ensure(args.exit_code == 0, || {
            format!("exit code {}", args.exit_code)
        })
        .map(|()| "exit code 0".into()),
    );
    r.check(
        "probe.caps",
        match caps {
            Some(c) if c.contains("CAPTUREASSERT") => Ok(c),
            Some(c) => Err(format!("no CAPTUREASSERT in `{c}`")),
            None => Err("no capabilities line".into()),
        },
    );
    r.check(
        "probe.count",
        ensure(p.len() == args.count, || {
            format!("{} pulse lines, want {}", p.len(), args.count)
        })
        .map(|()| format!("{} pulse lines", p.len())),
    );
    let seqs: Vec<u32> = p.iter().map(|x| x.seq).collect();
    r.check(
        "probe.sequence",
        ensure(
            seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
            || format!("sequence numbers {seqs:?}"),
        )
        .map(|()| format!("{:?}..={:?} step 1", seqs.first(), seqs.last())),
    );
    let intervals: Vec<i64> = p
        .windows(2)
        .map(|w| w[1].assert.diff_ns(w[0].assert))
        .collect();
    let printed: Vec<Option<i64>> = p.iter().skip(1).map(|x| x.deviation_ns).collect();
    let computed: Vec<Option<i64>> = intervals.iter().map(|i| Some(i - NANOS_PER_SEC)).collect();
    r.check(
        "probe.deviation_text",
        ensure(
            printed == computed && p.first().is_some_and(|x| x.deviation_ns.is_none()),
            || format!("printed {printed:?}, computed {computed:?}"),
        )
        .map(|()| format!("{} deviations as computed", printed.len())),
    );
    let errors: Vec<i64> = intervals.iter().map(|i| i - gen.period_ns).collect();
    let tol = args.max_interval_error_us * 1_000;
    match Spread::of(&errors) {
        Some(s) => {
            r.measure("probe.interval_error_min", s.min, "ns");
            r.measure("probe.interval_error_max", s.max, "ns");
            r.measure("probe.interval_error_sd", format!("{:.0}", s.sd), "ns");
            r.check(
                "probe.interval",
                ensure(s.min >= -tol && s.max <= tol, || {
                    format!(
                        "interval − period in {}..{}, allowed ±{}",
                        us(s.min),
                        us(s.max),
                        us(tol)
                    )
                })
                .map(|()| {
                    format!(
                        "interval − period {:.1} ppm train: {}..{} (sd {:.1} µs)",
                        (gen.period_ns - NANOS_PER_SEC) as f64 / 1_000.0,
                        us(s.min),
                        us(s.max),
                        s.sd / 1_000.0
                    )
                }),
            );
        }
        None => r.check("probe.interval", Err("fewer than two pulses".into())),
    }
    check_latency(r, args, p, gen);
}

fn check_latency(r: &mut Report, args: &Args, p: &[ProbePulse], gen: &GenLog) {
    let late: Vec<i64> = gen
        .pulses
        .iter()
        .map(|g| g.raw_ns - g.target_raw_ns)
        .collect();
    if let Some(s) = Spread::of(&late) {
        r.measure("pulse.write_late_max", s.max, "ns");
        r.measure("pulse.write_late_mean", format!("{:.0}", s.mean), "ns");
    }
    r.measure("pulse.missed", gen.missed.len(), "pulses");
    match latencies(p, gen, args.max_latency_us * 1_000) {
        Ok(lat) => {
            let mut sorted = lat.clone();
            sorted.sort_unstable();
            if let Some(s) = Spread::of(&lat) {
                r.measure("probe.latency_min", s.min, "ns");
                r.measure("probe.latency_median", sorted[sorted.len() / 2], "ns");
                r.measure("probe.latency_max", s.max, "ns");
                r.measure("probe.latency_sd", format!("{:.0}", s.sd), "ns");
                r.check(
                    "probe.latency",
                    Ok(format!(
                        "{} pulses each stamped {}..{} after its write",
                        lat.len(),
                        us(s.min),
                        us(s.max)
                    )),
                );
            } else {
                r.check("probe.latency", Err("no pulses".into()));
            }
        }
        Err(e) => r.check("probe.latency", Err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROBE: &str = "\
/dev/pps0: capabilities 0x1133: CAPTUREASSERT CAPTURECLEAR OFFSETASSERT OFFSETCLEAR CANWAIT TSFMT_TSPEC
/dev/pps0: mode 0x1013: CAPTUREASSERT CAPTURECLEAR OFFSETASSERT TSFMT_TSPEC; api 1; offsets assert +0 ns, clear +0 ns
source 0 - assert 1700000000.000050000, sequence: 2 - clear  0.000000000, sequence: 0 - assert interval: -
source 0 - assert 1700000001.000090000, sequence: 3 - clear  0.000000000, sequence: 0 - assert interval: 1.000040000 s, deviation: +40000 ns
";

    const LOG: &str = "\
start ppm=20 period_ns=1000020000 first_raw_ns=77
pulse k=0 target_raw_ns=100 raw_ns=110 rt_before_ns=1700000000000000000 rt_after_ns=1700000000000070000
pulse k=1 target_raw_ns=1000020100 raw_ns=1000020150 rt_before_ns=1700000001000020000 rt_after_ns=1700000001000100000
";

    #[test]
    fn probe_lines_parse_to_integer_timestamps() {
        let (caps, p) = parse_probe(PROBE).unwrap();
        assert!(caps.unwrap().contains("CAPTUREASSERT"));
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].assert, Timestamp::new(1_700_000_000, 50_000));
        assert_eq!((p[0].seq, p[0].deviation_ns), (2, None));
        assert_eq!((p[1].seq, p[1].deviation_ns), (3, Some(40_000)));
        let bad = "source 0 - assert 1700000000.5, sequence: 2 - clear";
        assert!(parse_probe(bad).unwrap_err().contains("line 1"));
    }

    #[test]
    fn pulse_log_parses_and_needs_its_start_line() {
        let text = format!("{LOG}missed k=2 late_ns=600000000\nstop fired=2\n");
        let log = parse_pulse_log(&text).unwrap();
        assert_eq!(log.stopped, Some(2));
        assert_eq!(log.period_ns, 1_000_020_000);
        assert_eq!(log.pulses[1].k, 1);
        assert_eq!(log.pulses[1].rt_before_ns, 1_700_000_001_000_020_000);
        assert_eq!(log.missed, vec![2]);
        assert!(parse_pulse_log("pulse k=0").unwrap_err().contains("line 1"));
        assert!(parse_pulse_log("").unwrap_err().contains("start"));
        assert!(parse_pulse_log("start period_ns=1\nstop")
            .unwrap_err()
            .contains("line 2"));
    }

    #[test]
    fn each_pulse_matches_exactly_one_write_before_it() {
        let (_, p) = parse_probe(PROBE).unwrap();
        let log = parse_pulse_log(LOG).unwrap();
        assert_eq!(
            latencies(&p, &log, 1_000_000).unwrap(),
            vec![50_000, 70_000]
        );
        // A pulse stamped before any write, or too long after, is not ours.
        assert!(latencies(&p, &log, 60_000).unwrap_err().contains("seq 3"));
        let early = [ProbePulse {
            seq: 9,
            assert: Timestamp::new(1_699_999_999, 0),
            deviation_ns: None,
        }];
        assert!(latencies(&early, &log, 1_000_000).is_err());
    }

    #[test]
    fn spread_of_small_differences() {
        let s = Spread::of(&[-2, 0, 2]).unwrap();
        assert_eq!((s.min, s.max), (-2, 2));
        assert!(s.mean.abs() < 1e-12 && (s.sd - (8.0_f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!(Spread::of(&[]).is_none());
    }

    #[test]
    fn timestamps_need_nine_fraction_digits() {
        assert_eq!(parse_timestamp("-0.000000001").unwrap().as_ns(), -1);
        let t = Timestamp::new(-2, 1);
        assert_eq!(parse_timestamp(&t.to_string()).unwrap(), t);
        assert_eq!(
            parse_timestamp("12.000000003").unwrap(),
            Timestamp::new(12, 3)
        );
        assert!(parse_timestamp("1.5").is_err());
        assert!(parse_timestamp("x.000000000").is_err());
    }
}
