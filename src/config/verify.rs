//! `[verify]`: the policy by which time-of-day references verify the seconds' numbering, its
//! translation into the engine's [`VerifyConfig`], and the checks that the configured
//! references can meet it at all.
//!
//! Pure: never opens anything, never panics; errors name the dotted key and the reason.

use serde::{Deserialize, Serialize};

use super::{Config, ReferenceKind, ReferenceSection};
use crate::engine::verify::{Require, VerifyConfig, MAX_SOURCES};
use crate::time::NANOS_PER_SEC;

/// What the policy requires.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequireKind {
    /// `quorum` distinct references agreeing.
    #[default]
    Quorum,
    /// `quorum` distinct references agreeing, at least one of them NTS (authenticated).
    Nts,
}

/// `[verify]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VerifySection {
    /// `quorum` or `nts`.
    pub require: RequireKind,
    /// Distinct references that must agree.
    pub quorum: i64,
    /// Largest distance of a reading from the pulse-derived time within the second, ms.
    pub tolerance_ms: i64,
    /// Readings older than this no longer count, minutes.
    pub recheck_min: i64,
}

impl Default for VerifySection {
    fn default() -> VerifySection {
        let v = VerifyConfig::default();
        VerifySection {
            require: RequireKind::Quorum,
            quorum: i64::from(v.quorum),
            tolerance_ms: v.tolerance_ns / 1_000_000,
            recheck_min: v.recheck_ns / (60 * NANOS_PER_SEC),
        }
    }
}

impl VerifySection {
    /// The engine's policy for `refs` (call after [`check`] accepted the values).
    pub fn engine(&self, refs: &[ReferenceSection]) -> VerifyConfig {
        let mut source_tolerance_ns = [0; MAX_SOURCES];
        for (t, r) in source_tolerance_ns.iter_mut().zip(refs) {
            *t = r.tolerance_ms.clamp(0, 499) * 1_000_000;
        }
        VerifyConfig {
            source_tolerance_ns,
            require: match self.require {
                RequireKind::Quorum => Require::Quorum,
                RequireKind::Nts => Require::Nts,
            },
            quorum: u8::try_from(self.quorum.clamp(1, MAX_SOURCES as i64)).unwrap_or(1),
            tolerance_ns: self.tolerance_ms.saturating_mul(1_000_000),
            recheck_ns: self.recheck_min.saturating_mul(60 * NANOS_PER_SEC),
        }
    }
}

fn fail(key: impl Into<String>, reason: impl Into<String>) -> Result<(), (String, String)> {
    Err((key.into(), reason.into()))
}

fn same_source(a: &ReferenceSection, b: &ReferenceSection) -> bool {
    a.kind == b.kind
        && match a.kind {
            ReferenceKind::Shm => a.unit == b.unit,
            _ => a.address.eq_ignore_ascii_case(&b.address),
        }
}

