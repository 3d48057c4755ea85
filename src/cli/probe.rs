//! `ppsd probe DEVICE`: prints a PPS device's capabilities and settings, then one line per
//! new pulse until `--count` pulses or Ctrl-C (the default SIGINT action ends it).
//!
//! Each pulse line starts as `ppstest` from pps-tools prints it, so operators recognise it,
//! and adds the interval since the previous pulse on the chosen edge and that interval's
//! deviation from a whole number of seconds, in integer nanoseconds:
//!
//! ```text
//! source 0 - assert 1700000000.000000123, sequence: 42 - clear  0.000000000, sequence: 0 - assert interval: 1.000000012 s, deviation: +12 ns
//! ```
//!
//! Unlike `ppstest`, probe changes no device setting unless `--set-edge` asks it to
//! (`PPS_SETPARAMS`, which needs CAP_SYS_TIME and changes the device for every user).
//! It never panics on bad input: a path that is not a usable PPS device gives one line on
//! stderr and exit code 2; a device failure at run time gives exit code 1.

use crate::io::{DeviceError, DeviceErrorCause, Edge, PpsFetch, PulseSource};
use crate::sys::pps::{PpsDevice, PpsMode, PpsParams};
use crate::time::{Timestamp, NANOS_PER_SEC};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `ppsd probe`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Runs until --count pulses or Ctrl-C. Exit codes: 0 done, \
1 device failure, 2 bad arguments or a path that is not a usable PPS device."
)]
pub struct Args {
    /// PPS device, e.g. /dev/pps0.
    pub device: PathBuf,
    /// Stop after this many pulses (default: run until Ctrl-C).
    #[arg(long, short = 'n', value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Seconds each fetch waits for a pulse before saying none came (decimal, 0 < SECS <= 3600).
    #[arg(long, value_name = "SECS", default_value = "3", value_parser = parse_timeout)]
    pub timeout: Duration,
    /// Edge whose interval and deviation are reported.
    #[arg(long, value_enum, default_value_t = EdgeArg::Assert)]
    pub edge: EdgeArg,
    /// Set the device to capture these edges first (PPS_SETPARAMS; needs CAP_SYS_TIME and
    /// changes the device for every user). Without it probe changes no setting.
    #[arg(long, value_enum, value_name = "EDGES")]
    pub set_edge: Option<SetEdge>,
}

/// An edge, as a command-line value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EdgeArg {
    /// The assert edge.
    Assert,
    /// The clear edge.
    Clear,
}

impl From<EdgeArg> for Edge {
    fn from(e: EdgeArg) -> Edge {
        match e {
            EdgeArg::Assert => Edge::Assert,
            EdgeArg::Clear => Edge::Clear,
        }
    }
}

/// Which edges `--set-edge` captures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SetEdge {
    /// Assert edges only.
    Assert,
    /// Clear edges only.
    Clear,
    /// Both edges.
    Both,
}

