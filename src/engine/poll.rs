//! How long the driver may wait between two adjtimex reads. Nothing but a read reveals another
//! process's frequency, tick or PLL write, so between two reads the clock may run at a foreign
//! rate; the interval is chosen so that, even at the worst rate the kernel allows, the clock
//! cannot leave the declared accuracy before the next read finds the write. The daemon's loop
//! and the simulator both call [`interval_ns`] (through `Engine::kernel_poll_interval_ns`), so
//! what the simulator measures is what the daemon does.
//!
//! Pure arithmetic on the published state and the configuration: it never reads a clock, and
//! a figure it cannot trust (no bound, a bound past the accuracy, a non-finite number) gives
//! the shortest interval, never a long one.

use super::trust::{SyncState, TrustState};

/// Shortest interval between two adjtimex reads, ns (CLOCK_MONOTONIC). The rule never asks
/// for less: a loop woken more often than this costs whole percents of a core.
pub const MIN_POLL_NS: i64 = 1_000_000;

/// Longest interval between two adjtimex reads, ns, and the default ceiling
/// (`runtime.kernel_poll_us`).
pub const MAX_POLL_NS: i64 = 1_000_000_000;

/// The fastest a foreign adjtimex write can move CLOCK_REALTIME away from nominal, ppb: a tick
/// of ±10 % (`ADJ_TICK`, the kernel refuses more), plus a frequency of ±500 ppm
/// (`ADJ_FREQUENCY`, clamped by the kernel), plus the PLL's phase slew (`ADJ_OFFSET` with
/// `STA_PLL`: the kernel clamps the offset to ±0.5 s and slews 1/4 of it in the first second
/// at the smallest time constant, 12.5 %). All three are visible to the next read (tick,
/// frequency, `STA_PLL` and the offset). See `docs/trust.md` for what this leaves out.
pub const FOREIGN_RATE_PPB: f64 = 100_000_000.0 + 500_000.0 + 125_000_000.0;

/// The rule's parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PollRule {
    /// Fraction of the margin (declared accuracy − published bound) a foreign write may use
    /// up before the next read: above 0, at most 1.
    pub margin_fraction: f64,
    /// Longest interval, ns (`runtime.kernel_poll_us`); the rule never waits longer.
    pub ceiling_ns: i64,
}

impl Default for PollRule {
    fn default() -> PollRule {
        PollRule {
            margin_fraction: 0.5,
            ceiling_ns: MAX_POLL_NS,
        }
    }
}

/// The worst rate (ppb) at which a foreign write can move the clock away from where the
/// engine's frequency `freq_ppb` takes it: [`FOREIGN_RATE_PPB`] from nominal, plus how far
/// the engine's own frequency is from nominal.
pub fn foreign_rate_ppb(freq_ppb: f64) -> f64 {
    let own = if freq_ppb.is_finite() {
        freq_ppb.abs()
    } else {
        FOREIGN_RATE_PPB
    };
    FOREIGN_RATE_PPB + own
}