/// Checks `[verify]` and that the configured references can meet it.
///
/// With no reference at all the policy is not checked against them: `--simulate` brings its
/// own, and a real run warns that the state stays UNKNOWN.
///
/// # Errors
/// The first (dotted key, reason) that does not hold.
pub fn check(cfg: &Config) -> Result<(), (String, String)> {
    let v = &cfg.verify;
    let max = MAX_SOURCES as i64;
    if !(1..=max).contains(&v.quorum) {
        return fail(
            "verify.quorum",
            format!("must be between 1 and {max}, got {}", v.quorum),
        );
    }
    if !(1..=499).contains(&v.tolerance_ms) {
        return fail(
            "verify.tolerance_ms",
            format!(
                "must be between 1 and 499 ms (half a second or more cannot tell one second \
                 from the next), got {}",
                v.tolerance_ms
            ),
        );
    }
    if !(1..=1_440).contains(&v.recheck_min) {
        return fail(
            "verify.recheck_min",
            format!("must be between 1 and 1440 min, got {}", v.recheck_min),
        );
    }
    let refs = &cfg.reference;
    if refs.len() > MAX_SOURCES {
        return fail(
            format!("reference[{MAX_SOURCES}]"),
            format!("at most {MAX_SOURCES} references, got {}", refs.len()),
        );
    }
    for (i, r) in refs.iter().enumerate() {
        if !(0..=499).contains(&r.tolerance_ms) {
            return fail(
                format!("reference[{i}].tolerance_ms"),
                format!(
                    "must be between 1 and 499 ms, or 0 for verify.tolerance_ms, got {}",
                    r.tolerance_ms
                ),
            );
        }
        if let Some(j) = refs[..i].iter().position(|o| same_source(o, r)) {
            return fail(
                format!("reference[{i}].address"),
                format!("the same source as reference[{j}]: a quorum counts distinct sources"),
            );
        }
    }
    if refs.is_empty() {
        return Ok(());
    }
    if v.quorum > refs.len() as i64 {
        return fail(
            "verify.quorum",
            format!(
                "needs {} agreeing references but only {} are configured",
                v.quorum,
                refs.len()
            ),
        );
    }
    if v.require == RequireKind::Nts && !refs.iter().any(|r| r.kind == ReferenceKind::Nts) {
        return fail(
            "verify.require",
            "\"nts\" needs at least one [[reference]] with kind = \"nts\"",
        );
    }
    Ok(())
}

