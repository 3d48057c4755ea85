//! The Prometheus examples stay true: `promtool check config` and `promtool test rules` pass,
//! and every `ppsd_` metric the alerting rules and the Grafana dashboard use is one ppsd
//! exports (a histogram's `_bucket`, `_sum`, `_count` included).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use ppsd::engine::Stamp;
use ppsd::publish::metrics::{Metrics, MetricsConfig};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/prometheus");

fn promtool(args: &[&str]) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(DIR)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "promtool not runnable ({e}): install it with `apt-get install -y prometheus` \
                 (Debian package prometheus)"
            )
        });
    assert!(
        out.status.success(),
        "promtool {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn promtool_accepts_the_config_and_the_rules_pass_their_tests() {
    promtool(&["check", "config", "prometheus.yml"]);
    promtool(&["test", "rules", "ppsd-alerts.test.yml"]);
}

/// Every `ppsd_...` identifier in `text`.
fn names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(p) = text[i..].find("ppsd_") {
        let start = i + p;
        let mut end = start;
        while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
            end += 1;
        }
        let before_ok =
            start == 0 || !(b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'_');
        if before_ok {
            out.insert(text[start..end].to_string());
        }
        i = end;
    }
    out
}

#[test]
fn examples_use_only_exported_metrics() {
    let mut m = Metrics::new(MetricsConfig::default());
    m.set_leap(ppsd::engine::LeapState::None, Some(37));
    let mut exposition = String::new();
    m.encode(Stamp::default(), &mut exposition);
    let exported: BTreeSet<String> = exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect();
    let dashboard = std::fs::read_to_string(Path::new(DIR).join("grafana-dashboard.json")).unwrap();
    let _: serde_json::Value = serde_json::from_str(&dashboard).expect("dashboard is JSON");
    let rules = std::fs::read_to_string(Path::new(DIR).join("ppsd-alerts.yml")).unwrap();
    let used: BTreeSet<String> = names(&dashboard).into_iter().chain(names(&rules)).collect();
    assert!(used.len() >= 15, "{used:?}");
    let missing: Vec<&String> = used.iter().filter(|n| !exported.contains(*n)).collect();
    assert!(missing.is_empty(), "not exported: {missing:?}");
}
