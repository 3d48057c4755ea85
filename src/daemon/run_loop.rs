//! The event loop: waits (mio) for signals, clock-change notices and reference sockets, or for
//! the next timer (pulse fetch just after the expected edge, state renewal, reference query,
//! watchdog), then hands what happened to the engine and what the engine asks for to the clock
//! and the publishers.
//!
//! Each engine input is preceded by an adjtimex read (modes 0) handed over as `Input::Kernel`,
//! as the engine's contract asks, so a foreign frequency is found before the engine writes its
//! own. The per-pulse path (fetch, stamp, engine, apply, shm publish) reuses its buffers and
//! never blocks: the fetch has timeout 0, and the shm write is a seqlock store. Logging happens
//! only for events, which are rare.

use std::os::unix::io::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use tracing::{debug, error, info, warn};

use super::edge::EdgeTimer;
use super::leapfile::LeapFile;
use super::ledger::LedgerWriter;
use super::notify::Notifier;
use super::refs::{self, RefOutcome, References};
use super::world::{SourceNote, World};
use super::Options;
use crate::config::{self, Config};
use crate::engine::servo;
use crate::engine::{Action, Engine, EngineEvent, Input, LeapNotice, Stamp, SyncState, TrustState};
use crate::io::{ClockStatus, ClockWrite};
use crate::publish::http::{HttpConfig, HttpServer, Snapshot};
use crate::publish::log as evlog;
use crate::publish::metrics::{Metrics, MetricsConfig};
use crate::publish::shm::{ident_lossy, Clocks, Identity, ShmPublisher};
use crate::publish::signserver::worker::SignServerPublisher;
use crate::publish::status::StatusInfo;
use crate::sys::clock::ClockId;
use crate::time::NANOS_PER_SEC;

const SIGNALS: Token = Token(1);
const WATCH: Token = Token(2);
/// First token of the HTTP server (it takes this one and one per connection).
const HTTP: Token = Token(1000);
/// How often STATUS= is refreshed besides on state changes, ns.
const STATUS_EVERY_NS: i64 = 10 * NANOS_PER_SEC;
/// Clock write failures logged in full before they are only counted.
const WRITE_ERRORS_LOGGED: u64 = 5;
/// How late (ns) the loop's timer may fire after the deadline asked: epoll_wait counts its
/// timeout in whole ms (mio rounds up) and the kernel adds its timer slack (50 µs). The poll
/// rule subtracts it from the interval (`engine::poll`).
const LOOP_LATE_NS: i64 = 1_100_000;

/// Blocks SIGTERM, SIGINT and SIGHUP for this thread (and the threads it will start) and
/// returns a signalfd that reports them. Call before any thread is spawned.
///
/// # Errors
/// One line naming the failed call.
pub fn block_signals() -> Result<SignalFd, String> {
    let mut mask = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        mask.add(s);
    }
    mask.thread_block()
        .map_err(|e| format!("pthread_sigmask: {e}"))?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| format!("signalfd: {e}"))
}

fn host_now() -> i64 {
    ClockId::Monotonic.now().as_ns()
}

/// The loop's state.
pub struct Daemon<W: World> {
    world: W,
    engine: Engine,
    actions: Vec<Action>,
    shm: Option<ShmPublisher>,
    ledger: Option<LedgerWriter>,
    signserver: Option<SignServerPublisher>,
    metrics: Metrics,
    http: Option<HttpServer>,
    /// Names `/status` shows: the pulse source and the reference.
    source_names: (String, String),
    /// Identifier of the configuration in force (`/state`).
    config_version: u32,
    leap: LeapFile,
    /// The leap notice last handed to the engine (`None`: send at the next chance).
    leap_notice: Option<LeapNotice>,
    /// The list's TAI − UTC last handed to the engine (`Input::TaiOffset`).
    tai_sent: Option<Option<i32>>,
    /// The reference whose reading the engine got last (its leap indication is the one used).
    tod_source: String,
    notify: Notifier,
    edge: EdgeTimer,
    refs: Option<References>,
    ref_out: Vec<RefOutcome>,
    cfg: Config,
    config_path: Option<PathBuf>,
    simulated: bool,
    poll: Poll,
    signals: SignalFd,
    start_ns: i64,
    next_fetch: i64,
    next_renew: i64,
    /// Next adjtimex read on its own: nothing but a read reveals a foreign frequency write.
    /// Every read plans it anew from the state then published (`engine::poll`).
    next_kernel_poll: i64,
    next_watchdog: Option<i64>,
    next_status: i64,
    published: Option<TrustState>,
    first_insync: bool,
    write_errors: u64,
    status_buf: String,
}

