//! The simulated world in real time, for `ppsd run --simulate`: the scenario's machine (its
//! oscillator, kernel clock, PPS receiver and time-of-day reference, with its faults) moved
//! along by the host's CLOCK_MONOTONIC, so the daemon's real loop, timers, publishers and logs
//! run against it at one simulated second per second.
//!
//! True time τ is the host's monotonic time since the start. Pulses, reference readings and
//! instant faults happen at the τ the scenario gives them, exactly as in `ppsd simulate`
//! (same random streams from the same seed); the daemon sees them when it next advances the
//! world. The scenario's duration is not a limit here: the world runs until ppsd stops, and
//! `daemon_stall` faults are ignored (a real-time loop cannot be stalled from inside). Only
//! the simulated clock is ever adjusted; the host's clocks are only read. The simulated PPS
//! device can be unplugged and plugged back ([`SimWorld::set_device_present`]); while it is
//! gone nothing is fetched and the loop hears of it as it would of a real device.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::os::unix::io::RawFd;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::world::{SourceNote, World};
use crate::engine::{Stamp, TodSample};
use crate::io::{ClockWrite, DisciplinedClock, PpsFetch, PulseSource, ScaledPpm};
use crate::sim::clock::SimClock;
use crate::sim::fault::{FaultKind, FaultSchedule, Utc};
use crate::sim::oscillator::Oscillator;
use crate::sim::pps::SimPps;
use crate::sim::scenario::Scenario;
use crate::sim::second;
use crate::sim::tod;
use crate::sys::clock::ClockId;
use crate::time::{Timestamp, NANOS_PER_SEC};

/// What happens in the world at an instant, in this order when instants tie.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Second,
    ForeignStep(usize),
    ForeignFreq(usize),
    Spurious,
    Tod,
}

/// The scenario's world, driven by the host's monotonic clock.
pub struct SimWorld {
    sc: Scenario,
    clock: SimClock,
    pps: SimPps,
    faults: FaultSchedule,
    utc: Utc,
    pps_rng: ChaCha8Rng,
    tod_rng: ChaCha8Rng,
    queue: BinaryHeap<Reverse<(i64, u64, Ev)>>,
    order: u64,
    start_host_ns: i64,
    tods: VecDeque<TodSample>,
    device_present: bool,
    note: Option<SourceNote>,
}

fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

impl SimWorld {
    /// The world of `sc`, with true time 0 at host monotonic `start_host_ns`.
    pub fn new(sc: Scenario, start_host_ns: i64) -> SimWorld {
        let osc = Oscillator::new(sc.oscillator, rng(sc.seed, 1));
        let faults = FaultSchedule::new(sc.faults.clone());
        let mut w = SimWorld {
            clock: SimClock::new(osc, sc.start_unix_ns, sc.initial_offset_ns),
            pps: SimPps::new(),
            utc: Utc::new(sc.start_unix_ns, &faults),
            faults,
            pps_rng: rng(sc.seed, 2),
            tod_rng: rng(sc.seed, 3),
            queue: BinaryHeap::new(),
            order: 0,
            start_host_ns,
            tods: VecDeque::with_capacity(4),
            device_present: true,
            note: None,
            sc,
        };
        let faults = w.sc.faults.clone();
        for (i, f) in faults.iter().enumerate() {
            match f.kind {
                FaultKind::ForeignStep => w.push(f.start_ns, Ev::ForeignStep(i)),
                FaultKind::ForeignFreq => w.push(f.start_ns, Ev::ForeignFreq(i)),
                _ => {}
            }
        }
        w.push(0, Ev::Second);
        w
    }

    /// True if the scenario has faults this real-time world cannot play (daemon stalls).
    pub fn ignores_faults(&self) -> bool {
        self.sc
            .faults
            .iter()
            .any(|f| f.kind == FaultKind::DaemonStall)
    }

