//! `ppsd status [--shm PATH]`: reads the record a running daemon publishes, with the same
//! reader library signers use, and prints the verdict (may a signer sign now, and why not) and
//! the published state. Exit codes: 0 a signer may sign, 1 it may not, 2 the record cannot be
//! opened. Never writes anything.

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `ppsd status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The record the daemon publishes.
    #[arg(long, value_name = "PATH", default_value = ppsd_shm::DEFAULT_PATH)]
    pub shm: PathBuf,
}

/// The text `ppsd status` prints for a verdict and snapshot.
pub fn render(v: &ppsd_shm::Verdict, snap: Option<&ppsd_shm::Snapshot>) -> String {
    let mut out = String::new();
    let verdict = match v.reason {
        None => "may sign".to_string(),
        Some(r) => format!("may not sign: {}", r.describe()),
    };
    out.push_str(&format!("verdict:      {verdict}\n"));
    out.push_str(&format!("state:        {}\n", v.state.name()));
    out.push_str(&format!("leap:         {}\n", v.leap.name()));
    if let Some(s) = snap.filter(|s| s.writer_closed) {
        // The daemon stopped and voided the record: its fields say nothing.
        out.push_str(&format!(
            "writer:       pid {}, generation {}, closed (the daemon stopped)\n",
            s.writer_pid, s.writer_generation
        ));
    } else if let Some(s) = snap {
        let st = &s.state;
        let bound = if st.error_bound_ns > i64::MAX as u64 {
            "none".to_string()
        } else {
            format!("{} ns", st.error_bound_ns)
        };
        out.push_str(&format!(
            "error bound:  {bound} (declared accuracy {} ns)\n",
            st.declared_accuracy_ns
        ));
        out.push_str(&format!("offset:       {} ns\n", st.offset_ns));
        out.push_str(&format!(
            "frequency:    {:.3} ppm (oscillator, + = fast)\n",
            st.frequency_offset_ppt as f64 * 1e-6
        ));
        if st.updated_at_mono_ns > 0 {
            let age_ms = (ppsd_shm::monotonic_ns() - st.updated_at_mono_ns) / 1_000_000;
            out.push_str(&format!("updated:      {age_ms} ms ago\n"));
        } else {
            out.push_str("updated:      never\n");
        }
        out.push_str(&format!("TAI-UTC:      {} s\n", st.tai_offset_s));
        out.push_str(&format!(
            "pulse source: {}\n",
            st.pulse_source_id.as_string()
        ));
        out.push_str(&format!(
            "reference:    {}\n",
            st.time_of_day_ref_id.as_string()
        ));
        out.push_str(&format!(
            "writer:       pid {}, generation {}\n",
            s.writer_pid, s.writer_generation
        ));
    }
    out
}

/// Runs `ppsd status`.
pub fn run(args: &Args) -> ExitCode {
    let mut reader = match ppsd_shm::Reader::open(&args.shm) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ppsd status: {e} (is ppsd running? `ppsd run --simulate` prints its path)");
            return ExitCode::from(2);
        }
    };
    let verdict = reader.check();
    let snap = reader.snapshot().ok();
    print!("{}", render(&verdict, snap.as_ref()));
    if verdict.may_sign {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
