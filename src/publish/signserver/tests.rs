use super::*;

/// 2026-06-30T23:59:30Z, thirty seconds before a leap second.
const NEAR_LEAP: i64 = 1_782_863_970;
/// 2026-01-01T12:00:00Z.
const NOON: i64 = 1_767_268_800;
const MS: i64 = 1_000_000;

fn snap(state: SyncState, leap: LeapState, at_s: i64, valid_ms: i64) -> Snapshot {
    let real = Timestamp::new(at_s, 250 * MS);
    Snapshot {
        state,
        leap,
        real,
        host_mono_ns: 5_000 * MS,
        valid_until_real: real.add_ns(valid_ms * MS),
        state_line: "1767268800250,INSYNC,REPORTED,NONE,1ccdf46b,1,11,0,1".into(),
        log: Arc::from(Vec::<String>::new()),
        log_seq: 0,
    }
}

fn text(u: &Update) -> String {
    String::from_utf8(u.data.clone()).unwrap()
}

#[test]
fn insync_true_with_expiration_capped_by_status_expire() {
    let mut c = Composer::new(Settings::default());
    let s = snap(SyncState::InSync, LeapState::None, NOON, 1_500);
    let now = s.real.add_ns(7 * MS + 900_000);
    let u = c.compose(&s, now);
    let now_ms = NOON * 1_000 + 257;
    assert!(u.insync);
    assert_eq!(u.expiration_ms, now_ms + 900, "now + status_expire_ms");
    assert_eq!(
        text(&u),
        format!(
            "TIMESOURCE0_INSYNC.VALUE=true\nTIMESOURCE0_INSYNC.EXPIRATION={}\n\
             LEAPSECOND.VALUE=NONE\nLEAPSECOND.EXPIRATION={}\n\
             TIMEMONITOR_STATE.VALUE={now_ms},INSYNC,REPORTED,NONE,1ccdf46b,1,11,0,1\n",
            now_ms + 900,
            now_ms + 60_000
        )
    );
}

#[test]
fn expiration_never_after_valid_until() {
    let mut c = Composer::new(Settings::default());
    // The state is valid for 400 ms more: the expiration is its end, rounded down.
    let mut s = snap(SyncState::SoonOutOfSync, LeapState::None, NOON, 400);
    s.valid_until_real = s.valid_until_real.add_ns(999_999);
    let u = c.compose(&s, s.real);
    assert!(u.insync, "SOON_OUT_OF_SYNC is still true");
    assert_eq!(u.expiration_ms, NOON * 1_000 + 250 + 400);
    // Once the validity has run out, false with 0, whatever the state said.
    let u = c.compose(&s, s.real.add_ns(401 * MS));
    assert!(!u.insync);
    assert_eq!(u.expiration_ms, 0);
    assert!(
        text(&u).starts_with("TIMESOURCE0_INSYNC.VALUE=false\nTIMESOURCE0_INSYNC.EXPIRATION=0\n")
    );
}

#[test]
fn out_of_sync_and_unknown_are_false_with_zero() {
    let mut c = Composer::new(Settings::default());
    for state in [SyncState::OutOfSync, SyncState::Unknown] {
        let s = snap(state, LeapState::None, NOON, 1_500);
        let u = c.compose(&s, s.real);
        assert!(!u.insync);
        assert_eq!(u.expiration_ms, 0);
        assert!(text(&u).contains("TIMESOURCE0_INSYNC.VALUE=false\n"));
        assert!(text(&u).contains("TIMESOURCE0_INSYNC.EXPIRATION=0\n"));
    }
}

#[test]
fn unknown_leap_is_omitted_others_sent_with_their_expiry() {
    let settings = Settings {
        leap_expire_ms: 5_000,
        insync_property: "TIMESOURCE1_INSYNC".into(),
        leap_property: "LEAP1".into(),
        ..Settings::default()
    };
    let mut c = Composer::new(settings);
    let s = snap(SyncState::InSync, LeapState::Unknown, NOON, 1_500);
    let u = c.compose(&s, s.real);
    assert_eq!(u.leap, None);
    assert!(!text(&u).contains("LEAP1"), "{}", text(&u));
    assert!(text(&u).contains("TIMESOURCE1_INSYNC.VALUE=true\n"));
    for (l, name) in [
        (LeapState::Positive, "POSITIVE"),
        (LeapState::Negative, "NEGATIVE"),
        (LeapState::None, "NONE"),
    ] {
        let s = snap(SyncState::InSync, l, NOON, 1_500);
        let u = c.compose(&s, s.real);
        assert!(text(&u).contains(&format!(
            "LEAP1.VALUE={name}\nLEAP1.EXPIRATION={}\n",
            NOON * 1_000 + 250 + 5_000
        )));
    }
}