    /// Unplugs (`false`) or plugs back (`true`) the simulated PPS device: the next fetch
    /// reports the loss (or the return) as a real device's would, and nothing is fetched while
    /// it is gone. The pulses themselves go on in the world.
    pub fn set_device_present(&mut self, present: bool) {
        if present == self.device_present {
            return;
        }
        self.device_present = present;
        self.note = Some(if present {
            SourceNote::Back("simulated PPS device".to_string())
        } else {
            SourceNote::Lost("simulated PPS device: PPS_FETCH: No such device (ENODEV)".to_string())
        });
    }

    fn push(&mut self, tau: i64, ev: Ev) {
        self.order += 1;
        self.queue.push(Reverse((tau, self.order, ev)));
    }

    fn true_offset(&mut self, tau: i64) -> f64 {
        self.clock.error_ns(tau) - self.utc.adjustment_ns(tau) as f64
    }

    fn happen(&mut self, tau: i64, ev: Ev) {
        self.clock.advance(tau);
        match ev {
            Ev::Second => self.second(tau),
            Ev::Spurious => second::spurious_pulse(
                tau,
                &self.sc,
                &mut self.clock,
                &mut self.pps,
                &mut self.pps_rng,
            ),
            Ev::ForeignStep(i) => {
                let _ = self.clock.step(self.sc.faults[i].value);
            }
            Ev::ForeignFreq(i) => {
                let ppb = self.sc.faults[i].freq_ppm * 1_000.0;
                let write = ClockWrite {
                    freq: Some(ScaledPpm::from_ppb(ppb)),
                    ..ClockWrite::default()
                };
                let _ = self.clock.write(&write);
            }
            Ev::Tod => {
                let truth = self.true_offset(tau);
                let wrong = self.faults.tod_wrong_s(tau);
                let leap = self.utc.announced(tau);
                let sample = tod::reading(&self.sc.tod, &mut self.tod_rng, truth, wrong, leap);
                if self.tods.len() < 4 {
                    self.tods.push_back(sample);
                }
            }
        }
    }

    fn second(&mut self, tau: i64) {
        let events = second::true_second(
            tau,
            &self.sc,
            &self.faults,
            &mut self.clock,
            &mut self.pps,
            &mut self.pps_rng,
        );
        if let Some(t) = events.spurious_at {
            self.push(t, Ev::Spurious);
        }
        if let Some(t) = events.tod_at {
            self.push(t, Ev::Tod);
        }
        self.push(tau + NANOS_PER_SEC, Ev::Second);
    }
}

impl World for SimWorld {
    fn clock(&mut self) -> &mut dyn DisciplinedClock {
        &mut self.clock
    }

    fn advance(&mut self, host_ns: i64) {
        let target = host_ns.saturating_sub(self.start_host_ns);
        if target < 0 {
            return;
        }
        while let Some(Reverse((tau, _, ev))) = self.queue.peek().copied() {
            if tau > target {
                break;
            }
            self.queue.pop();
            self.happen(tau, ev);
        }
        self.clock.advance(target);
    }

    fn stamp(&mut self) -> (Stamp, i64) {
        let host = ClockId::Monotonic.now().as_ns();
        self.advance(host);
        let real = Timestamp::from_ns(self.clock.realtime_with(self.clock.true_now(), 0.0));
        let stamp = Stamp {
            mono_ns: self.clock.monotonic_ns(),
            real,
        };
        (stamp, host)
    }

    fn fetch(&mut self, _host_ns: i64) -> Option<PpsFetch> {
        if !self.device_present {
            return None;
        }
        self.pps.fetch(Some(std::time::Duration::ZERO)).ok()
    }

    fn take_note(&mut self) -> Option<SourceNote> {
        self.note.take()
    }

    fn take_clock_changed(&mut self) -> bool {
        self.clock.take_was_set()
    }

    fn take_tod(&mut self) -> Option<TodSample> {
        self.tods.pop_front()
    }

    fn watch_fd(&self) -> Option<RawFd> {
        None
    }

    fn next_event_host_ns(&self) -> Option<i64> {
        self.queue
            .peek()
            .map(|Reverse((tau, _, _))| self.start_host_ns.saturating_add(*tau))
    }