impl SetEdge {
    fn mode(self) -> PpsMode {
        match self {
            SetEdge::Assert => PpsMode::CAPTUREASSERT,
            SetEdge::Clear => PpsMode::CAPTURECLEAR,
            SetEdge::Both => PpsMode::CAPTUREASSERT | PpsMode::CAPTURECLEAR,
        }
    }
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !(secs > 0.0 && secs <= 3600.0) {
        return Err(format!("{s} s is outside 0 < SECS <= 3600"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Runs `ppsd probe`.
pub fn run(args: &Args) -> ExitCode {
    match probe(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Device(e)) => {
            eprintln!("ppsd probe: {e}");
            ExitCode::from(if names_no_pps_device(&e) { 2 } else { 1 })
        }
        // A closed stdout (`ppsd probe ... | head -1`) ends the probe quietly.
        Err(Failure::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(Failure::Output(e)) => {
            eprintln!("ppsd probe: stdout: {e}");
            ExitCode::from(1)
        }
    }
}

enum Failure {
    Device(DeviceError),
    Output(std::io::Error),
}

impl From<DeviceError> for Failure {
    fn from(e: DeviceError) -> Failure {
        Failure::Device(e)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        Failure::Output(e)
    }
}

/// True when the error says the path does not name a usable PPS device (a usage error, exit
/// 2) rather than that a device failed (exit 1).
fn names_no_pps_device(e: &DeviceError) -> bool {
    match (&e.cause, e.op) {
        (DeviceErrorCause::Os(errno), "open") => {
            [libc::ENOENT, libc::ENOTDIR, libc::ENXIO, libc::ENODEV].contains(errno)
        }
        (DeviceErrorCause::Other(_), "open" | "PPS_GETCAP") => true,
        (DeviceErrorCause::Unsupported(_), "PPS_GETCAP") => true,
        _ => false,
    }
}

fn probe(args: &Args) -> Result<(), Failure> {
    let edge = Edge::from(args.edge);
    let dev = PpsDevice::open(&args.device)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", describe_caps(dev.path(), dev.capabilities()))?;
    dev.require_edge(edge)?;
    let mut params = dev.params()?;
    if let Some(set) = args.set_edge {
        let mode = (params.mode - (PpsMode::CAPTUREASSERT | PpsMode::CAPTURECLEAR)) | set.mode();
        dev.set_params(&PpsParams { mode, ..params })?;
        params = dev.params()?;
    }
    writeln!(out, "{}", describe_params(dev.path(), &params))?;
    if !params.mode.contains(PpsMode::capture(edge)) {
        let why = format!(
            "{} capture is off in the current mode; enable it with --set-edge",
            edge_name(edge)
        );
        return Err(
            DeviceError::new(dev.path(), "PPS_GETPARAMS", DeviceErrorCause::Other(why)).into(),
        );
    }
    out.flush()?;
    let mut dev = dev;
    let mut err = std::io::stderr();
    watch_pulses(&mut dev, edge, args.timeout, args.count, &mut out, &mut err)
}

/// Fetches from `source` and writes a line per new pulse on `edge` to `out` until `count`
/// lines (or forever). A fetch timeout is reported on `err` and waited out again; any other
/// device error ends the watch.
fn watch_pulses(
    source: &mut impl PulseSource,
    edge: Edge,
    timeout: Duration,
    count: Option<u64>,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<(), Failure> {
    let mut log = PulseLog::new(edge);
    let mut printed = 0_u64;
    while count.map_or(true, |n| printed < n) {
        match source.fetch(Some(timeout)) {
            Ok(fetch) => {
                if let Some(line) = log.line(&fetch) {
                    writeln!(out, "{line}")?;
                    out.flush()?;
                    printed += 1;
                }
            }
            // No pulse yet is worth saying, not worth stopping for: a receiver may be
            // acquiring its fix.
            Err(e) if e.is_timeout() => writeln!(err, "ppsd probe: {e}")?,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn edge_name(edge: Edge) -> &'static str {
    match edge {
        Edge::Assert => "assert",
        Edge::Clear => "clear",
    }
}

/// `"/dev/pps0: capabilities 0x1133: CAPTUREASSERT ..."`.
pub fn describe_caps(path: &str, caps: PpsMode) -> String {
    format!("{path}: capabilities {:#x}: {}", caps.bits(), caps.names())
}

/// `"/dev/pps0: mode 0x1011: CAPTUREASSERT ...; api 1; offsets assert +0 ns, clear +0 ns"`.
pub fn describe_params(path: &str, p: &PpsParams) -> String {
    format!(
        "{path}: mode {:#x}: {}; api {}; offsets assert {:+} ns, clear {:+} ns",
        p.mode.bits(),
        p.mode.names(),
        p.api_version,
        p.assert_offset_ns,
        p.clear_offset_ns
    )
}

/// Turns successive fetches into pulse lines: pure formatting and integer interval
/// arithmetic, no I/O.
#[derive(Clone, Debug)]
pub struct PulseLog {
    edge: Edge,
    prev: Option<(u32, Timestamp)>,
}

impl PulseLog {
    /// A log reporting intervals on `edge`.
    pub fn new(edge: Edge) -> PulseLog {
        PulseLog { edge, prev: None }
    }

    /// The line for `fetch`, or `None` when the chosen edge has no new event (same sequence
    /// number as before, or none ever captured).
    pub fn line(&mut self, fetch: &PpsFetch) -> Option<String> {
        let (seq, at) = match self.edge {
            Edge::Assert => (fetch.assert_seq, fetch.assert),
            Edge::Clear => (fetch.clear_seq, fetch.clear),
        };
        // The kernel numbers events from 1, so 0 before any event means none yet; after
        // one, 0 is the counter wrapping.
        let repeated = match self.prev {
            None => seq == 0,
            Some((prev_seq, _)) => prev_seq == seq,
        };
        if repeated {
            return None;
        }
        let head = format!(
            "source 0 - assert {}, sequence: {} - clear  {}, sequence: {}",
            fetch.assert, fetch.assert_seq, fetch.clear, fetch.clear_seq
        );
        let name = edge_name(self.edge);
        let tail = match self.prev.replace((seq, at)) {
            None => format!("{name} interval: -"),
            Some((prev_seq, prev_at)) => {
                interval_text(name, seq.wrapping_sub(prev_seq), at.diff_ns(prev_at))
            }
        };
        Some(format!("{head} - {tail}"))
    }
}

/// The interval part of a pulse line, `pulses` sequence steps and `interval_ns` apart.
fn interval_text(name: &str, pulses: u32, interval_ns: i64) -> String {
    if pulses >= 1 << 31 {
        return format!("{name} sequence went back; interval not computed");
    }
    let expected = i128::from(pulses) * i128::from(NANOS_PER_SEC);
    let deviation = i128::from(interval_ns) - expected;
    let mut text = format!(
        "{name} interval: {} s, deviation: {deviation:+} ns",
        secs_text(interval_ns)
    );
    if pulses > 1 {
        let missed = pulses - 1;
        let plural = if missed == 1 { "" } else { "s" };
        text.push_str(&format!(" from {pulses} s ({missed} pulse{plural} missed)"));
    }
    text
}

/// Signed nanoseconds as `s.nnnnnnnnn`.
fn secs_text(ns: i64) -> String {
    let sign = if ns < 0 { "-" } else { "" };
    let abs = ns.unsigned_abs();
    let per = NANOS_PER_SEC as u64;
    format!("{sign}{}.{:09}", abs / per, abs % per)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetch(assert_ns: i64, assert_seq: u32, clear_ns: i64, clear_seq: u32) -> PpsFetch {
        PpsFetch {
            assert: Timestamp::from_ns(assert_ns),
            assert_seq,
            clear: Timestamp::from_ns(clear_ns),
            clear_seq,
        }
    }

    const T0: i64 = 1_700_000_000_000_000_123;

    #[test]
    fn lines_start_like_ppstest_and_add_interval_and_deviation() {
        let mut log = PulseLog::new(Edge::Assert);
        assert_eq!(
            log.line(&fetch(T0, 42, 0, 0)).unwrap(),
            "source 0 - assert 1700000000.000000123, sequence: 42 - clear  0.000000000, \
             sequence: 0 - assert interval: -"
        );
        assert_eq!(
            log.line(&fetch(T0 + 1_000_000_012, 43, 0, 0)).unwrap(),
            "source 0 - assert 1700000001.000000135, sequence: 43 - clear  0.000000000, \
             sequence: 0 - assert interval: 1.000000012 s, deviation: +12 ns"
        );
        assert_eq!(
            log.line(&fetch(T0 + 1_999_999_990, 44, 0, 0)).unwrap(),
            "source 0 - assert 1700000002.000000113, sequence: 44 - clear  0.000000000, \
             sequence: 0 - assert interval: 0.999999978 s, deviation: -22 ns"
        );
    }

    #[test]
    fn repeated_or_empty_sequences_print_nothing() {
        let mut log = PulseLog::new(Edge::Assert);
        assert_eq!(log.line(&fetch(0, 0, 0, 0)), None, "no event captured yet");
        assert!(log.line(&fetch(T0, 7, 0, 0)).is_some());
        assert_eq!(
            log.line(&fetch(T0, 7, T0 + 100_000_000, 7)),
            None,
            "clear woke it"
        );
    }

    #[test]
    fn missed_pulses_are_measured_against_whole_seconds() {
        let mut log = PulseLog::new(Edge::Assert);
        log.line(&fetch(T0, 10, 0, 0));
        let line = log.line(&fetch(T0 + 3_000_000_036, 13, 0, 0)).unwrap();
        assert!(
            line.ends_with(
                "assert interval: 3.000000036 s, deviation: +36 ns from 3 s (2 pulses missed)"
            ),
            "{line}"
        );
    }

    #[test]
    fn clear_edge_intervals_and_sequence_wrap() {
        let mut log = PulseLog::new(Edge::Clear);
        log.line(&fetch(T0, 5, T0 + 200_000_000, u32::MAX));
        // The counter wraps from u32::MAX to 0: one pulse, not four billion.
        let line = log
            .line(&fetch(T0 + 1_000_000_000, 6, T0 + 1_200_000_001, 0))
            .unwrap();
        assert!(
            line.ends_with("clear interval: 1.000000001 s, deviation: +1 ns"),
            "{line}"
        );
        let line = log
            .line(&fetch(T0 + 3_000_000_000, 8, T0 + 3_200_000_000, 2))
            .unwrap();
        assert!(
            line.ends_with(
                "clear interval: 1.999999999 s, deviation: -1 ns from 2 s (1 pulse missed)"
            ),
            "{line}"
        );
    }

    #[test]
    fn a_backward_sequence_is_not_turned_into_an_interval() {
        let mut log = PulseLog::new(Edge::Assert);
        log.line(&fetch(T0, 100, 0, 0));
        let line = log.line(&fetch(T0 + 1_000_000_000, 3, 0, 0)).unwrap();
        assert!(
            line.ends_with("assert sequence went back; interval not computed"),
            "{line}"
        );
    }

    #[test]
    fn a_stepped_clock_shows_as_a_negative_interval() {
        assert_eq!(
            interval_text("assert", 1, -500_000_001),
            "assert interval: -0.500000001 s, deviation: -1500000001 ns"
        );
    }

    #[test]
    fn headers_decode_capability_names() {
        let caps = PpsMode::from_bits_retain(0x1133);
        assert_eq!(
            describe_caps("/dev/pps0", caps),
            "/dev/pps0: capabilities 0x1133: CAPTUREASSERT CAPTURECLEAR OFFSETASSERT \
             OFFSETCLEAR CANWAIT TSFMT_TSPEC"
        );
        let p = PpsParams {
            api_version: 1,
            mode: PpsMode::from_bits_retain(0x1011),
            assert_offset_ns: -150,
            clear_offset_ns: 0,
        };
        assert_eq!(
            describe_params("/dev/pps0", &p),
            "/dev/pps0: mode 0x1011: CAPTUREASSERT OFFSETASSERT TSFMT_TSPEC; api 1; \
             offsets assert -150 ns, clear +0 ns"
        );
    }

    #[test]
    fn timeouts_parse_as_positive_bounded_seconds() {
        assert_eq!(parse_timeout("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_timeout("0.25").unwrap(), Duration::from_millis(250));
        assert!(parse_timeout("0").is_err());
        assert!(parse_timeout("-1").is_err());
        assert!(parse_timeout("NaN").is_err());
        assert!(parse_timeout("3601").is_err());
        assert!(parse_timeout("soon").is_err());
    }

    #[test]
    fn exit_code_separates_wrong_paths_from_device_failures() {
        let bad = [
            DeviceError::os("/dev/x", "open", libc::ENOENT),
            DeviceError::new(
                "/tmp",
                "open",
                DeviceErrorCause::Other("not a PPS device: a directory".into()),
            ),
            DeviceError::new(
                "/dev/null",
                "PPS_GETCAP",
                DeviceErrorCause::Other("not a PPS device".into()),
            ),
            DeviceError::new(
                "/dev/pps1",
                "PPS_GETCAP",
                DeviceErrorCause::Unsupported("cannot capture assert edges".into()),
            ),
        ];
        assert!(bad.iter().all(names_no_pps_device));
        let failed = [
            DeviceError::os("/dev/pps0", "open", libc::EACCES),
            DeviceError::os("/dev/pps0", "PPS_FETCH", libc::ENODEV),
            DeviceError::new(
                "/dev/pps0",
                "PPS_SETPARAMS",
                DeviceErrorCause::Other("needs CAP_SYS_TIME".into()),
            ),
        ];
        assert!(!failed.iter().any(names_no_pps_device));
    }

    /// A pulse source replaying scripted answers; fails the test if fetched past the end.
    struct Script(std::collections::VecDeque<Result<PpsFetch, DeviceError>>);

    impl PulseSource for Script {
        fn fetch(&mut self, timeout: Option<Duration>) -> Result<PpsFetch, DeviceError> {
            assert_eq!(
                timeout,
                Some(Duration::from_secs(2)),
                "probe passes its timeout"
            );
            self.0.pop_front().expect("fetched past the script")
        }
    }

    #[test]
    fn watch_counts_new_pulses_and_rides_out_timeouts() {
        let timeout = DeviceError::new(
            "/dev/pps0",
            "PPS_FETCH",
            DeviceErrorCause::TimedOut(Duration::from_secs(2)),
        );
        let mut src = Script(
            [
                Ok(fetch(T0, 1, 0, 0)),
                Err(timeout),
                Ok(fetch(T0, 1, T0 + 200_000_000, 1)),
                Ok(fetch(T0 + 1_000_000_005, 2, T0 + 200_000_000, 1)),
                Ok(fetch(T0 + 2_000_000_000, 3, T0 + 1_200_000_000, 2)),
            ]
            .into(),
        );
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let secs = Duration::from_secs(2);
        let done = watch_pulses(&mut src, Edge::Assert, secs, Some(3), &mut out, &mut err);
        assert!(done.is_ok());
        let out = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert!(lines[1].ends_with("assert interval: 1.000000005 s, deviation: +5 ns"));
        assert!(lines[2].ends_with("assert interval: 0.999999995 s, deviation: -5 ns"));
        assert_eq!(
            String::from_utf8(err).unwrap(),
            "ppsd probe: /dev/pps0: PPS_FETCH: timed out after 2 s\n"
        );
        assert!(src.0.is_empty());
    }

    #[test]
    fn watch_stops_on_a_device_error() {
        let gone = DeviceError::os("/dev/pps0", "PPS_FETCH", libc::ENODEV);
        let mut src = Script([Ok(fetch(T0, 1, 0, 0)), Err(gone.clone())].into());
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let secs = Duration::from_secs(2);
        match watch_pulses(&mut src, Edge::Assert, secs, None, &mut out, &mut err) {
            Err(Failure::Device(e)) => assert_eq!(e, gone),
            _ => panic!("expected the device error"),
        }
        assert_eq!(String::from_utf8(out).unwrap().lines().count(), 1);
    }
}
