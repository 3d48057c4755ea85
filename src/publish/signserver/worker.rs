//! The SignServer client thread. The daemon loop hands it each published state and event
//! line through a one-slot mailbox that keeps only the newest state (a mutex held for a copy,
//! never across I/O, and a condvar); the thread POSTs an update on every change of the sync or
//! leap state and at least every `interval_ms`, over HTTP or HTTPS (rustls: a configured CA
//! file or the system's roots, optionally a client certificate), with connect and whole
//! request timeouts below the status expiry. Its last result goes back through a mutex the
//! loop only `try_lock`s.
//!
//! It never reads or adjusts a clock the engine uses: the state carries its REALTIME with the
//! host's CLOCK_MONOTONIC of the same instant, and the thread reads only CLOCK_MONOTONIC, for
//! its own timing. Failures are logged once per change of the report state, not per attempt.
//! On a clean stop it sends one last `false`. A failing or hanging SignServer never delays the
//! loop and never changes the engine's state.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing::{info, warn};

use super::{event_line, tls, Composer, Settings, Snapshot, LOG_LINES};
use crate::config::SignServerSection;
use crate::engine::{EngineEvent, LeapState, Stamp, TrustState};
use crate::publish::timemonitor::ReportState;
use crate::sys::clock::ClockId;
use crate::time::Timestamp;

/// Largest response body read (and discarded), bytes.
const MAX_RESPONSE: u64 = 64 * 1024;

/// The worker's last result, for `/state`, `/status` and `/metrics`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report {
    /// TimeMonitor's report state of the last attempt (FAILED_TO_REPORT before the first).
    pub state: ReportState,
    /// How long the last attempt took, ns.
    pub took_ns: i64,
    /// Attempts made.
    pub attempts: u64,
    /// Attempts that failed (no answer, or an answer other than 200).
    pub failures: u64,
    /// Host CLOCK_MONOTONIC at the end of the last attempt, ns (0 before the first).
    pub last_mono_ns: i64,
}

impl Default for Report {
    fn default() -> Report {
        Report {
            state: ReportState::FailedToReport,
            took_ns: 0,
            attempts: 0,
            failures: 0,
            last_mono_ns: 0,
        }
    }
}

#[derive(Default)]
struct Slot {
    snap: Option<Snapshot>,
    log: VecDeque<String>,
    log_seq: u64,
    stop: bool,
}

struct Shared {
    slot: Mutex<Slot>,
    wake: Condvar,
    result: Mutex<Report>,
}

/// The loop's handle on the worker thread.
pub struct SignServerPublisher {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// A result older than this (ns) means the worker is stuck: FAILED_TO_REPORT.
    stale_ns: i64,
}

fn host_mono_ns() -> i64 {
    ClockId::Monotonic.now().as_ns()
}

impl SignServerPublisher {
    /// Starts the worker for `cfg` (whose endpoint is set), reading its PEM files now.
    ///
    /// # Errors
    /// One line naming the key and file that could not be used, or the thread not starting.
    pub fn start(cfg: &SignServerSection) -> Result<SignServerPublisher, String> {
        let timeout = Duration::from_millis(cfg.timeout_ms.max(1) as u64);
        let mut agent = ureq::AgentBuilder::new()
            .timeout_connect(timeout)
            .timeout(timeout)
            .redirects(0)
            .user_agent(concat!("ppsd/", env!("CARGO_PKG_VERSION")));
        if cfg.endpoint.starts_with("https://") {
            agent = agent.tls_config(tls::client_config(cfg)?);
        }
        let job = Job {
            agent: agent.build(),
            endpoint: cfg.endpoint.clone(),
            interval_ns: cfg.interval_ms.saturating_mul(1_000_000),
            composer: Composer::new(cfg.settings()),
        };
        let shared = Arc::new(Shared {
            slot: Mutex::new(Slot::default()),
            wake: Condvar::new(),
            result: Mutex::new(Report::default()),
        });
        let for_thread = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("ppsd-signserver".into())
            .spawn(move || job.run(&for_thread))
            .map_err(|e| format!("signserver: cannot start the client thread: {e}"))?;
        info!(event = "signserver_start", endpoint = %cfg.endpoint,
            worker = %cfg.worker_name, "reporting the state to SignServer");
        Ok(SignServerPublisher {
            shared,
            thread: Some(thread),
            stale_ns: (cfg.interval_ms + cfg.timeout_ms + 1_000).saturating_mul(1_000_000),
        })
    }