impl<W: World> Daemon<W> {
    /// A daemon over `world`: creates the record and registers signals and the clock watch.
    ///
    /// # Errors
    /// One line naming what could not be set up.
    pub fn new(mut world: W, opts: Options, signals: SignalFd) -> Result<Daemon<W>, String> {
        let cfg = opts.config;
        let simulated = opts.scenario.is_some();
        let servo = servo::by_name(&cfg.servo.algorithm)
            .ok_or_else(|| format!("servo.algorithm: unknown servo {:?}", cfg.servo.algorithm))?;
        let engine = Engine::new(cfg.engine(), servo);
        let identity = identity(&cfg, opts.scenario.as_ref().map(|s| s.path.as_str()));
        let shm = ShmPublisher::create(&opts.shm_path, identity).map_err(|e| e.to_string())?;
        let poll = Poll::new().map_err(|e| format!("epoll_create: {e}"))?;
        let fd = signals.as_raw_fd();
        poll.registry()
            .register(&mut SourceFd(&fd), SIGNALS, Interest::READABLE)
            .map_err(|e| format!("epoll_ctl signalfd: {e}"))?;
        if let Some(fd) = world.watch_fd() {
            poll.registry()
                .register(&mut SourceFd(&fd), WATCH, Interest::READABLE)
                .map_err(|e| format!("epoll_ctl timerfd: {e}"))?;
        }
        let refs = (!simulated).then(|| References::new(&cfg.reference, Instant::now()));
        if simulated && !cfg.reference.is_empty() {
            info!("--simulate: the configured references are not asked; the simulated world's is");
        }
        for w in config::verify::warnings(&cfg, simulated) {
            warn!(event = "verify_unauthenticated", "{w}");
        }
        if !simulated && cfg.reference.is_empty() {
            warn!("no [[reference]] configured: the seconds cannot be verified, the state stays UNKNOWN");
        }
        let signserver = match cfg.signserver.endpoint.as_str() {
            "" => None,
            _ => Some(SignServerPublisher::start(&cfg.signserver)?),
        };
        let http = match cfg.http.listen.as_str() {
            "" => None,
            listen => {
                let addr = listen
                    .parse()
                    .map_err(|_| format!("http.listen: needs ADDR:PORT, got {listen:?}"))?;
                let server = HttpServer::bind(addr, HttpConfig::default(), poll.registry(), HTTP)?;
                if let Ok(a) = server.local_addr() {
                    info!(event = "http_listening", addr = %a, "serving /metrics, /status, /state");
                }
                Some(server)
            }
        };
        let metrics = Metrics::new(MetricsConfig {
            declared_accuracy_ns: cfg.trust.declared_accuracy_ns,
            ..MetricsConfig::default()
        });
        let source_names = (
            identity.pulse_source_id.as_string(),
            identity.reference_id.as_string(),
        );
        let config_version = config_version(&cfg);
        let leap = LeapFile::load(&cfg.leap.file);
        if let Some(p) = leap.problem() {
            warn!("leap file: {p}; the published leap state is UNKNOWN");
        }
        let notify = Notifier::from_env();
        let ledger = LedgerWriter::start(&opts.ledger_path, world.stamp().0.real)?;
        let now = host_now();
        Ok(Daemon {
            edge: EdgeTimer::new(cfg.pps.edge, cfg.pps.fetch_delay_ms * 1_000_000),
            next_watchdog: notify.watchdog_interval().map(|_| now),
            world,
            engine,
            actions: Vec::with_capacity(32),
            shm: Some(shm),
            ledger: Some(ledger),
            signserver,
            metrics,
            http,
            source_names,
            config_version,
            leap,
            leap_notice: None,
            tai_sent: None,
            tod_source: if simulated {
                "sim:tod".into()
            } else {
                String::new()
            },
            notify,
            refs,
            ref_out: Vec::with_capacity(8),
            config_path: opts.config_path,
            simulated,
            poll,
            signals,
            start_ns: now,
            next_fetch: now,
            next_renew: now,
            next_kernel_poll: now,
            next_status: now + STATUS_EVERY_NS,
            published: None,
            first_insync: false,
            write_errors: 0,
            status_buf: String::with_capacity(64),
            cfg,
        })
    }

