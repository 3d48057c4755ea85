//! `ppsd-shm-check [--snapshot] [PATH]`: asks the record what a signer would, prints the answer
//! on one line and exits 0 (may sign), 1 (must not sign) or 2 (record unreadable). With
//! `--snapshot` it also prints every published field. For operators' scripts and health checks;
//! it only reads, never writes, the record.

#[cfg(not(loom))]
fn main() -> std::process::ExitCode {
    tool::main()
}

/// The `--cfg loom` model-check build has no reader; this stub only keeps the target building.
#[cfg(loom)]
fn main() {}

#[cfg(not(loom))]
mod tool {
    use ppsd_shm::{Reader, Snapshot, DEFAULT_PATH};
    use std::process::ExitCode;

    fn print_snapshot(snap: &Snapshot) {
        let s = &snap.state;
        println!("seq                     {}", snap.seq);
        println!("writer_pid              {}", snap.writer_pid);
        println!("writer_generation       {}", snap.writer_generation);
        println!("writer_closed           {}", snap.writer_closed);
        println!("sync_state              {}", s.sync.name());
        println!("leap_state              {}", s.leap.name());
        println!("error_bound_ns          {}", s.error_bound_ns);
        println!("declared_accuracy_ns    {}", s.declared_accuracy_ns);
        println!("offset_ns               {}", s.offset_ns);
        println!("frequency_offset_ppt    {}", s.frequency_offset_ppt);
        println!("last_pulse_realtime_ns  {}", s.last_pulse_realtime_ns);
        println!("updated_at_mono_ns      {}", s.updated_at_mono_ns);
        println!("valid_until_mono_ns     {}", s.valid_until_mono_ns);
        println!("tai_offset_s            {}", s.tai_offset_s);
        println!("next_leap_utc_s         {}", s.next_leap_utc_s);
        match s.leap_window {
            Some(w) => println!(
                "leap_window             realtime [{}, {}) mono [{}, {})",
                w.start_realtime_ns, w.end_realtime_ns, w.start_mono_ns, w.end_mono_ns
            ),
            None => println!("leap_window             none"),
        }
        println!("pulse_source_id         {}", s.pulse_source_id.as_string());
        println!(
            "time_of_day_ref_id      {}",
            s.time_of_day_ref_id.as_string()
        );
    }

    pub fn main() -> ExitCode {
        let mut snapshot = false;
        let mut path = DEFAULT_PATH.to_owned();
        for arg in std::env::args().skip(1) {
            match arg.as_str() {
                "--snapshot" => snapshot = true,
                "-h" | "--help" => {
                    println!(
                        "usage: ppsd-shm-check [--snapshot] [PATH]   (default {DEFAULT_PATH})"
                    );
                    return ExitCode::SUCCESS;
                }
                other if other.starts_with('-') => {
                    eprintln!("ppsd-shm-check: unknown option {other}");
                    return ExitCode::from(2);
                }
                other => path = other.to_owned(),
            }
        }
        if let Err(e) = ppsd_shm::install_sigbus_guard() {
            eprintln!("ppsd-shm-check: SIGBUS guard not installed: {e}");
        }
        let mut reader = match Reader::open(&path) {
            Ok(reader) => reader,
            Err(e) => {
                eprintln!("ppsd-shm-check: {e}");
                return ExitCode::from(2);
            }
        };
        let v = reader.check();
        let (state, leap) = (v.state.name(), v.leap.name());
        match v.reason {
            None => println!(
                "may sign: {state}, leap {leap}, error bound {} ns",
                v.error_bound_ns
            ),
            Some(reason) => println!("not signing: {reason} (state {state}, leap {leap})"),
        }
        if snapshot {
            match reader.snapshot() {
                Ok(snap) => print_snapshot(&snap),
                Err(reason) => println!("snapshot unavailable: {reason}"),
            }
        }
        if v.may_sign {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    }
}