    /// Hands the worker the state just published at `at` (host monotonic `host_ns`), with
    /// the leap state the record shows and the `/state` line. Replaces any state it has not
    /// sent yet; never waits for I/O.
    pub fn publish(
        &self,
        ts: &TrustState,
        leap: LeapState,
        at: Stamp,
        host_ns: i64,
        line: &dyn std::fmt::Display,
    ) {
        use std::fmt::Write;
        let valid_until_real = at
            .real
            .add_ns(ts.valid_until_mono_ns.saturating_sub(at.mono_ns));
        let mut slot = self
            .shared
            .slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let log_seq = slot.log_seq;
        let fresh_log = slot.snap.as_ref().map_or(true, |s| s.log_seq != log_seq);
        let log: Arc<[String]> = match (&slot.snap, fresh_log) {
            (Some(s), false) => Arc::clone(&s.log),
            _ => slot.log.iter().cloned().collect(),
        };
        let snap = slot.snap.get_or_insert_with(|| Snapshot {
            state: ts.state,
            leap,
            real: at.real,
            host_mono_ns: host_ns,
            valid_until_real,
            state_line: String::with_capacity(96),
            log: Arc::clone(&log),
            log_seq,
        });
        snap.state = ts.state;
        snap.leap = leap;
        snap.real = at.real;
        snap.host_mono_ns = host_ns;
        snap.valid_until_real = valid_until_real;
        snap.log = log;
        snap.log_seq = log_seq;
        snap.state_line.clear();
        let _ = write!(snap.state_line, "{line}");
        let trimmed = snap.state_line.trim_end().len();
        snap.state_line.truncate(trimmed);
        drop(slot);
        self.shared.wake.notify_one();
    }

    /// Adds one event line (sent with the next update).
    pub fn event(&self, at: Timestamp, e: &EngineEvent) {
        let line = event_line(at, e);
        let mut slot = self
            .shared
            .slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if slot.log.len() == LOG_LINES {
            slot.log.pop_front();
        }
        slot.log.push_back(line);
        slot.log_seq += 1;
    }

    /// The worker's last result at host monotonic `now_ns`, unless the worker holds it at
    /// this instant. FAILED_TO_REPORT, whatever the last attempt gave, once the worker has
    /// ended or made no attempt for longer than an interval, a timeout and a second.
    pub fn report(&self, now_ns: i64) -> Option<Report> {
        let mut r = *self.shared.result.try_lock().ok()?;
        let ended = self.thread.as_ref().map_or(true, JoinHandle::is_finished);
        if ended || (r.attempts > 0 && now_ns.saturating_sub(r.last_mono_ns) > self.stale_ns) {
            r.state = ReportState::FailedToReport;
        }
        Some(r)
    }
}