/// How long (ns) after an adjtimex read at which the engine published `state` the next read
/// may come, for a driver whose timer may fire up to `late_ns` after the instant asked.
///
/// While the state is INSYNC or SOON_OUT_OF_SYNC (a signer may sign), a foreign write just
/// after the read moves the clock by at most [`foreign_rate_ppb`] × (interval + `late_ns`)
/// before the next read; the interval keeps that within `margin_fraction` × (accuracy −
/// bound), since the bound already covers the clock until `valid_until` at the rate the
/// engine set. Clamped to [[`MIN_POLL_NS`], ceiling] (the ceiling wins if set lower). In any
/// other state nothing is claimed, and the ceiling applies: every wake reads adjtimex before
/// the engine acts, so a write is still found before it can affect a pulse or a state.
pub fn interval_ns(rule: &PollRule, state: &TrustState, accuracy_ns: i64, late_ns: i64) -> i64 {
    let ceiling = rule.ceiling_ns.max(1);
    let floor = MIN_POLL_NS.min(ceiling);
    if !matches!(state.state, SyncState::InSync | SyncState::SoonOutOfSync) {
        return ceiling;
    }
    let margin_ns = accuracy_ns.saturating_sub(state.bound_ns);
    if state.bound_ns < 0 || margin_ns <= 0 {
        return floor;
    }
    let fraction = if rule.margin_fraction.is_finite() {
        rule.margin_fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let rate = foreign_rate_ppb(state.freq_ppb) * 1e-9;
    let span_ns = fraction * margin_ns as f64 / rate - late_ns.max(0) as f64;
    if !span_ns.is_finite() || span_ns < floor as f64 {
        return floor;
    }
    if span_ns >= ceiling as f64 {
        return ceiling;
    }
    span_ns as i64
}

/// The most (ns) a foreign write can move the clock before a read finds it, when reads come
/// `interval_ns` apart and up to `late_ns` late, with the engine's frequency at `freq_ppb`.
pub fn exposure_ns(interval_ns: i64, late_ns: i64, freq_ppb: f64) -> f64 {
    foreign_rate_ppb(freq_ppb) * 1e-9 * interval_ns.saturating_add(late_ns.max(0)) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    fn state(s: SyncState, bound_ns: i64) -> TrustState {
        TrustState {
            state: s,
            bound_ns,
            ..TrustState::default()
        }
    }

    #[test]
    fn the_interval_keeps_a_worst_case_write_within_the_margin_fraction() {
        let rule = PollRule::default();
        for (acc, bound, late) in [
            (MS, 240, 0),
            (MS, 240, 1_100_000),
            (100 * MS, 5_000, 1_100_000),
            (100 * MS, 60 * MS, 0),
            (1_000 * MS, 900 * MS, 1_100_000),
        ] {
            let st = state(SyncState::InSync, bound);
            let i = interval_ns(&rule, &st, acc, late);
            assert!((MIN_POLL_NS..=MAX_POLL_NS).contains(&i), "{i}");
            let moved = exposure_ns(i, late, 0.0);
            let allowed = rule.margin_fraction * (acc - bound) as f64;
            if i > MIN_POLL_NS {
                assert!(moved <= allowed + 1.0, "{acc} {bound}: {moved} > {allowed}");
            }
            if i < MAX_POLL_NS {
                // Not needlessly short: one more µs would break the margin.
                let more = exposure_ns(i + 1_000, late, 0.0);
                assert!(
                    more > allowed - 1.0 || i == MIN_POLL_NS,
                    "{acc} {bound}: {i}"
                );
            }
        }
    }

    #[test]
    fn figures_at_the_default_fraction() {
        let rule = PollRule::default();
        let at = |acc, late| interval_ns(&rule, &state(SyncState::InSync, 240), acc, late);
        // 0.5 × (1 ms − 240 ns) / 22.55 % = 2.2168 ms.
        assert_eq!(at(MS, 0), 2_216_762);
        assert_eq!(at(MS, 1_100_000), 1_116_762);
        assert_eq!(at(100 * MS, 1_100_000), 220_628_957);
        assert_eq!(at(1_000 * MS, 0), MAX_POLL_NS);
    }

    #[test]
    fn no_claim_no_margin_or_nonsense_gives_the_ceiling_or_the_floor() {
        let rule = PollRule {
            margin_fraction: 0.5,
            ceiling_ns: 300 * MS,
        };
        for s in [SyncState::OutOfSync, SyncState::Unknown] {
            assert_eq!(interval_ns(&rule, &state(s, 240), MS, 0), 300 * MS);
        }
        let soon = state(SyncState::SoonOutOfSync, 900_000);
        // 0.5 × 100 µs / 22.55 % = 222 µs: below the floor, which then applies.
        assert_eq!(interval_ns(&rule, &soon, MS, 0), MIN_POLL_NS);
        for bound in [MS, 2 * MS, i64::MAX, -1] {
            let st = state(SyncState::InSync, bound);
            assert_eq!(interval_ns(&rule, &st, MS, 0), MIN_POLL_NS, "{bound}");
        }
        let mut st = state(SyncState::InSync, 240);
        st.freq_ppb = f64::NAN;
        assert!(interval_ns(&rule, &st, MS, 0) < 2_216_762);
        let odd = PollRule {
            margin_fraction: f64::NAN,
            ceiling_ns: 300 * MS,
        };
        assert_eq!(
            interval_ns(&odd, &state(SyncState::InSync, 240), MS, 0),
            MIN_POLL_NS
        );
        let low = PollRule {
            margin_fraction: 1.0,
            ceiling_ns: 200_000,
        };
        assert_eq!(
            interval_ns(&low, &state(SyncState::InSync, 0), MS, 0),
            200_000
        );
    }

    #[test]
    fn the_engines_own_frequency_adds_to_the_rate() {
        let st = |f| TrustState {
            freq_ppb: f,
            ..state(SyncState::InSync, 0)
        };
        let rule = PollRule::default();
        let slow = interval_ns(&rule, &st(-50_000_000.0), 100 * MS, 0);
        let fast = interval_ns(&rule, &st(0.0), 100 * MS, 0);
        assert!(slow < fast, "{slow} {fast}");
        assert_eq!(foreign_rate_ppb(-50_000_000.0), 275_500_000.0);
    }
}