    /// Runs until SIGTERM or SIGINT, then shuts down cleanly.
    ///
    /// # Errors
    /// The poller failed.
    pub fn run(&mut self) -> Result<(), String> {
        let path = self.shm.as_ref().map(|s| s.path().display().to_string());
        info!(
            shm = path.as_deref().unwrap_or("-"),
            simulated = self.simulated,
            servo = self.engine.servo_name(),
            "ppsd running"
        );
        // The leap state is known before anything is published.
        self.world.advance(host_now());
        self.send_leap_notice();
        let mut events = Events::with_capacity(16);
        let result = loop {
            let now = host_now();
            let wait = self.next_deadline(now).saturating_sub(now).max(0);
            match self
                .poll
                .poll(&mut events, Some(Duration::from_nanos(wait as u64)))
            {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => break Err(format!("epoll_wait: {e}")),
            }
            let mut stop = false;
            for ev in events.iter() {
                if ev.token() == SIGNALS {
                    stop |= self.read_signals();
                } else if self.http.as_ref().is_some_and(|h| h.owns(ev.token())) {
                    self.serve(ev);
                }
            }
            if stop {
                break Ok(());
            }
            self.step(host_now());
        };
        self.shutdown();
        result
    }

    fn next_deadline(&self, now: i64) -> i64 {
        let mut d = self
            .next_fetch
            .min(self.next_renew)
            .min(self.next_kernel_poll);
        if let Some(w) = self.next_watchdog {
            d = d.min(w);
        }
        if let Some(t) = self.world.next_event_host_ns() {
            d = d.min(t);
        }
        if let Some(t) = self.http.as_ref().and_then(HttpServer::next_deadline) {
            d = d.min(t);
        }
        if let Some(due) = self.refs.as_ref().and_then(References::next_due) {
            let left = due.saturating_duration_since(Instant::now()).as_nanos();
            d = d.min(now.saturating_add(i64::try_from(left).unwrap_or(i64::MAX)));
        }
        d
    }

    /// Everything due at host time `now`.
    fn step(&mut self, now: i64) {
        self.world.advance(now);
        self.notice_clock_changes();
        if now >= self.next_fetch {
            self.fetch(now);
        }
        while let Some(tod) = self.world.take_tod() {
            self.wake(&Input::Tod(tod));
        }
        self.service_refs();
        if now >= self.next_renew {
            self.send_leap_notice();
            self.wake(&Input::Tick);
            self.next_renew = host_now() + self.cfg.runtime.renew_ms * 1_000_000;
        }
        if now >= self.next_kernel_poll {
            self.poll_kernel();
        }
        self.notice_clock_changes();
        self.housekeeping(host_now());
    }

    /// Hands the engine what the leap-seconds list says, when that changed.
    fn send_leap_notice(&mut self) {
        let now = self.world.stamp().0.real;
        let n = match self.world.leap_notice() {
            Some(n) => n,
            None => self
                .leap
                .notice(now, |e| warn!(event = "leap_file_expired", "{e}")),
        };
        if self.leap_notice != Some(n) {
            self.leap_notice = Some(n);
            self.wake(&Input::LeapNotice(n));
        }
        let tai = self.leap.tai_s(now);
        if self.tai_sent != Some(tai) {
            self.tai_sent = Some(tai);
            self.wake(&Input::TaiOffset(tai));
        }
    }

    fn notice_clock_changes(&mut self) {
        while self.world.take_clock_changed() {
            self.wake(&Input::ClockChanged);
        }
    }

