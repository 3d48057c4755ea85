//! The simulated PPS device: one assert event per true second (receiver faults aside), stamped
//! with the simulated clock's reading at that instant plus capture noise (Gaussian jitter σ, a
//! constant bias, an optional receiver sawtooth uniform in ±q), with sequence numbers.
//!
//! Like the kernel, a fetch returns only the latest event: pulses the reader did not fetch in
//! time are gone, which is what makes spurious pulses dangerous. The clear edge is not
//! simulated (its sequence number stays 0). Never blocks, never fails.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use std::time::Duration;

use crate::io::{DeviceError, PpsFetch, PulseSource};
use crate::time::Timestamp;

/// Capture noise parameters (scenario `[pps]`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PpsNoise {
    /// Gaussian jitter, one σ, ns.
    pub jitter_ns: f64,
    /// Constant bias, ns (positive: stamped late).
    pub bias_ns: f64,
    /// Sawtooth half-width q, ns: uniform in ±q.
    pub sawtooth_ns: f64,
}

impl PpsNoise {
    /// One noise draw, ns.
    pub fn sample(&self, rng: &mut ChaCha8Rng) -> f64 {
        let mut n = self.bias_ns;
        if self.jitter_ns > 0.0 {
            let z: f64 = rng.sample(StandardNormal);
            n += self.jitter_ns * z;
        }
        if self.sawtooth_ns > 0.0 {
            n += rng.gen_range(-self.sawtooth_ns..=self.sawtooth_ns);
        }
        n
    }

    /// Variance of the noise about its bias, ns²: σ² + q²/3.
    pub fn variance_ns2(&self) -> f64 {
        self.jitter_ns * self.jitter_ns + self.sawtooth_ns * self.sawtooth_ns / 3.0
    }
}

/// The simulated device: holds the latest event.
#[derive(Clone, Debug, Default)]
pub struct SimPps {
    latest: PpsFetch,
}

impl SimPps {
    /// A device that has seen no pulse.
    pub fn new() -> SimPps {
        SimPps::default()
    }

    /// Records an assert event stamped `stamp_ns` (CLOCK_REALTIME ns).
    pub fn assert_event(&mut self, stamp_ns: i64) {
        self.latest.assert = Timestamp::from_ns(stamp_ns);
        self.latest.assert_seq = self.latest.assert_seq.wrapping_add(1);
    }
}

impl PulseSource for SimPps {
    fn fetch(&mut self, _timeout: Option<Duration>) -> Result<PpsFetch, DeviceError> {
        Ok(self.latest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn fetch_returns_only_the_latest_event() {
        let mut pps = SimPps::new();
        assert_eq!(pps.fetch(None).unwrap().assert_seq, 0);
        pps.assert_event(1_000);
        pps.assert_event(2_000);
        let f = pps.fetch(Some(Duration::ZERO)).unwrap();
        assert_eq!((f.assert_seq, f.assert.as_ns(), f.clear_seq), (2, 2_000, 0));
    }

    #[test]
    fn bias_alone_is_exact_and_variance_adds_up() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let noise = PpsNoise {
            bias_ns: 25.0,
            ..Default::default()
        };
        assert_eq!(noise.sample(&mut rng), 25.0);
        let noise = PpsNoise {
            jitter_ns: 30.0,
            sawtooth_ns: 30.0,
            bias_ns: 0.0,
        };
        assert_eq!(noise.variance_ns2(), 900.0 + 300.0);
    }
}