impl Drop for SignServerPublisher {
    /// Stops the worker (after its request in flight, at most the timeout) and joins it.
    fn drop(&mut self) {
        self.shared
            .slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stop = true;
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl SignServerSection {
    /// What the updates say, from this section.
    pub fn settings(&self) -> Settings {
        Settings {
            worker_name: self.worker_name.clone(),
            insync_property: self.insync_property.clone(),
            leap_property: self.leap_property.clone(),
            status_expire_ms: self.status_expire_ms,
            leap_expire_ms: self.leap_expire_ms,
        }
    }
}

/// The thread's side.
struct Job {
    agent: ureq::Agent,
    endpoint: String,
    interval_ns: i64,
    composer: Composer,
}

impl Job {
    fn run(mut self, shared: &Shared) {
        let mut attempted: Option<(crate::engine::SyncState, LeapState)> = None;
        let mut next_due = i64::MIN;
        let mut report = Report::default();
        let mut failing_since_ok = false;
        loop {
            let Some(snap) = self.wait(shared, attempted, next_due) else {
                self.farewell(shared);
                return;
            };
            let start = host_mono_ns();
            attempted = Some((snap.state, snap.leap));
            next_due = start.saturating_add(self.interval_ns);
            let update = self.composer.compose(&snap, snap.real_at(start));
            let outcome = self.send(&update.body);
            let end = host_mono_ns();
            report.attempts += 1;
            report.took_ns = end - start;
            report.last_mono_ns = end;
            let before = report.state;
            report.state = match &outcome {
                Err(_) => {
                    report.failures += 1;
                    if update.with_log {
                        self.composer.resend_log();
                    }
                    ReportState::FailedToReport
                }
                Ok(()) => {
                    let half = self.composer.settings().status_expire_ms * 1_000_000 / 2;
                    let left_ms = update.expiration_ms - super::unix_ms(snap.real_at(end));
                    if report.took_ns > half || (update.insync && left_ms * 1_000_000 < half) {
                        ReportState::ReportedButExpireTimeShort
                    } else {
                        ReportState::Reported
                    }
                }
            };
            *shared.result.lock().unwrap_or_else(PoisonError::into_inner) = report;
            if before != report.state || report.attempts == 1 {
                match &outcome {
                    Err(why) => {
                        failing_since_ok = true;
                        warn!(event = "signserver_report", report = report.state.as_str(),
                            endpoint = %self.endpoint, "report to SignServer failed: {why}");
                    }
                    Ok(()) => {
                        let again = if failing_since_ok { " again" } else { "" };
                        failing_since_ok = false;
                        info!(
                            event = "signserver_report",
                            report = report.state.as_str(),
                            took_ms = report.took_ns / 1_000_000,
                            "reporting to SignServer{again}: {}",
                            report.state.as_str()
                        );
                    }
                }
            }
        }
    }

    /// On a clean stop: one last update saying `false` (UNKNOWN, as the record says once
    /// closed), so signers stop now rather than when the last `true` expires.
    fn farewell(&mut self, shared: &Shared) {
        let last = shared
            .slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .snap
            .clone();
        let Some(mut snap) = last else { return };
        snap.state = crate::engine::SyncState::Unknown;
        if let Some((_, rest)) = snap.state_line.split_once(',') {
            let rest = rest.split_once(',').map_or("", |(_, r)| r);
            snap.state_line = format!("0,UNKNOWN,{rest}");
        }
        let update = self.composer.compose(&snap, snap.real_at(host_mono_ns()));
        match self.send(&update.body) {
            Ok(()) => info!(
                event = "signserver_report",
                "told SignServer: not in sync (stopping)"
            ),
            Err(why) => {
                warn!(event = "signserver_report",
                "could not tell SignServer before stopping: {why}; its status expires by itself")
            }
        }
    }

    /// Waits until an update is due: the sync or leap state differs from the last attempt,
    /// or `next_due` (host monotonic) has come. None when asked to stop.
    fn wait(
        &self,
        shared: &Shared,
        attempted: Option<(crate::engine::SyncState, LeapState)>,
        next_due: i64,
    ) -> Option<Snapshot> {
        let mut slot = shared.slot.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if slot.stop {
                return None;
            }
            let now = host_mono_ns();
            let wait_ns = match &slot.snap {
                Some(s) if attempted != Some((s.state, s.leap)) || now >= next_due => {
                    return Some(s.clone());
                }
                Some(_) => next_due - now,
                None => 1_000_000_000,
            };
            slot = shared
                .wake
                .wait_timeout(slot, Duration::from_nanos(wait_ns.max(1) as u64))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// POSTs `body`; Ok only for a 200 answer.
    fn send(&self, body: &str) -> Result<(), String> {
        let sent = self
            .agent
            .post(&self.endpoint)
            .set("Content-Type", "application/x-www-form-urlencoded")
            .send_string(body);
        match sent {
            Ok(resp) if resp.status() == 200 => {
                // Read the (small) answer so the connection can be reused.
                let mut sink = Vec::new();
                let _ = resp.into_reader().take(MAX_RESPONSE).read_to_end(&mut sink);
                Ok(())
            }
            Ok(resp) => Err(format!("HTTP {} {}", resp.status(), resp.status_text())),
            Err(ureq::Error::Status(code, resp)) => {
                Err(format!("HTTP {code} {}", resp.status_text()))
            }
            Err(ureq::Error::Transport(t)) => Err(t.to_string()),
        }
    }
}