    fn fetch(&mut self, now: i64) {
        let fetch = self.world.fetch(now);
        while let Some(note) = self.world.take_note() {
            match note {
                SourceNote::Lost(e) => {
                    error!(event = "pps_device_lost", "{e}; reopening");
                    self.wake(&Input::DeviceLost);
                }
                SourceNote::StillGone(e) => warn!("PPS device still gone: {e}"),
                SourceNote::Back(p) => {
                    info!(event = "pps_device_back", "{p}: PPS device back");
                    self.wake(&Input::DeviceBack);
                }
            }
        }
        let (at, host) = match fetch {
            Some(f) if self.edge.is_new(&f) => self.wake(&Input::Pulse(f)),
            _ => self.world.stamp(),
        };
        let next = self.edge.after_fetch(at, fetch.as_ref());
        self.next_fetch = host.saturating_add(next.saturating_sub(at.mono_ns));
    }

    fn service_refs(&mut self) {
        let Some(refs) = self.refs.as_mut() else {
            return;
        };
        refs.service(Instant::now(), self.poll.registry(), &mut self.ref_out);
        let mut out = std::mem::take(&mut self.ref_out);
        for o in out.drain(..) {
            match o {
                RefOutcome::Sample(tod, name) => {
                    debug!(source = %name, offset_ns = tod.offset_ns, "time-of-day reading");
                    if self.tod_source != name {
                        self.tod_source.clone_from(&name);
                    }
                    self.wake(&Input::Tod(tod));
                }
                RefOutcome::Problem(p) => warn!(event = "reference_problem", "{p}"),
            }
        }
        self.ref_out = out;
    }

    /// Reads adjtimex and hands it to the engine alone, which compares it with what it set;
    /// returns the stamp and the host monotonic time it was taken at.
    fn poll_kernel(&mut self) -> (Stamp, i64) {
        let (at, host) = self.world.stamp();
        match self.world.clock().read() {
            Ok(snap) => {
                self.engine
                    .handle(at, &Input::Kernel(snap), &mut self.actions);
                self.apply(at, host);
            }
            Err(e) => self.write_failed(&e.to_string()),
        }
        self.plan_kernel_poll(host);
        (at, host)
    }

    /// The next adjtimex read on its own, after one at host time `host`, from the state the
    /// engine publishes now.
    fn plan_kernel_poll(&mut self, host: i64) {
        let every = self.engine.kernel_poll_interval_ns(LOOP_LATE_NS);
        self.next_kernel_poll = host.saturating_add(every);
    }

    /// Reads adjtimex for the engine, hands it `input`, applies the actions; returns the stamp
    /// and the host monotonic time it was taken at.
    fn wake(&mut self, input: &Input) -> (Stamp, i64) {
        let (at, host) = self.poll_kernel();
        self.engine.handle(at, input, &mut self.actions);
        self.apply(at, host);
        self.plan_kernel_poll(host);
        (at, host)
    }

    fn apply(&mut self, at: Stamp, host: i64) {
        let mut actions = std::mem::take(&mut self.actions);
        for a in actions.drain(..) {
            self.metrics.on_action(at, &a);
            match &a {
                Action::Write(_) | Action::Step { .. } => {
                    if let Err(e) = crate::apply::apply(self.world.clock(), &a) {
                        self.write_failed(&e.to_string());
                    }
                }
                Action::Publish(ts) => self.publish(ts, at, host),
                Action::Event(e) => {
                    self.event(e);
                    if let Some(ss) = self.signserver.as_ref() {
                        ss.event(at.real, e);
                    }
                }
            }
        }
        self.actions = actions;
    }

    fn write_failed(&mut self, e: &str) {
        self.write_errors += 1;
        if self.write_errors <= WRITE_ERRORS_LOGGED {
            error!(event = "clock_error", "{e}");
        } else if self.write_errors.is_power_of_two() {
            error!(event = "clock_error", count = self.write_errors, "{e}");
        }
    }