/// Startup warnings: the policy rests on unauthenticated references only; a gpsd reference
/// without its own tolerance (its reports arrive late); or, with `simulated`, the simulated
/// world's one unauthenticated reference cannot meet the policy.
pub fn warnings(cfg: &Config, simulated: bool) -> Vec<String> {
    let v = &cfg.verify;
    if simulated {
        if v.require == RequireKind::Nts || v.quorum > 1 {
            return vec![
                "--simulate: the simulated world has one unauthenticated reference, \
                         which cannot meet [verify] as configured: the seconds will stay \
                         unverified"
                    .to_string(),
            ];
        }
        return Vec::new();
    }
    let refs = &cfg.reference;
    let mut w = Vec::new();
    if !refs.is_empty() && !refs.iter().any(|r| r.kind == ReferenceKind::Nts) {
        w.push(format!(
            "verify.require = \"quorum\" with only unauthenticated references ({} of them): \
             the seconds' numbering rests on answers nobody authenticated (plain NTP can be \
             forged on the path); add an NTS reference and set verify.require = \"nts\"",
            refs.len()
        ));
    }
    for (i, r) in refs.iter().enumerate() {
        if r.kind == ReferenceKind::Gpsd && r.tolerance_ms == 0 && v.tolerance_ms < 300 {
            w.push(format!(
                "reference[{i}] (gpsd) has no tolerance_ms of its own: gpsd reports arrive \
                 50-600 ms after their second, beyond verify.tolerance_ms = {} ms; set \
                 tolerance_ms above the receiver's latency",
                v.tolerance_ms
            ));
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use crate::config::parse;

    fn err(text: &str) -> String {
        parse("ppsd.toml", text).unwrap_err().to_string()
    }

    const NTP: &str = "[[reference]]\nkind = \"ntp\"\naddress = \"127.0.0.1:123\"\n";
    const NTS: &str = "[[reference]]\nkind = \"nts\"\naddress = \"time.example\"\n";

    #[test]
    fn the_policy_reaches_the_engine() {
        let text = format!("[verify]\nrequire = \"nts\"\nquorum = 2\ntolerance_ms = 50\nrecheck_min = 4\n{NTS}{NTP}");
        let v = parse("ppsd.toml", &text).unwrap().engine().verify;
        assert_eq!(v.require, crate::engine::verify::Require::Nts);
        assert_eq!(
            (v.quorum, v.tolerance_ns, v.recheck_ns),
            (2, 50_000_000, 240_000_000_000)
        );
    }

    #[test]
    fn nts_required_without_an_nts_reference_names_file_line_and_key() {
        let e = err(&format!("[verify]\nquorum = 1\nrequire = \"nts\"\n\n{NTP}"));
        assert!(
            e.starts_with("ppsd.toml:3: verify.require: \"nts\" needs at least one"),
            "{e}"
        );
    }

    #[test]
    fn a_quorum_larger_than_the_references_is_refused() {
        let e = err(&format!("[verify]\nquorum = 3\n{NTS}{NTP}"));
        assert!(
            e.starts_with("ppsd.toml:2: verify.quorum: needs 3 agreeing references but only 2"),
            "{e}"
        );
        // Without references the daemon warns instead (and --simulate brings its own).
        assert!(parse("ppsd.toml", "[verify]\nquorum = 3\n").is_ok());
    }

    #[test]
    fn ranges_and_duplicates() {
        assert!(err("[verify]\nquorum = 0\n")
            .starts_with("ppsd.toml:2: verify.quorum: must be between 1 and 16"));
        assert!(err("[verify]\ntolerance_ms = 500\n")
            .contains("verify.tolerance_ms: must be between 1 and 499"));
        assert!(err("[verify]\nrecheck_min = 0\n").contains("verify.recheck_min"));
        assert!(err("[verify]\nrequire = \"both\"\n")
            .starts_with("ppsd.toml:2: verify.require: unknown variant"));
        let e = err(&format!("{NTP}{NTS}{NTP}"));
        assert!(
            e.starts_with("ppsd.toml:9: reference[2].address: the same source as reference[0]"),
            "{e}"
        );
        let many: String = (1..=17)
            .map(|p| format!("[[reference]]\nkind = \"ntp\"\naddress = \"127.0.0.1:{p}\"\n"))
            .collect();
        assert!(err(&many).contains("reference[16]: at most 16 references, got 17"));
    }

    #[test]
    fn a_reference_may_have_its_own_tolerance() {
        let text = format!(
            "{NTS}[[reference]]\nkind = \"gpsd\"\naddress = \"127.0.0.1:2947\"\ntolerance_ms = 450\n"
        );
        let v = parse("ppsd.toml", &text).unwrap().engine().verify;
        assert_eq!(v.tolerance_for(0), 100_000_000);
        assert_eq!(v.tolerance_for(1), 450_000_000);
        let e = err(&format!("{NTP}tolerance_ms = 500\n"));
        assert!(
            e.starts_with("ppsd.toml:4: reference[0].tolerance_ms: must be between 1 and 499"),
            "{e}"
        );
    }

    #[test]
    fn only_unauthenticated_references_and_gpsd_without_its_tolerance_draw_warnings() {
        let cfg = parse("ppsd.toml", NTP).unwrap();
        assert!(super::warnings(&cfg, false)[0].contains("unauthenticated"));
        assert!(
            super::warnings(&cfg, true).is_empty(),
            "the simulated reference meets it"
        );
        let text = format!("[verify]\nrequire = \"nts\"\n{NTP}{NTS}");
        let cfg = parse("ppsd.toml", &text).unwrap();
        assert!(super::warnings(&cfg, false).is_empty());
        assert!(super::warnings(&cfg, true)[0].contains("--simulate"));
        assert!(super::warnings(&parse("ppsd.toml", "").unwrap(), false).is_empty());
        let gpsd = format!("{NTS}[[reference]]\nkind = \"gpsd\"\naddress = \"127.0.0.1:2947\"\n");
        let cfg = parse("ppsd.toml", &gpsd).unwrap();
        assert!(super::warnings(&cfg, false)[0].contains("reference[1] (gpsd)"));
        let cfg = parse("ppsd.toml", &format!("{gpsd}tolerance_ms = 450\n")).unwrap();
        assert!(super::warnings(&cfg, false).is_empty());
    }
}
