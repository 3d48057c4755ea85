//! A test rig for the second verification: an engine fed a perfect clock's pulses in
//! virtual time (one call per second), time-of-day readings placed a quarter second after the
//! last pulse, and the engine's steps applied to the rig's clock with their notice handed
//! back, as the daemon does. It only ever adjusts its own virtual clock.
#![allow(dead_code)]

use ppsd::config::Config;
use ppsd::engine::{
    servo, Action, Engine, EngineEvent, Input, Leap, Reason, Stamp, SyncState, TodSample,
};
use ppsd::io::{ClockSnapshot, PpsFetch, ScaledPpm};
use ppsd::time::Timestamp;

pub const S: i64 = 1_000_000_000;
pub const MS: i64 = 1_000_000;
const EPOCH: i64 = 1_767_225_600;

pub struct Rig {
    pub engine: Engine,
    out: Vec<Action>,
    /// Every event so far.
    pub events: Vec<EngineEvent>,
    /// Next second to pulse.
    k: i64,
    freq: ScaledPpm,
    /// Clock steps the engine asked for (applied to the rig's clock).
    pub steps: Vec<i64>,
}

impl Rig {
    /// True time `t_ns` as the rig's clock reads it (after the steps applied).
    fn at(&self, t_ns: i64) -> Stamp {
        let shift: i64 = self.steps.iter().sum();
        Stamp {
            mono_ns: 1_000 * S + t_ns,
            real: Timestamp::new(EPOCH, t_ns + shift),
        }
    }
}

impl Rig {
    /// A rig whose engine has `cfg`'s settings (policy included).
    pub fn new(cfg: &Config) -> Rig {
        Rig {
            engine: Engine::new(cfg.engine(), servo::by_name("pi").unwrap()),
            out: Vec::new(),
            events: Vec::new(),
            k: 0,
            freq: ScaledPpm(0),
            steps: Vec::new(),
        }
    }

    /// Takes the engine's actions at true time `t_ns`: a step is applied to the rig's clock
    /// and its notice handed back, as the daemon does.
    fn take(&mut self, t_ns: i64) {
        let mut stepped = false;
        for a in std::mem::take(&mut self.out) {
            match a {
                Action::Event(e) => self.events.push(e),
                Action::Write(w) => self.freq = w.freq.unwrap_or(self.freq),
                Action::Step { delta_ns } => {
                    self.steps.push(delta_ns);
                    stepped = true;
                }
                Action::Publish(_) => {}
            }
        }
        if stepped {
            let at = self.at(t_ns);
            self.engine.handle(at, &Input::ClockChanged, &mut self.out);
            self.take(t_ns);
        }
    }

    /// `n` seconds of a perfect clock: kernel read, pulse, tick.
    pub fn run(&mut self, n: i64) {
        for _ in 0..n {
            let k = self.k;
            let t = k * S + 10 * MS;
            let snap = ClockSnapshot {
                tick_us: 10_000,
                freq: self.freq,
                ..ClockSnapshot::default()
            };
            let shift: i64 = self.steps.iter().sum();
            self.engine
                .handle(self.at(t), &Input::Kernel(snap), &mut self.out);
            let fetch = PpsFetch {
                assert: Timestamp::new(EPOCH + k, shift),
                assert_seq: k as u32 + 1,
                ..PpsFetch::default()
            };
            self.engine
                .handle(self.at(t), &Input::Pulse(fetch), &mut self.out);
            self.take(t);
            self.engine
                .handle(self.at(t + S / 2), &Input::Tick, &mut self.out);
            self.take(t + S / 2);
            self.k += 1;
        }
    }

    /// A reading from `source`, `offset_ns` from the pulse-derived time, a quarter second
    /// after the last pulse (before the first one when none came yet).
    pub fn tod(&mut self, source: u8, offset_ns: i64, authenticated: bool) {
        self.reading(TodSample {
            offset_ns,
            leap: Leap::None,
            source,
            authenticated,
        });
    }

    /// Hands `tod` to the engine a quarter second after the last pulse.
    pub fn reading(&mut self, tod: TodSample) {
        let t = self.k * S - 3 * S / 4;
        self.engine
            .handle(self.at(t), &Input::Tod(tod), &mut self.out);
        self.take(t);
    }

    pub fn state(&self) -> (SyncState, Reason) {
        let p = self.engine.published();
        (p.state, p.reason)
    }

    pub fn count(&self, f: impl Fn(&EngineEvent) -> bool) -> usize {
        self.events.iter().filter(|e| f(e)).count()
    }
}
