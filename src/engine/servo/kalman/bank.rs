//! The Kalman servo's arithmetic: one two-state (phase x ns, natural frequency y ppb) filter,
//! the bank of them over wander intensities with selection by likelihood, and the capture-noise
//! estimator. Plain numbers in, plain numbers out; no allocation.

/// Number of filters in the bank: wander intensities `Q_MIN · 2^k` for k in 0..BANK.
const BANK: usize = 24;
/// Smallest wander intensity in the bank, ns²/s³ (a frequency random walk of 0.03 ppb/√s);
/// the largest is 8389 ns²/s³ (92 ppb/√s).
const Q_MIN: f64 = 1.0e-3;
/// Filter used before the likelihoods say anything (q ≈ 1 ns²/s³, a good crystal).
const DEFAULT_FILTER: usize = 10;
/// Memory of the likelihood comparison between filters, samples.
const LIKELIHOOD_MEMORY: f64 = 1000.0;
/// Memory of the capture-noise estimate, samples.
const NOISE_MEMORY: f64 = 256.0;
/// Second differences measured before the noise estimate replaces the configured guess.
const NOISE_MIN_SAMPLES: u32 = 8;
/// A second difference beyond this many σ is clipped before it enters the noise estimate.
const NOISE_CLIP_SIGMAS: f64 = 5.0;
/// Predictions over more than this many seconds (a pulse or more was missed) use at least the
/// wander the free-running phase has shown.
const GAP_S: f64 = 1.5;
/// Total log-likelihood (nats) within which a filter's wander is still plausible next to the
/// likeliest: 2 nats is about the 95 % one-sided bound of a likelihood-ratio test.
const PLAUSIBLE_NATS: f64 = 2.0;

/// One filter: estimate, covariance, and its running log-likelihood.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Filter {
    /// Wander intensity, ns²/s³.
    pub q: f64,
    /// Offset at the last update, ns.
    pub x: f64,
    /// Natural frequency error, ppb.
    pub y: f64,
    /// Covariance of (x, y).
    pub pxx: f64,
    pub pxy: f64,
    pub pyy: f64,
    loglik: f64,
}

impl Filter {
    /// Moves the estimate `dt` seconds ahead, with `ctrl_ns` of known phase applied meanwhile.
    /// Across a gap the wander is at least `q_floor` (ns²/s³): the filter's own model must not
    /// make the prediction after an outage narrower than the wander actually measured.
    fn predict(&mut self, dt: f64, ctrl_ns: f64, q_floor: f64) {
        let q = if dt > GAP_S {
            self.q.max(q_floor)
        } else {
            self.q
        };
        self.x += self.y * dt + ctrl_ns;
        let pxx = self.pxx + 2.0 * dt * self.pxy + dt * dt * self.pyy + q * dt * dt * dt / 3.0;
        let pxy = self.pxy + dt * self.pyy + q * dt * dt / 2.0;
        self.pxx = pxx;
        self.pxy = pxy;
        self.pyy += q * dt;
    }

    /// Innovation and its variance for measurement `z` (noise variance `r`) after predicting
    /// `dt` seconds ahead with `ctrl_ns` of control (and `q_floor`, as [`Filter::predict`]),
    /// without changing the filter.
    pub fn predicted(&self, dt: f64, ctrl_ns: f64, q_floor: f64, z: f64, r: f64) -> (f64, f64) {
        let mut f = *self;
        f.predict(dt, ctrl_ns, q_floor);
        (z - f.x, f.pxx + r)
    }

    fn update(&mut self, z: f64, r: f64, memory: f64) {
        let s = self.pxx + r;
        let nu = z - self.x;
        let k0 = self.pxx / s;
        let k1 = self.pxy / s;
        self.x += k0 * nu;
        self.y += k1 * nu;
        let (pxx, pxy) = (self.pxx, self.pxy);
        self.pxx = pxx * (1.0 - k0);
        self.pxy = pxy * (1.0 - k0);
        self.pyy -= k1 * pxy;
        let ll = -0.5 * (s.ln() + nu * nu / s);
        self.loglik += (ll - self.loglik) / memory;
    }
}

/// One prediction step: seconds ahead, known control phase meanwhile (ns), and the wander
/// floor across a gap (ns²/s³).
#[derive(Clone, Copy, Debug)]
pub(super) struct Step {
    pub dt: f64,
    pub ctrl_ns: f64,
    pub q_floor: f64,
}

