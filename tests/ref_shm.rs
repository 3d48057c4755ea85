//! ppsd's NTP SHM reader against a segment written by another process: a small Python
//! writer (ctypes, libc's shmget/shmat) that lays out `struct shmTime` as ntpd defines it,
//! independently of ppsd's own definition, and follows the mode-1 count protocol.
//!
//! The writer uses a unit from 100–199 (picked from the test's pid) so it cannot meet a real
//! gpsd's segments (0–7), and removes its segment on exit or SIGTERM; a guard sends that.

mod ref_util;

use ppsd::reference::shm::{ShmRead, ShmReader};
use ppsd::reference::{LeapIndicator, RefErrorKind};
use ppsd::time::Timestamp;
use ref_util::{require_binary, ServerGuard, TempDir};
use std::io::{BufRead, BufReader, Write};
use std::process::{ChildStdin, Command, Stdio};
use std::time::Duration;

const WRITER: &str = r#"
import ctypes, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
class ShmTime(ctypes.Structure):
    _fields_ = [("mode", ctypes.c_int), ("count", ctypes.c_int),
                ("clockTimeStampSec", ctypes.c_long), ("clockTimeStampUSec", ctypes.c_int),
                ("receiveTimeStampSec", ctypes.c_long), ("receiveTimeStampUSec", ctypes.c_int),
                ("leap", ctypes.c_int), ("precision", ctypes.c_int), ("nsamples", ctypes.c_int),
                ("valid", ctypes.c_int), ("clockTimeStampNSec", ctypes.c_uint),
                ("receiveTimeStampNSec", ctypes.c_uint), ("dummy", ctypes.c_int * 8)]
key = 0x4e545030 + int(sys.argv[1])
shmid = libc.shmget(key, ctypes.sizeof(ShmTime), 0o1000 | 0o600)
if shmid < 0:
    sys.exit("shmget: errno %d" % ctypes.get_errno())
addr = libc.shmat(shmid, None, 0)
shm = ShmTime.from_address(addr)
def cleanup(*_):
    libc.shmdt(ctypes.c_void_p(addr)); libc.shmctl(shmid, 0, None); sys.exit(0)
signal.signal(signal.SIGTERM, cleanup)
print("ready", flush=True)
for line in sys.stdin:
    mode, cs, cn, rs, rn, leap = (int(x) for x in line.split())
    shm.mode = mode
    shm.count += 1
    shm.valid = 0
    shm.clockTimeStampSec, shm.clockTimeStampUSec, shm.clockTimeStampNSec = cs, cn // 1000, cn
    shm.receiveTimeStampSec, shm.receiveTimeStampUSec, shm.receiveTimeStampNSec = rs, rn // 1000, rn
    shm.leap, shm.precision = leap, -20
    shm.count += 1
    shm.valid = 1
    print("written", flush=True)
cleanup()
"#;

struct Writer {
    stdin: ChildStdin,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
    _guard: ServerGuard,
    _dir: TempDir,
}

impl Writer {
    fn start(unit: u8) -> Writer {
        let python = require_binary("python3", "python3");
        let dir = TempDir::new("ppsd-ref-shm");
        let mut cmd = Command::new(python);
        cmd.arg("-c").arg(WRITER).arg(unit.to_string());
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut guard = ServerGuard::spawn_piped("shm writer", cmd, dir.path().join("writer.log"));
        let stdin = guard.take_stdin();
        let mut lines = BufReader::new(guard.take_stdout()).lines();
        let first = lines.next().and_then(Result::ok);
        assert_eq!(
            first.as_deref(),
            Some("ready"),
            "writer failed:\n{}",
            guard.log()
        );
        Writer {
            stdin,
            lines,
            _guard: guard,
            _dir: dir,
        }
    }

    fn write(&mut self, mode: i32, clock: Timestamp, receive: Timestamp, leap: i32) {
        writeln!(
            self.stdin,
            "{mode} {} {} {} {} {leap}",
            clock.sec(),
            clock.nsec(),
            receive.sec(),
            receive.nsec()
        )
        .unwrap();
        self.stdin.flush().unwrap();
        assert_eq!(
            self.lines.next().and_then(Result::ok).as_deref(),
            Some("written")
        );
    }
}

fn unit() -> u8 {
    100 + (std::process::id() % 100) as u8
}

#[test]
fn reads_samples_written_by_another_process() {
    let unit = unit();
    let mut w = Writer::start(unit);
    let mut r =
        ShmReader::attach(unit, Duration::from_secs(4), 1_000_000).expect("attach read-only");
    let receive = ppsd::reference::realtime_now();
    let clock = receive.add_ns(-250_000_123); // the receiver's time, 0.25 s earlier
    w.write(1, clock, receive, 1);
    let ShmRead::Sample(s) = r.read(receive.add_ns(1_000)).unwrap() else {
        panic!("no sample")
    };
    assert_eq!(s.offset_ns, 250_000_123);
    assert_eq!(s.local_time, receive);
    assert_eq!(s.leap, LeapIndicator::Insert);
    assert_eq!(s.source, format!("shm:{unit}"));
    // Read-only: the sample stays valid in the segment, but it is not new any more.
    assert_eq!(r.read(receive.add_ns(2_000)).unwrap(), ShmRead::NoNewSample);
    // Mode 0 writer, next second.
    w.write(
        0,
        clock.add_ns(1_000_000_000),
        receive.add_ns(1_000_000_000),
        0,
    );
    let ShmRead::Sample(s) = r.read(receive.add_ns(1_000_001_000)).unwrap() else {
        panic!("no sample")
    };
    assert_eq!(
        (s.offset_ns, s.leap),
        (250_000_123, LeapIndicator::NoWarning)
    );
    println!(
        "shm unit {unit}: offset {} ns read from a foreign writer",
        s.offset_ns
    );
}

#[test]
fn stale_sample_from_a_dead_writer_is_refused() {
    let unit = 100 + (unit() - 100 + 50) % 100; // never the other test's unit
    let mut w = Writer::start(unit);
    let mut r = ShmReader::attach(unit, Duration::from_secs(4), 1_000_000).unwrap();
    let receive = ppsd::reference::realtime_now();
    w.write(1, receive, receive, 0);
    let err = r.read(receive.add_ns(5_000_000_000)).unwrap_err();
    assert!(matches!(err.kind, RefErrorKind::Unsynchronised(_)), "{err}");
}

#[test]
fn missing_segment_is_a_clear_error() {
    // Unit 250 is not written by anything on a test machine.
    let err = ShmReader::attach(250, Duration::from_secs(4), 0).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("shm:250: shmget: NTP SHM unit 250 (key 0x4e54512a): shmget: "),
        "{text}"
    );
    assert!(text.contains("no writer has created it yet"), "{text}");
}