    fn publish(&mut self, ts: &TrustState, at: Stamp, host: i64) {
        let info = self
            .leap
            .info(at.real, |e| warn!(event = "leap_file_expired", "{e}"));
        let clocks = Clocks {
            host_mono_ns: host,
            engine_mono_ns: at.mono_ns,
            realtime: at.real,
        };
        if let Some(shm) = self.shm.as_mut() {
            let before = host_now();
            shm.publish(ts, &info, &clocks);
            self.metrics.on_report(true, host_now() - before);
        }
        // The leap state the record shows (UNKNOWN with an unusable list), not the engine's.
        let leap = crate::publish::shm::published_leap(ts);
        self.metrics
            .set_leap(leap, info.known.then_some(info.tai_offset_s));
        if let Some(ss) = self.signserver.as_ref() {
            if let Some(r) = ss.report(host) {
                self.metrics.set_signserver(r);
            }
            let line =
                crate::publish::timemonitor::StateLine::new(&self.metrics, at, self.config_version);
            ss.publish(ts, leap, at, host, &line);
        }
        let first = self.published.is_none();
        let changed = self.published.map_or(true, |p| p.state != ts.state);
        self.published = Some(*ts);
        if first {
            self.notify.send("READY=1");
        }
        if changed {
            self.send_status();
        }
    }

    fn event(&mut self, e: &EngineEvent) {
        evlog::event_named(e, self.refs.as_ref().map_or(&[], References::names));
        if matches!(
            e,
            EngineEvent::LeapSource(crate::engine::LeapSource::Reference)
                | EngineEvent::LeapDisagreement { .. }
        ) {
            info!(
                event = "leap_reference",
                reference = %self.tod_source,
                "the leap indication is the one of reference {}",
                self.tod_source
            );
        }
        if let Some(ledger) = self.ledger.as_mut() {
            ledger.event(e);
        }
        if let EngineEvent::StateChanged {
            to: SyncState::InSync,
            ..
        } = e
        {
            if !self.first_insync {
                self.first_insync = true;
                let ms = (host_now() - self.start_ns) / 1_000_000;
                info!(
                    event = "first_insync",
                    since_start_ms = ms,
                    "INSYNC {}.{:03} s after start",
                    ms / 1000,
                    ms % 1000
                );
            }
        }
    }

    /// STATUS= with the state and bound, written into a reused buffer (no allocation).
    fn send_status(&mut self) {
        use std::fmt::Write;
        let Some(ts) = self.published else { return };
        let buf = &mut self.status_buf;
        buf.clear();
        let _ = write!(buf, "STATUS={}, ", ts.state.as_str());
        let _ = if ts.bound_ns == i64::MAX {
            write!(buf, "no bound yet")
        } else {
            write!(buf, "bound {} ns", ts.bound_ns)
        };
        self.notify.send(buf);
        self.next_status = host_now() + STATUS_EVERY_NS;
    }

    /// Answers an HTTP readiness event from the state the loop holds now.
    fn serve(&mut self, ev: &mio::event::Event) {
        let (at, _) = self.world.stamp();
        let Some(http) = self.http.as_mut() else {
            return;
        };
        let mut snapshot = Snapshot {
            metrics: &self.metrics,
            info: StatusInfo {
                servo: self.engine.servo_name(),
                servo_state: self.engine.servo_state(),
                pulse_source: &self.source_names.0,
                reference: &self.source_names.1,
                config_version: self.config_version,
                leap_reference: &self.tod_source,
            },
            now: at,
        };
        http.on_event(self.poll.registry(), ev, host_now(), &mut snapshot);
    }

    fn housekeeping(&mut self, now: i64) {
        if let Some(http) = self.http.as_mut() {
            http.tick(self.poll.registry(), now);
        }
        if let (Some(due), Some(every)) = (self.next_watchdog, self.notify.watchdog_interval()) {
            if now >= due {
                self.notify.send("WATCHDOG=1");
                self.next_watchdog = Some(now + every.as_nanos() as i64);
            }
        }
        if now >= self.next_status {
            self.send_status();
        }
    }

