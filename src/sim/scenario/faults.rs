//! Validation of a scenario's `[[fault]]` tables: kinds, windows, value keys, and overlaps.
//!
//! Part of the scenario parser: every error names the file, the line and the key. It never
//! panics on any input.

use super::{Cx, Int, RawFault, ScenarioError};
use crate::sim::fault::{Fault, FaultKind};
use crate::time::NANOS_PER_SEC;

impl Cx<'_> {
    pub(super) fn faults(
        &self,
        raw: &[RawFault],
        duration_ns: i64,
    ) -> Result<Vec<Fault>, ScenarioError> {
        let mut out: Vec<Fault> = Vec::with_capacity(raw.len());
        for f in raw {
            let fault = self.fault(f, duration_ns)?;
            if let Some(other) = out.iter().find(|o| contradicts(o, &fault)) {
                let msg = format!(
                    "{} fault overlaps the {} fault at line {}",
                    fault.kind.name(),
                    other.kind.name(),
                    other.line
                );
                return Err(self.err(Some(f.start_s.span()), "fault.start_s", msg));
            }
            out.push(fault);
        }
        Ok(out)
    }

    fn fault(&self, f: &RawFault, duration_ns: i64) -> Result<Fault, ScenarioError> {
        let kind = FaultKind::from_name(f.kind.get_ref()).ok_or_else(|| {
            let names: Vec<&str> = FaultKind::ALL.iter().map(|(n, _)| *n).collect();
            let msg = format!(
                "unknown fault kind {:?} (known: {})",
                f.kind.get_ref(),
                names.join(", ")
            );
            self.err(Some(f.kind.span()), "fault.kind", msg)
        })?;
        let start_ns = self.seconds(&f.start_s, "fault.start_s", 0.0)?;
        if start_ns >= duration_ns {
            let msg = format!(
                "must be before the end of the run ({} s)",
                duration_ns / NANOS_PER_SEC
            );
            return Err(self.err(Some(f.start_s.span()), "fault.start_s", msg));
        }
        let end_ns = match (&f.duration_s, kind.is_instant()) {
            (Some(d), true) => {
                let msg = format!("not used by fault kind {}", kind.name());
                return Err(self.err(Some(d.span()), "fault.duration_s", msg));
            }
            (Some(d), false) => {
                start_ns.saturating_add(self.seconds(d, "fault.duration_s", 1e-9)?)
            }
            (None, true) => start_ns,
            (None, false) if kind == FaultKind::SpuriousPulse => start_ns + NANOS_PER_SEC,
            (None, false) => duration_ns,
        };
        let mut fault = Fault {
            kind,
            start_ns,
            end_ns,
            value: 0,
            freq_ppm: 0.0,
            line: self.line_of(f.kind.span().start),
        };
        let ints: [(&str, &Int); 4] = [
            ("offset_ns", &f.offset_ns),
            ("step_ns", &f.step_ns),
            ("offset_s", &f.offset_s),
            ("sign", &f.sign),
        ];
        let wanted = kind.value_key();
        for (key, v) in ints {
            match (v, wanted == Some(key)) {
                (Some(v), false) => return Err(self.unused(v.span(), key, kind)),
                (Some(v), true) => fault.value = *v.get_ref(),
                (None, true) => return Err(self.missing(f, key, kind)),
                (None, false) => {}
            }
        }
        match (&f.freq_ppm, wanted == Some("freq_ppm")) {
            (Some(v), false) => return Err(self.unused(v.span(), "freq_ppm", kind)),
            (Some(_), true) => {
                fault.freq_ppm = self.num(&f.freq_ppm, "fault.freq_ppm", 0.0, -500.0, 500.0)?
            }
            (None, true) => return Err(self.missing(f, "freq_ppm", kind)),
            (None, false) => {}
        }
        self.check_value(f, &fault)?;
        Ok(fault)
    }

    fn check_value(&self, f: &RawFault, fault: &Fault) -> Result<(), ScenarioError> {
        let v = fault.value;
        let (ok, key, span, what) = match fault.kind {
            FaultKind::SpuriousPulse => (
                v != 0 && v.abs() < NANOS_PER_SEC,
                "fault.offset_ns",
                f.offset_ns.as_ref().map(|s| s.span()),
                "nonzero and within ±1 s",
            ),
            FaultKind::PpsOffset => (
                v.abs() < NANOS_PER_SEC / 2,
                "fault.offset_ns",
                f.offset_ns.as_ref().map(|s| s.span()),
                "within ±0.5 s",
            ),
            FaultKind::ForeignStep => (
                v != 0 && v.abs() <= 1_000_000 * NANOS_PER_SEC,
                "fault.step_ns",
                f.step_ns.as_ref().map(|s| s.span()),
                "nonzero and within ±10⁶ s",
            ),
            FaultKind::TodOffset => (
                v != 0 && v.abs() <= 1_000_000,
                "fault.offset_s",
                f.offset_s.as_ref().map(|s| s.span()),
                "nonzero and within ±10⁶",
            ),
            FaultKind::Leap => (
                v == 1 || v == -1,
                "fault.sign",
                f.sign.as_ref().map(|s| s.span()),
                "+1 or -1",
            ),
            _ => return Ok(()),
        };
        if ok {
            Ok(())
        } else {
            Err(self.err(span, key, format!("must be {what}, got {v}")))
        }
    }

    fn unused(&self, span: std::ops::Range<usize>, key: &str, kind: FaultKind) -> ScenarioError {
        self.err(
            Some(span),
            &format!("fault.{key}"),
            format!("not used by fault kind {}", kind.name()),
        )
    }

    fn missing(&self, f: &RawFault, key: &str, kind: FaultKind) -> ScenarioError {
        self.err(
            Some(f.kind.span()),
            &format!("fault.{key}"),
            format!("fault kind {} needs {key}", kind.name()),
        )
    }
}

/// Two faults of the same kind whose windows overlap (or instants that coincide, or two leaps
/// on one day) say contradictory things about the same moment.
fn contradicts(a: &Fault, b: &Fault) -> bool {
    if a.kind != b.kind {
        return false;
    }
    if a.kind == FaultKind::Leap {
        let day = 86_400 * NANOS_PER_SEC;
        return a.start_ns.div_euclid(day) == b.start_ns.div_euclid(day);
    }
    if a.kind.is_instant() {
        return a.start_ns == b.start_ns;
    }
    a.start_ns < b.end_ns && b.start_ns < a.end_ns
}
