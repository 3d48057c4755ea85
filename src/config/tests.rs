//! Tests of configuration parsing: defaults, the shipped file, and one-line errors naming
//! file, line, key and reason.

use super::*;

fn err(text: &str) -> String {
    parse("ppsd.toml", text).unwrap_err().to_string()
}

#[test]
fn empty_file_gives_every_default() {
    let cfg = parse("ppsd.toml", "").unwrap();
    assert_eq!(cfg, Config::default());
    let mut e = cfg.engine();
    // The one default the daemon chooses apart from the engine's (simulator's): the declared
    // accuracy.
    assert_eq!(e.trust.declared_accuracy_ns, 100_000_000);
    e.trust.declared_accuracy_ns = EngineConfig::default().trust.declared_accuracy_ns;
    assert_eq!(
        e,
        EngineConfig::default(),
        "defaults match the engine's own"
    );
    assert_eq!(cfg.shm.path, PathBuf::from("/run/ppsd/state"));
    assert_eq!(cfg.runtime.renew_ms, 250);
}

#[test]
fn shipped_default_config_parses_to_the_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/ppsd.toml");
    let cfg = load(&path).unwrap();
    let expected = Config {
        reference: cfg.reference.clone(),
        ..Config::default()
    };
    assert_eq!(
        cfg, expected,
        "etc/ppsd.toml sets only defaults besides its references"
    );
}

#[test]
fn effective_config_round_trips_through_toml() {
    let text = "[trust]\ndeclared_accuracy_ns = 100_000\n[[reference]]\nkind = \"ntp\"\n\
                address = \"127.0.0.1:123\"\n[log]\nformat = \"json\"\n";
    let cfg = parse("a.toml", text).unwrap();
    assert_eq!(cfg.engine().trust.declared_accuracy_ns, 100_000);
    let again = parse("b.toml", &cfg.to_toml()).unwrap();
    assert_eq!(again, cfg);
}

#[test]
fn accuracy_above_one_second_names_file_line_and_key() {
    let e = err("# comment\n[trust]\nk_sigma = 4.0\ndeclared_accuracy_ns = 2_000_000_000\n");
    assert!(
        e.starts_with("ppsd.toml:4: trust.declared_accuracy_ns: ") && e.contains("above 1 s"),
        "{e}"
    );
}

#[test]
fn unknown_key_is_an_error_on_its_line() {
    let e = err("[pps]\ndevice = \"/dev/pps1\"\ndelay_nss = 5\n");
    assert!(
        e.starts_with("ppsd.toml:3: pps.delay_nss: unknown field"),
        "{e}"
    );
    let e = err("[ppss]\n");
    assert!(e.starts_with("ppsd.toml:1: "), "{e}");
    assert!(e.contains("unknown field `ppss`"), "{e}");
}

#[test]
fn wrong_type_names_the_key() {
    let e = err("[runtime]\nrenew_ms = \"fast\"\n");
    assert!(
        e.starts_with("ppsd.toml:2: runtime.renew_ms: invalid type"),
        "{e}"
    );
    let e = err("[pps]\nedge = \"both\"\n");
    assert!(
        e.starts_with("ppsd.toml:2: pps.edge: unknown variant"),
        "{e}"
    );
}

#[test]
fn syntax_error_is_one_line() {
    let e = err("[trust\nx = 1\n");
    assert!(e.starts_with("ppsd.toml:1: "), "{e}");
    assert!(!e.contains('\n'), "{e}");
}

#[test]
fn reference_errors_name_the_entry() {
    let text = "[[reference]]\nkind = \"nts\"\naddress = \"time.example\"\n\n\
                [[reference]]\nkind = \"ntp\"\naddress = \"pool.example:123\"\n";
    let e = err(text);
    assert!(
        e.starts_with("ppsd.toml:7: reference[1].address: needs IP:port"),
        "{e}"
    );
    let e = err("[[reference]]\nkind = \"ntp\"\naddress = \"127.0.0.1:123\"\ninterval_s = 0\n");
    assert!(
        e.starts_with("ppsd.toml:4: reference[0].interval_s: must be between 1"),
        "{e}"
    );
}

#[test]
fn a_default_that_conflicts_points_at_the_table() {
    // renew_ms 1000 needs lifetime >= 3000; lifetime_ms is left at its default (1500).
    let e = err("[trust]\nwarn_fraction = 0.5\n[runtime]\nrenew_ms = 1000\n");
    assert!(
        e.starts_with("ppsd.toml:1: trust.lifetime_ms: must be at least 3"),
        "{e}"
    );
}

#[test]
fn other_range_errors() {
    assert!(err("[servo]\nalgorithm = \"pid\"\n").starts_with("ppsd.toml:2: servo.algorithm:"));
    assert!(err("[shm]\npulse_source_id = \"ü\"\n").contains("shm.pulse_source_id"));
    assert!(err("[http]\nlisten = \"localhost\"\n").contains("http.listen: needs ADDR:PORT"));
    assert!(err("[runtime]\nsched_priority = 100\n").contains("runtime.sched_priority"));
    assert!(err("[trust]\nk_sigma = nan\n").contains("trust.k_sigma"));
    assert!(err("[runtime]\nkernel_poll_margin = 0\n")
        .starts_with("ppsd.toml:2: runtime.kernel_poll_margin: must be between 0.01 and 1"));
}

#[test]
fn unreadable_file_is_one_line() {
    let e = load(Path::new("/nonexistent/ppsd.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("/nonexistent/ppsd.toml: "), "{e}");
    let e = load(Path::new("/")).unwrap_err().to_string();
    assert_eq!(e, "/: not a regular file");
}

#[test]
fn reload_tells_which_keys_need_a_restart() {
    let a = Config::default();
    let mut b = a.clone();
    b.leap.window_after_ms = 5;
    b.log.level = LogLevel::Debug;
    assert!(a.restart_only_changes(&b).is_empty());
    b.trust.declared_accuracy_ns = 5;
    b.log.format = LogFormat::Json;
    assert_eq!(a.restart_only_changes(&b), vec!["[trust]", "log.format"]);
}

#[test]
fn leap_window_ms_is_refused_naming_its_replacements() {
    let e = err("[leap]\nfile = \"\"\nwindow_ms = 1000\n");
    assert!(e.starts_with("ppsd.toml:3:"), "{e}");
    assert!(e.contains("leap.window_ms"), "{e}");
    assert!(
        e.contains("window_before_ms") && e.contains("window_after_ms"),
        "{e}"
    );
    let e = err("[leap]\nwindow_after_ms = 60001\n");
    assert!(
        e.contains("leap.window_after_ms") && e.contains("60000"),
        "{e}"
    );
    let e = err("[leap]\nlead_s = 10\n");
    assert!(e.contains("leap.lead_s"), "{e}");
    let cfg = parse(
        "ppsd.toml",
        "[leap]\nlead_s = 3600\nwindow_before_ms = 500\n",
    )
    .unwrap();
    assert_eq!(cfg.engine().leap_lead_s, 3_600);
    assert_eq!(cfg.leap.window_before_ms, 500);
}
