//! Second verification against a real chronyd on loopback: references configured as the
//! daemon reads them (`[verify] require = "nts"`, an NTS and an NTP source to the same
//! chronyd) are serviced by the daemon's own glue (`daemon::refs`), and their samples go to an
//! engine with that policy. With both sources the NTS answer verifies the seconds and the
//! state reaches INSYNC; when the NTS source cannot be used (its CA does not sign chronyd's
//! certificate) the NTP answers alone never verify.
//!
//! chronyd runs with `-x` (it never touches the clock) on free loopback ports. The engine is
//! driven with a virtual clock's pulses (`verify_util::Rig`): its actions are applied to that
//! clock only; the host clock is only read, by the clients, to measure chronyd's offset.

mod ref_util;
mod verify_util;

use std::time::{Duration, Instant};

use ppsd::config::{self, Config};
use ppsd::daemon::refs::{RefOutcome, References};
use ppsd::engine::{EngineEvent, Reason, SyncState};
use ref_util::{test_pki, Chrony, TempDir};
use verify_util::Rig;

/// What came of servicing the references.
#[derive(Default)]
struct Seen {
    ntp: usize,
    nts: usize,
    nts_authenticated: usize,
    problems: Vec<String>,
    /// The engine had verified before any NTS sample reached it.
    verified_without_nts: bool,
}

fn config(chrony: &Chrony, ca: &std::path::Path) -> Config {
    let text = format!(
        "[verify]\nrequire = \"nts\"\n\n\
         [[reference]]\nkind = \"nts\"\naddress = \"127.0.0.1:{ke}\"\nca_file = \"{ca}\"\n\
         interval_s = 1\ntimeout_ms = 500\n\n\
         [[reference]]\nkind = \"ntp\"\naddress = \"{ntp}\"\ninterval_s = 1\ntimeout_ms = 500\n",
        ke = chrony.ke_port,
        ca = ca.display(),
        ntp = chrony.ntp,
    );
    config::parse("verify.toml", &text).unwrap()
}

/// Services the references of `cfg` for at most `limit`, handing each sample to `rig`
/// followed by one pulse, until `done` holds.
fn drive(
    chrony: &mut Chrony,
    cfg: &Config,
    rig: &mut Rig,
    limit: Duration,
    done: impl Fn(&Seen, &Rig) -> bool,
) -> Seen {
    let mut poll = mio::Poll::new().unwrap();
    let mut events = mio::Events::with_capacity(8);
    let mut refs = References::new(&cfg.reference, Instant::now());
    let mut out = Vec::new();
    let mut seen = Seen::default();
    let end = Instant::now() + limit;
    let agreed = |rig: &Rig| rig.events.contains(&EngineEvent::ReferenceAgrees);
    while Instant::now() < end && !done(&seen, rig) {
        chrony.server.assert_running();
        let wait = refs
            .next_due()
            .map_or(Duration::from_millis(100), |t| {
                t.saturating_duration_since(Instant::now())
            })
            .min(Duration::from_millis(100));
        poll.poll(&mut events, Some(wait)).unwrap();
        refs.service(Instant::now(), poll.registry(), &mut out);
        for o in out.drain(..) {
            match o {
                RefOutcome::Sample(tod, name) => {
                    println!(
                        "{name}: offset {} ns, authenticated {}",
                        tod.offset_ns, tod.authenticated
                    );
                    assert_eq!(name, refs.names()[usize::from(tod.source)]);
                    if name.starts_with("nts:") {
                        seen.nts += 1;
                        seen.nts_authenticated += usize::from(tod.authenticated);
                    } else {
                        seen.ntp += 1;
                        assert!(
                            !tod.authenticated,
                            "{name}: plain NTP is never authenticated"
                        );
                    }
                    rig.reading(tod);
                    if seen.nts == 0 && agreed(rig) {
                        seen.verified_without_nts = true;
                    }
                    rig.run(1);
                }
                RefOutcome::Problem(p) => seen.problems.push(p),
            }
        }
    }
    refs.close(poll.registry());
    seen
}

#[test]
fn nts_required_verifies_with_nts_and_never_on_ntp_alone() {
    let mut chrony = Chrony::start();

    // NTS and NTP: the policy is met by the NTS answer.
    let cfg = config(&chrony, &chrony.ca.clone());
    let mut rig = Rig::new(&cfg);
    rig.run(30);
    assert_eq!(
        rig.state(),
        (SyncState::Unknown, Reason::SecondsUnverified),
        "pulses alone never verify"
    );
    let seen = drive(
        &mut chrony,
        &cfg,
        &mut rig,
        Duration::from_secs(30),
        |s, r| {
            s.nts_authenticated >= 1
                && s.ntp >= 1
                && r.events.contains(&EngineEvent::ReferenceAgrees)
        },
    );
    assert!(
        seen.nts_authenticated >= 1 && seen.ntp >= 1,
        "nts {} (authenticated {}), ntp {}, problems {:?}\n{}",
        seen.nts,
        seen.nts_authenticated,
        seen.ntp,
        seen.problems,
        chrony.server.log()
    );
    assert!(!seen.verified_without_nts, "NTP verified on its own");
    assert!(rig.events.contains(&EngineEvent::ReferenceAgrees));
    rig.run(15);
    assert_eq!(rig.state().0, SyncState::InSync);

    // The NTS source's CA does not sign chronyd's certificate: only NTP answers.
    let other = TempDir::new("ppsd-verify-other-ca");
    let cfg = config(&chrony, &test_pki(other.path(), "other").ca);
    let mut rig = Rig::new(&cfg);
    rig.run(30);
    let seen = drive(
        &mut chrony,
        &cfg,
        &mut rig,
        Duration::from_secs(20),
        |s, _| s.ntp >= 5 && !s.problems.is_empty(),
    );
    println!("problems: {:?}", seen.problems);
    assert!(
        seen.ntp >= 5,
        "ntp {} problems {:?}",
        seen.ntp,
        seen.problems
    );
    assert_eq!(seen.nts, 0);
    assert!(
        seen.problems
            .iter()
            .any(|p| p.starts_with("nts:") && p.contains("TLS")),
        "{:?}",
        seen.problems
    );
    rig.run(30);
    assert!(!rig.events.contains(&EngineEvent::ReferenceAgrees));
    assert_eq!(rig.state(), (SyncState::Unknown, Reason::SecondsUnverified));
}