    /// The world's own list only when the scenario plays a leap second; otherwise the
    /// configured leap file speaks, as in real mode (an expired file stays UNKNOWN).
    fn leap_notice(&self) -> Option<crate::engine::LeapNotice> {
        (!self.utc.leaps().is_empty()).then(|| self.utc.notice(self.clock.true_now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::run::TOD_DELAY_NS;
    use crate::sim::scenario;

    const S: i64 = NANOS_PER_SEC;

    fn world(text: &str) -> SimWorld {
        SimWorld::new(scenario::parse("t.toml", text).unwrap(), 1_000 * S)
    }

    #[test]
    fn pulses_and_readings_come_at_their_true_instants() {
        let mut w = world("duration_s = 100\n[clock]\ninitial_offset_ns = 2_000_000\n[pps]\njitter_ns = 0\n[tod]\njitter_ns = 0\ninterval_s = 4\n");
        w.advance(1_000 * S - 1);
        assert_eq!(w.fetch(0).unwrap().assert_seq, 0, "nothing before τ = 0");
        w.advance(1_000 * S);
        let f = w.fetch(0).unwrap();
        assert_eq!(f.assert_seq, 1);
        assert_eq!(
            f.assert.as_ns(),
            1_767_225_600 * S + 2_000_000,
            "stamped 2 ms late"
        );
        assert!(
            w.take_tod().is_none(),
            "the reading comes 250 ms after the second"
        );
        w.advance(1_000 * S + TOD_DELAY_NS);
        let tod = w.take_tod().unwrap();
        assert_eq!(tod.offset_ns, 2_000_000);
        w.advance(1_003 * S + 500_000_000);
        assert_eq!(w.fetch(0).unwrap().assert_seq, 4);
        assert_eq!(w.next_event_host_ns(), Some(1_004 * S));
        assert!(w.take_tod().is_none(), "next reading at τ = 4 s");
    }

    #[test]
    fn the_engine_clock_is_the_simulated_one_and_steps_are_noticed() {
        let mut w = world("duration_s = 10\n");
        let host = ClockId::Monotonic.now().as_ns();
        let mut w2 = SimWorld::new(w.sc.clone(), host);
        let (stamp, host_at) = w2.stamp();
        assert!(host_at >= host);
        assert_eq!(
            stamp.real.sec(),
            1_767_225_600,
            "the scenario's date, not the host's"
        );
        w.advance(1_000 * S);
        assert!(!w.take_clock_changed());
        w.clock().step(-5_000).unwrap();
        assert!(w.take_clock_changed());
        assert!(!w.take_clock_changed());
    }

    #[test]
    fn outage_and_foreign_step_faults_play() {
        let mut w = world(
            "duration_s = 100\n[[fault]]\nkind = \"pps_outage\"\nstart_s = 2\nduration_s = 2\n\
             [[fault]]\nkind = \"foreign_step\"\nstart_s = 5.5\nstep_ns = 1000\n",
        );
        w.advance(1_003 * S + 1);
        assert_eq!(
            w.fetch(0).unwrap().assert_seq,
            2,
            "pulses at 0 and 1 s only"
        );
        w.advance(1_005 * S);
        assert_eq!(w.fetch(0).unwrap().assert_seq, 4, "then 4 and 5 s");
        assert!(!w.take_clock_changed());
        w.advance(1_005 * S + S / 2);
        assert!(w.take_clock_changed(), "someone else stepped the clock");
        assert!(!w.ignores_faults());
    }

    #[test]
    fn an_unplugged_device_fetches_nothing_and_says_so_once() {
        let mut w = world("duration_s = 100\n");
        w.advance(1_002 * S);
        assert_eq!(w.fetch(0).unwrap().assert_seq, 3);
        assert_eq!(w.take_note(), None);
        w.set_device_present(false);
        w.set_device_present(false);
        w.advance(1_004 * S);
        assert_eq!(w.fetch(0), None);
        assert!(matches!(w.take_note(), Some(SourceNote::Lost(e)) if e.contains("ENODEV")));
        assert_eq!(w.take_note(), None, "once per loss");
        w.set_device_present(true);
        assert!(matches!(w.take_note(), Some(SourceNote::Back(_))));
        assert_eq!(
            w.fetch(0).unwrap().assert_seq,
            5,
            "the pulses went on meanwhile"
        );
    }
}