/// The bank of filters and which one is in use.
#[derive(Clone, Debug)]
pub(super) struct Bank {
    filters: [Filter; BANK],
    best: usize,
    /// The filter [`Bank::cautious`] returns, found at each update.
    cautious: usize,
}

impl Bank {
    pub fn new() -> Bank {
        let mut filters = [Filter::default(); BANK];
        for (k, f) in filters.iter_mut().enumerate() {
            f.q = Q_MIN * (1u64 << k) as f64;
        }
        Bank {
            filters,
            best: DEFAULT_FILTER,
            cautious: BANK - 1,
        }
    }

    /// The filter in use.
    pub fn best(&self) -> &Filter {
        &self.filters[self.best]
    }

    /// The filter with the largest wander that the pulses so far (up to the likelihood
    /// memory) cannot rule out: the most cautious model still plausible. Early on, when the
    /// pulses say little, it is a filter far more pessimistic than the likeliest.
    pub fn cautious(&self) -> &Filter {
        &self.filters[self.cautious]
    }

    /// Starts every filter at offset `x`, frequency `y`, variances `pxx` and `pyy`.
    pub fn init(&mut self, x: f64, y: f64, pxx: f64, pyy: f64) {
        for f in &mut self.filters {
            f.x = x;
            f.y = y;
            f.pxx = pxx;
            f.pxy = 0.0;
            f.pyy = pyy;
            f.loglik = 0.0;
        }
        self.best = DEFAULT_FILTER;
        self.cautious = BANK - 1;
    }

    /// Starts every filter at offset `x`, frequency `y`, with covariance `pxx`, `pxy`, `pyy`
    /// (a restart from a fitted line, whose phase and slope are correlated).
    pub fn init_with(&mut self, x: f64, y: f64, pxx: f64, pxy: f64, pyy: f64) {
        self.init(x, y, pxx, pyy);
        for f in &mut self.filters {
            f.pxy = pxy;
        }
    }

    /// Predicts every filter `dt` s ahead with `ctrl_ns` of control (and `q_floor` across a
    /// gap) and updates it with `z`; `samples` so far sets the likelihood memory while it is
    /// shorter than the full one.
    pub fn update(&mut self, step: Step, z: f64, r: f64, samples: u32) {
        let memory = f64::from(samples).clamp(1.0, LIKELIHOOD_MEMORY);
        for f in &mut self.filters {
            f.predict(step.dt, step.ctrl_ns, step.q_floor);
            f.update(z, r, memory);
        }
        let mut best = self.best;
        for (k, f) in self.filters.iter().enumerate() {
            if f.loglik > self.filters[best].loglik + 1e-4 {
                best = k;
            }
        }
        self.best = best;
        let top = self.filters[best].loglik;
        self.cautious = (best..BANK)
            .rev()
            .find(|k| (top - self.filters[*k].loglik) * memory <= PLAUSIBLE_NATS)
            .unwrap_or(best);
    }
}

/// Capture noise from second differences of the free-running phase (measured offset minus all
/// known control), in which the clock's phase and frequency cancel and 6 σ² of white capture
/// noise remain (plus 2q/3 of wander, negligible at one second).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct NoiseEstimator {
    prev: [(i64, f64); 2],
    have: u8,
    count: u32,
    var: f64,
}

impl NoiseEstimator {
    /// Takes the free-running phase `phi` (ns) of the pulse at `t_ns`.
    pub fn sample(&mut self, t_ns: i64, phi: f64) {
        let regular = |a: i64, b: i64| (b - a - 1_000_000_000).abs() < 100_000_000;
        if self.have >= 1 && !regular(self.prev[1].0, t_ns) {
            self.have = 0;
        }
        if self.have == 2 {
            let d = phi - 2.0 * self.prev[1].1 + self.prev[0].1;
            let mut d2 = d * d / 6.0;
            self.count += 1;
            if self.count > 2 * NOISE_MIN_SAMPLES {
                d2 = d2.min(self.var * NOISE_CLIP_SIGMAS * NOISE_CLIP_SIGMAS);
            }
            let a = (1.0 / f64::from(self.count)).max(1.0 / NOISE_MEMORY);
            self.var += a * (d2 - self.var);
        }
        self.prev[0] = self.prev[1];
        self.prev[1] = (t_ns, phi);
        self.have = (self.have + 1).min(2);
    }

    /// The capture-noise variance, ns², once enough second differences were seen.
    pub fn variance(&self) -> Option<f64> {
        (self.count >= NOISE_MIN_SAMPLES).then(|| self.var.max(1.0))
    }
}
