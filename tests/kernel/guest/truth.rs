//! The guest's true time: the generator's pulse schedule read back from its log, so checks can
//! say how far CLOCK_REALTIME is from the time the pulses mark at any instant of
//! CLOCK_MONOTONIC_RAW (the generator's oscillator, which nothing adjusts).
//!
//! Pure parsing and arithmetic; it never reads a clock itself. Absolute times are integer ns.

use crate::pulse::{Labels, Schedule};
use ppsd::time::NANOS_PER_SEC;

/// One fired pulse as the generator logged it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fired {
    /// Pulse number.
    pub k: u64,
    /// CLOCK_MONOTONIC_RAW when it was due.
    pub target_raw_ns: i64,
    /// CLOCK_MONOTONIC_RAW just before the port write.
    pub raw_ns: i64,
    /// CLOCK_REALTIME just before the port write.
    pub rt_before_ns: i64,
    /// The UTC second it marks (POSIX).
    pub label_s: i64,
}

impl Fired {
    /// CLOCK_REALTIME minus the true time at this pulse, ns: the clock's error as the pulse
    /// marks it (the write's lateness after the schedule taken out).
    pub fn clock_error_ns(&self) -> i64 {
        let late = self.raw_ns - self.target_raw_ns;
        self.rt_before_ns - late - self.label_s * NANOS_PER_SEC
    }
}

/// The generator's schedule and labels, and the pulses it fired.
#[derive(Clone, Debug, PartialEq)]
pub struct Truth {
    /// When each pulse was due.
    pub schedule: Schedule,
    /// Which second each pulse marks.
    pub labels: Labels,
    /// The pulses fired, in order.
    pub fired: Vec<Fired>,
}

fn field<T: std::str::FromStr>(fields: &[&str], key: &str) -> Option<T> {
    fields
        .iter()
        .find_map(|f| f.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

impl Truth {
    /// Parses `kernel-guest pulse` output; `leap_insert_at` as given to the generator.
    ///
    /// # Errors
    /// No `start` line with the schedule and first label, or a `pulse` line lacking a field,
    /// naming the line.
    pub fn parse(text: &str, leap_insert_at: Option<i64>) -> Result<Truth, String> {
        let mut start = None;
        let mut fired = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.first() {
                Some(&"start") => {
                    let (Some(period_ns), Some(first_raw_ns), Some(first_s)) = (
                        field(&fields, "period_ns"),
                        field(&fields, "first_raw_ns"),
                        field(&fields, "first_label_s"),
                    ) else {
                        return Err(format!("pulse log line {}: incomplete start line", i + 1));
                    };
                    start = Some((
                        Schedule {
                            first_raw_ns,
                            period_ns,
                        },
                        first_s,
                    ));
                }
                Some(&"pulse") => {
                    let f = (|| {
                        Some(Fired {
                            k: field(&fields, "k")?,
                            target_raw_ns: field(&fields, "target_raw_ns")?,
                            raw_ns: field(&fields, "raw_ns")?,
                            rt_before_ns: field(&fields, "rt_before_ns")?,
                            label_s: field(&fields, "label_s")?,
                        })
                    })()
                    .ok_or_else(|| format!("pulse log line {}: incomplete pulse line", i + 1))?;
                    fired.push(f);
                }
                _ => {}
            }
        }
        let (schedule, first_s) = start.ok_or("pulse log: no start line")?;
        if schedule.period_ns <= 0 {
            return Err("pulse log: period_ns must be positive".into());
        }
        Ok(Truth {
            schedule,
            labels: Labels {
                first_s,
                leap_insert_at,
            },
            fired,
        })
    }

    /// Pulse number and the ns since it was due, at raw-clock time `raw_ns` (pulse numbers
    /// before the first are negative).
    fn position(&self, raw_ns: i64) -> (i64, i64) {
        let since = raw_ns - self.schedule.first_raw_ns;
        let k = since.div_euclid(self.schedule.period_ns);
        (k, since - k * self.schedule.period_ns)
    }

    /// True UTC (POSIX ns, the inserted second sharing its number with the one before) at
    /// raw-clock time `raw_ns`, following the schedule also before the first and after the
    /// last pulse fired.
    pub fn utc_ns(&self, raw_ns: i64) -> i64 {
        let (k, into) = self.position(raw_ns);
        let n = self.labels.first_s + k;
        let label = match self.labels.leap_insert_at {
            Some(m) if n >= m => n - 1,
            _ => n,
        };
        let frac = (i128::from(into) * i128::from(NANOS_PER_SEC)
            / i128::from(self.schedule.period_ns)) as i64;
        label * NANOS_PER_SEC + frac
    }

    /// True when `raw_ns` is within `margin_ns` of a second the leap makes ambiguous (the start
    /// of the inserted second or of the one after it), where a clock a few µs off reads a
    /// whole second away from the truth for those µs.
    pub fn near_leap_edge(&self, raw_ns: i64, margin_ns: i64) -> bool {
        let Some(m) = self.labels.leap_insert_at else {
            return false;
        };
        let (k, into) = self.position(raw_ns);
        let n = self.labels.first_s + k;
        let close_after = into < margin_ns;
        let close_before = self.schedule.period_ns - into < margin_ns;
        (close_after && (n == m || n == m + 1)) || (close_before && (n == m - 1 || n == m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "start ppm=20 period_ns=1000020000 first_raw_ns=5000000000 first_label_s=1700000000
pulse k=0 target_raw_ns=5000000000 raw_ns=5000004000 rt_before_ns=1700000000000003000 rt_after_ns=1 label_s=1700000000
missed k=1 late_ns=600000000
pulse k=2 target_raw_ns=7000040000 raw_ns=7000044000 rt_before_ns=1700000002000006000 rt_after_ns=1 label_s=1700000002
stop fired=2
";

    #[test]
    fn pulses_and_true_time_come_from_the_log() {
        let t = Truth::parse(LOG, None).unwrap();
        assert_eq!(t.fired.len(), 2);
        assert_eq!(t.fired[0].clock_error_ns(), -1_000);
        assert_eq!(t.fired[1].clock_error_ns(), 2_000);
        assert_eq!(t.utc_ns(5_000_000_000), 1_700_000_000 * NANOS_PER_SEC);
        // Half a period after pulse 2, and one period before pulse 0.
        assert_eq!(
            t.utc_ns(7_000_040_000 + 500_010_000),
            1_700_000_002 * NANOS_PER_SEC + 500_000_000
        );
        assert_eq!(
            t.utc_ns(5_000_000_000 - 1_000_020_000),
            1_699_999_999 * NANOS_PER_SEC
        );
        assert!(Truth::parse("pulse k=0", None).is_err());
        assert!(Truth::parse("start ppm=1 period_ns=1", None).is_err());
    }

    #[test]
    fn the_inserted_second_repeats_the_one_before() {
        let t = Truth::parse(LOG, Some(1_700_000_002)).unwrap();
        // Pulse 2 is the inserted second: 1_700_000_001 again, as the kernel shows it.
        assert_eq!(t.utc_ns(7_000_040_000), 1_700_000_001 * NANOS_PER_SEC);
        assert_eq!(t.utc_ns(8_000_060_000), 1_700_000_002 * NANOS_PER_SEC);
        assert!(t.near_leap_edge(7_000_040_000 + 1_000, 5_000_000));
        assert!(t.near_leap_edge(7_000_040_000 - 1_000, 5_000_000));
        assert!(!t.near_leap_edge(7_000_040_000 + 500_000_000, 5_000_000));
        assert!(!t.near_leap_edge(5_000_000_000, 5_000_000));
    }
}
