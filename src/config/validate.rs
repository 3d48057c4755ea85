//! Range and consistency checks of a parsed [`Config`]: the first problem found, as the dotted
//! key it concerns and the reason. Pure; never panics.

use std::net::SocketAddr;

use super::{Config, ReferenceKind};
use crate::engine::servo::SERVO_NAMES;
use crate::time::NANOS_PER_SEC;

type Check = Result<(), (String, String)>;

fn range_i(key: &str, v: i64, lo: i64, hi: i64, unit: &str) -> Check {
    if v < lo || v > hi {
        return Err((
            key.to_string(),
            format!("must be between {lo} and {hi}{unit}, got {v}"),
        ));
    }
    Ok(())
}

fn range_f(key: &str, v: f64, lo: f64, hi: f64) -> Check {
    if !v.is_finite() || v < lo || v > hi {
        return Err((
            key.to_string(),
            format!("must be between {lo} and {hi}, got {v}"),
        ));
    }
    Ok(())
}

fn fail(key: impl Into<String>, reason: impl Into<String>) -> Check {
    Err((key.into(), reason.into()))
}

/// Checks every value of `cfg`.
///
/// # Errors
/// The first (dotted key, reason) that does not hold.
pub fn check(cfg: &Config) -> Check {
    pps(cfg)?;
    trust(cfg)?;
    runtime(cfg)?;
    servo(cfg)?;
    for (i, r) in cfg.reference.iter().enumerate() {
        reference(i, r)?;
    }
    super::verify::check(cfg)?;
    other(cfg)?;
    signserver(&cfg.signserver)
}

fn pps(cfg: &Config) -> Check {
    let p = &cfg.pps;
    if p.device.as_os_str().is_empty() {
        return fail("pps.device", "must name the PPS device, e.g. /dev/pps0");
    }
    range_i("pps.delay_ns", p.delay_ns, -100_000_000, 100_000_000, " ns")?;
    range_i(
        "pps.pulse_window_ns",
        p.pulse_window_ns,
        1_000,
        400_000_000,
        " ns",
    )?;
    range_i(
        "pps.pulse_timeout_ms",
        p.pulse_timeout_ms,
        1_100,
        60_000,
        " ms",
    )?;
    range_i("pps.fetch_delay_ms", p.fetch_delay_ms, 1, 500, " ms")
}

fn runtime(cfg: &Config) -> Check {
    range_i(
        "runtime.kernel_poll_us",
        cfg.runtime.kernel_poll_us,
        100,
        1_000_000,
        " µs",
    )?;
    range_f(
        "runtime.kernel_poll_margin",
        cfg.runtime.kernel_poll_margin,
        0.01,
        1.0,
    )
}

fn trust(cfg: &Config) -> Check {
    let t = &cfg.trust;
    // The counts are integers in the file; a negative one must not wrap into a huge u32.
    range_i(
        "trust.recover_pulses",
        t.recover_pulses,
        0,
        i64::from(u32::MAX),
        "",
    )?;
    range_i(
        "trust.min_samples",
        t.min_samples,
        0,
        i64::from(u32::MAX),
        "",
    )?;
    range_i(
        "trust.lifetime_ms",
        t.lifetime_ms,
        0,
        i64::MAX / 1_000_000,
        " ms",
    )?;
    range_i(
        "trust.holdover_horizon_s",
        t.holdover_horizon_s,
        0,
        i64::MAX / NANOS_PER_SEC,
        " s",
    )?;
    // Every trust parameter's meaning is checked once, by the engine's own validation.
    cfg.engine()
        .trust
        .validate()
        .or_else(|e| fail(format!("trust.{}", e.key), e.message))?;
    let renew = cfg.runtime.renew_ms;
    if t.lifetime_ms < 3 * renew {
        return fail(
            "trust.lifetime_ms",
            format!(
                "must be at least 3 × runtime.renew_ms ({} ms) so a renewal always lands \
                 before expiry, got {}",
                3 * renew,
                t.lifetime_ms
            ),
        );
    }
    Ok(())
}

fn servo(cfg: &Config) -> Check {
    let s = &cfg.servo;
    if !SERVO_NAMES.contains(&s.algorithm.as_str()) {
        return fail(
            "servo.algorithm",
            format!(
                "unknown servo {:?} (known: {})",
                s.algorithm,
                SERVO_NAMES.join(", ")
            ),
        );
    }
    range_i(
        "servo.step_threshold_ns",
        s.step_threshold_ns,
        0,
        NANOS_PER_SEC,
        " ns",
    )?;
    range_f("servo.max_freq_ppb", s.max_freq_ppb, 1_000.0, 1_000_000.0)?;
    range_i(
        "servo.stable_threshold_ns",
        s.stable_threshold_ns,
        1,
        NANOS_PER_SEC,
        " ns",
    )?;
    range_i("servo.stable_count", s.stable_count, 1, 100_000, "")
}