#[test]
fn leap_back_to_none_near_midnight_is_held_one_round() {
    let mut c = Composer::new(Settings::default());
    let pos = snap(SyncState::InSync, LeapState::Positive, NEAR_LEAP, 1_500);
    assert_eq!(c.compose(&pos, pos.real).leap, Some(LeapState::Positive));
    // 00:00:00.250 after the leap: NONE now, held back once.
    let after = snap(SyncState::InSync, LeapState::None, NEAR_LEAP + 31, 1_500);
    assert_eq!(
        c.compose(&after, after.real).leap,
        Some(LeapState::Positive)
    );
    assert_eq!(c.compose(&after, after.real).leap, Some(LeapState::None));
    assert_eq!(c.compose(&after, after.real).leap, Some(LeapState::None));
    // Away from midnight the change goes through at once.
    let mut c = Composer::new(Settings::default());
    let neg = snap(SyncState::InSync, LeapState::Negative, NOON, 1_500);
    c.compose(&neg, neg.real);
    let none = snap(SyncState::InSync, LeapState::None, NOON + 1, 1_500);
    assert_eq!(c.compose(&none, none.real).leap, Some(LeapState::None));
    // A change to UNKNOWN near midnight is never held: the value disappears.
    let mut c = Composer::new(Settings::default());
    c.compose(&pos, pos.real);
    let unknown = snap(SyncState::InSync, LeapState::Unknown, NEAR_LEAP + 1, 1_500);
    assert_eq!(c.compose(&unknown, unknown.real).leap, None);
}

#[test]
fn log_sent_only_when_changed_and_escaped() {
    let mut c = Composer::new(Settings::default());
    let mut s = snap(SyncState::InSync, LeapState::None, NOON, 1_500);
    s.log = Arc::from(vec![
        "2026-01-01T12:00:00.000000000Z state changed UNKNOWN -> INSYNC".to_string(),
        "x=y: #1 !".to_string(),
    ]);
    s.log_seq = 2;
    let u = c.compose(&s, s.real);
    assert!(u.with_log);
    assert!(text(&u).ends_with(
        "TIMEMONITOR_LOG.VALUE=2026-01-01T12\\:00\\:00.000000000Z state changed UNKNOWN -> \
         INSYNC\\nx\\=y\\: \\#1 \\!\n"
    ));
    let again = c.compose(&s, s.real);
    assert!(!again.with_log);
    assert!(!text(&again).contains("TIMEMONITOR_LOG"));
    c.resend_log();
    assert!(
        c.compose(&s, s.real).with_log,
        "after a failed send it goes again"
    );
    s.log_seq = 3;
    assert!(c.compose(&s, s.real).with_log);
}

#[test]
fn form_body_carries_worker_and_encoded_data() {
    let mut c = Composer::new(Settings::default());
    let s = snap(SyncState::OutOfSync, LeapState::None, NOON, 1_500);
    let u = c.compose(&s, s.real);
    let (worker, data) = u.body.split_once('&').unwrap();
    assert_eq!(worker, "workerName=StatusPropertiesWorker");
    let data = data.strip_prefix("data=").unwrap();
    assert!(
        data.starts_with("TIMESOURCE0_INSYNC.VALUE%3Dfalse%0ATIMESOURCE0_INSYNC.EXPIRATION%3D0%0A")
    );
    let decoded: Vec<u8> = form_urlencoded::parse(format!("d={data}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned().into_bytes())
        .unwrap();
    assert_eq!(decoded, u.data);
}

#[test]
fn real_time_carried_by_monotonic() {
    let s = snap(SyncState::InSync, LeapState::None, NOON, 1_500);
    assert_eq!(
        s.real_at(s.host_mono_ns + 1_750 * MS),
        Timestamp::new(NOON + 2, 0)
    );
}