    /// Reads pending signals; true when asked to stop.
    fn read_signals(&mut self) -> bool {
        let mut stop = false;
        while let Ok(Some(info)) = self.signals.read_signal() {
            match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGTERM | Signal::SIGINT) => {
                    info!(
                        event = "stopping",
                        signal = info.ssi_signo,
                        "stop requested"
                    );
                    stop = true;
                }
                Ok(Signal::SIGHUP) => self.reload(),
                _ => {}
            }
        }
        stop
    }

    fn reload(&mut self) {
        info!(
            event = "reload",
            "SIGHUP: reloading the leap file and the reloadable settings"
        );
        if let Some(path) = self.config_path.clone() {
            match config::load(&path) {
                Err(e) => error!(
                    event = "reload_failed",
                    "{e}; keeping the configuration in force"
                ),
                Ok(new) => self.apply_config(new),
            }
        }
        self.leap = LeapFile::load(&self.cfg.leap.file);
        self.leap_notice = None;
        match self.leap.problem() {
            Some(p) => warn!("leap file: {p}; the published leap state is UNKNOWN"),
            None => info!(file = %self.cfg.leap.file.display(), "leap file loaded"),
        }
    }

    fn apply_config(&mut self, new: Config) {
        for key in self.cfg.restart_only_changes(&new) {
            warn!(key, "changed in the file; takes effect at the next restart");
        }
        evlog::set_level(new.log.level);
        self.cfg.log.level = new.log.level;
        self.cfg.leap = new.leap;
        self.cfg.shm.pulse_source_id = new.shm.pulse_source_id;
        self.cfg.shm.reference_id = new.shm.reference_id;
        if self.cfg.reference != new.reference {
            self.cfg.reference = new.reference;
            if let Some(old) = self.refs.as_mut() {
                old.close(self.poll.registry());
                self.refs = Some(References::new(&self.cfg.reference, Instant::now()));
                let verify = self.cfg.verify.engine(&self.cfg.reference);
                self.engine.references_changed(&verify);
            }
        }
        let scenario = self.simulated.then_some("simulated");
        let id = identity(&self.cfg, scenario);
        if let Some(shm) = self.shm.as_mut() {
            shm.set_identity(id);
        }
    }

    /// Final state: STOPPING, the kernel's status marked unsynchronised, the record closed.
    fn shutdown(&mut self) {
        self.notify.send("STOPPING=1");
        let clock = self.world.clock();
        match clock.read() {
            Ok(snap) => {
                let write = ClockWrite {
                    status: Some(snap.status | ClockStatus::UNSYNC),
                    ..ClockWrite::default()
                };
                if let Err(e) = clock.write(&write) {
                    error!(
                        event = "clock_error",
                        "{e}: could not mark the clock unsynchronised"
                    );
                }
            }
            Err(e) => error!(event = "clock_error", "{e}"),
        }
        // Dropping the writer leaves a closed, expired record (UNKNOWN for every reader).
        self.shm = None;
        // The ledger thread writes what it holds, then ends.
        self.ledger = None;
        // The SignServer thread ends after its request in flight (the status then expires).
        self.signserver = None;
        if let Some(http) = self.http.as_mut() {
            http.shutdown(self.poll.registry());
        }
        info!(event = "stopped", "record closed; ppsd stopped");
    }
}

/// The configuration's identifier in `/state`: the first four bytes of the SHA-1 of the
/// effective configuration.
fn config_version(cfg: &Config) -> u32 {
    use sha1::{Digest, Sha1};
    let digest = Sha1::digest(cfg.to_toml().as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// `scenarios/clean-lab.toml` → `clean-lab`; `clean-lab.toml (built in)` → `clean-lab`.
fn scenario_name(path: &str) -> &str {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.split(".toml").next().unwrap_or(file)
}

/// The identifiers in the record: configured, or derived from the device (or scenario) and
/// the first reference.
fn identity(cfg: &Config, scenario: Option<&str>) -> Identity {
    let pulse = match (cfg.shm.pulse_source_id.as_str(), scenario) {
        // The scenario's file name: a path would not fit the record's 32 bytes.
        ("", Some(sc)) => format!("sim:{}", scenario_name(sc)),
        ("", None) => format!("pps:{}", cfg.pps.device.display()),
        (id, _) => id.to_string(),
    };
    let reference = match (cfg.shm.reference_id.as_str(), scenario) {
        ("", Some(_)) => "sim:tod".to_string(),
        ("", None) => cfg
            .reference
            .first()
            .map(refs::source_name)
            .unwrap_or_default(),
        (id, _) => id.to_string(),
    };
    Identity {
        declared_accuracy_ns: cfg.trust.declared_accuracy_ns as u64,
        leap_window_before_ns: cfg.leap.window_before_ms * 1_000_000,
        leap_window_after_ns: cfg.leap.window_after_ms * 1_000_000,
        pulse_source_id: ident_lossy(&pulse),
        reference_id: ident_lossy(&reference),
    }
}

#[cfg(test)]
mod tests;