fn reference(i: usize, r: &super::ReferenceSection) -> Check {
    let key = |k: &str| format!("reference[{i}].{k}");
    range_i(&key("interval_s"), r.interval_s, 1, 86_400, " s")?;
    range_i(&key("timeout_ms"), r.timeout_ms, 10, 60_000, " ms")?;
    if r.timeout_ms > r.interval_s * 1_000 {
        return fail(key("timeout_ms"), "must not exceed interval_s");
    }
    if r.ca_file.is_some() && r.kind != ReferenceKind::Nts {
        return fail(key("ca_file"), "only an nts reference takes a CA file");
    }
    match r.kind {
        ReferenceKind::Nts => {
            if r.address.is_empty() || r.address.contains(char::is_whitespace) {
                return fail(
                    key("address"),
                    "needs the NTS-KE server as host or host:port",
                );
            }
            if let Some((_, port)) = r.address.rsplit_once(':') {
                if !r.address.starts_with('[') && r.address.matches(':').count() == 1 {
                    port.parse::<u16>().map_err(|_| {
                        (
                            key("address"),
                            format!("bad port {port:?} in {:?}", r.address),
                        )
                    })?;
                }
            }
            Ok(())
        }
        ReferenceKind::Ntp | ReferenceKind::Gpsd => {
            r.address.parse::<SocketAddr>().map(|_| ()).map_err(|_| {
                (
                    key("address"),
                    format!(
                        "needs IP:port (names are not resolved on the clock thread), got {:?}",
                        r.address
                    ),
                )
            })
        }
        ReferenceKind::Shm => range_i(&key("unit"), r.unit, 0, 255, ""),
    }
}

fn other(cfg: &Config) -> Check {
    if cfg.leap.window_ms.is_some() {
        return fail(
            "leap.window_ms",
            "replaced by leap.window_before_ms and leap.window_after_ms, both measured from the \
             leap's UTC midnight (defaults 2000 and 1000); the old value W means before = W + 1000, \
             after = W",
        );
    }
    range_i("leap.lead_s", cfg.leap.lead_s, 60, 31 * 86_400, " s")?;
    let (before, after) = (cfg.leap.window_before_ms, cfg.leap.window_after_ms);
    range_i("leap.window_before_ms", before, 0, 60_000, " ms")?;
    range_i("leap.window_after_ms", after, 0, 60_000, " ms")?;
    if cfg.shm.path.as_os_str().is_empty() || cfg.shm.path.file_name().is_none() {
        return fail("shm.path", "must name a file, e.g. /run/ppsd/state");
    }
    for (key, id) in [
        ("shm.pulse_source_id", &cfg.shm.pulse_source_id),
        ("shm.reference_id", &cfg.shm.reference_id),
    ] {
        if let Err(e) = ppsd_shm::Ident::new(id) {
            return fail(key, e.to_string());
        }
    }
    if !cfg.http.listen.is_empty() && cfg.http.listen.parse::<SocketAddr>().is_err() {
        return fail(
            "http.listen",
            format!("needs ADDR:PORT, got {:?}", cfg.http.listen),
        );
    }
    let r = &cfg.runtime;
    range_i("runtime.renew_ms", r.renew_ms, 50, 1_000, " ms")?;
    range_i("runtime.sched_priority", r.sched_priority, 0, 99, "")?;
    for cpu in &r.cpu_affinity {
        range_i("runtime.cpu_affinity", *cpu, 0, 1023, "")?;
    }
    Ok(())
}

fn signserver(s: &super::SignServerSection) -> Check {
    if s.endpoint.is_empty() {
        return Ok(());
    }
    let rest = s
        .endpoint
        .strip_prefix("https://")
        .or_else(|| s.endpoint.strip_prefix("http://"));
    let host = rest.map_or("", |r| r.split(['/', '?', '#']).next().unwrap_or(""));
    if host.is_empty()
        || s.endpoint
            .contains(|c: char| c.is_whitespace() || c.is_control())
    {
        return fail(
            "signserver.endpoint",
            format!(
                "needs an http:// or https:// URL such as \
                 http://localhost:8080/signserver/process, got {:?}",
                s.endpoint
            ),
        );
    }
    if s.worker_name.is_empty()
        || s.worker_name
            .contains(|c: char| c.is_control() || c > '\u{ff}')
    {
        return fail(
            "signserver.worker_name",
            "must name the worker in ISO-8859-1 text without control characters",
        );
    }
    for (key, p) in [
        ("signserver.insync_property", &s.insync_property),
        ("signserver.leap_property", &s.leap_property),
    ] {
        if p.is_empty() || !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return fail(
                key,
                format!("must be a status property name (A-Z, 0-9, _), got {p:?}"),
            );
        }
    }
    if s.insync_property == s.leap_property {
        return fail(
            "signserver.leap_property",
            "must differ from insync_property",
        );
    }
    range_i("signserver.interval_ms", s.interval_ms, 50, 10_000, " ms")?;
    range_i(
        "signserver.status_expire_ms",
        s.status_expire_ms,
        100,
        3_600_000,
        " ms",
    )?;
    range_i(
        "signserver.leap_expire_ms",
        s.leap_expire_ms,
        1_000,
        86_400_000,
        " ms",
    )?;
    range_i("signserver.timeout_ms", s.timeout_ms, 10, 60_000, " ms")?;
    if s.interval_ms >= s.status_expire_ms {
        return fail(
            "signserver.interval_ms",
            format!(
                "must be below status_expire_ms ({} ms) so an update lands before the last \
                 one expires, got {}",
                s.status_expire_ms, s.interval_ms
            ),
        );
    }
    if s.timeout_ms >= s.status_expire_ms {
        return fail(
            "signserver.timeout_ms",
            format!(
                "must be below status_expire_ms ({} ms), got {}",
                s.status_expire_ms, s.timeout_ms
            ),
        );
    }
    let https = s.endpoint.starts_with("https://");
    for (key, f) in [
        ("signserver.ca_file", &s.ca_file),
        ("signserver.client_cert", &s.client_cert),
        ("signserver.client_key", &s.client_key),
    ] {
        if f.is_some() && !https {
            return fail(key, "only an https:// endpoint uses TLS files");
        }
    }
    match (&s.client_cert, &s.client_key) {
        (Some(_), None) => fail("signserver.client_cert", "needs client_key as well"),
        (None, Some(_)) => fail("signserver.client_key", "needs client_cert as well"),
        _ => Ok(()),
    }
}
