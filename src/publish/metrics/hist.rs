//! Signed nanosecond histograms on hdrhistogram, and the fixed Prometheus buckets derived from
//! them.
//!
//! hdrhistogram records unsigned values, so a [`SignedHist`] keeps two: one for values ≥ 0 and
//! one for the magnitudes of values < 0. Both record whole nanoseconds with three significant
//! digits: exact below 2048 ns, within 0.1 % above. Buckets are derived from the recorded cells:
//! each cell is placed by the end of the cell farthest from zero, so a sample may be counted one
//! bucket farther from zero than its exact value, never nearer (a histogram that errs makes the
//! clock look worse, not better). The sum is kept exactly, in `i128` nanoseconds, beside the
//! histograms. [`Windowed`] adds a recent window made of two rotating halves.
//!
//! Recording never allocates (the count arrays are sized once, counts saturate) and never panics
//! on any `i64`; values beyond [`MAX_NS`] are counted in the outermost buckets.

use hdrhistogram::Histogram;

/// Largest magnitude recorded in the hdrhistograms, ns (2 s). Larger ones are counted apart.
pub const MAX_NS: u64 = 2_000_000_000;

/// Bucket upper bounds (`le`) for offsets and interval jitter, ns: 1-2-5 steps from 10 ns to
/// 500 µs, then 1, 10 and 100 ms, on both sides of zero, and zero itself.
pub const BOUNDS_NS: [i64; 37] = [
    -100_000_000,
    -10_000_000,
    -1_000_000,
    -500_000,
    -200_000,
    -100_000,
    -50_000,
    -20_000,
    -10_000,
    -5_000,
    -2_000,
    -1_000,
    -500,
    -200,
    -100,
    -50,
    -20,
    -10,
    0,
    10,
    20,
    50,
    100,
    200,
    500,
    1_000,
    2_000,
    5_000,
    10_000,
    20_000,
    50_000,
    100_000,
    200_000,
    500_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// Per-bucket (not cumulative) counts: one per bound in [`BOUNDS_NS`], then `+Inf`.
pub type BucketCounts = [u64; BOUNDS_NS.len() + 1];

fn new_hdr() -> Histogram<u32> {
    // Constant arguments inside hdrhistogram's limits (low ≥ 1, high ≥ 2·low, sigfig ≤ 5): the
    // call cannot fail, which the tests exercise.
    Histogram::new_with_bounds(1, MAX_NS, 3).expect("valid constant hdrhistogram bounds")
}

/// The index of the first bound ≥ `x` (the `+Inf` slot when none).
fn bucket_of(x: i64) -> usize {
    BOUNDS_NS.partition_point(|&b| b < x)
}

/// A histogram of signed nanosecond values with an exact sum.
#[derive(Clone, Debug)]
pub struct SignedHist {
    pos: Histogram<u32>,
    neg: Histogram<u32>,
    over_pos: u64,
    over_neg: u64,
    count: u64,
    sum_ns: i128,
}

impl Default for SignedHist {
    fn default() -> SignedHist {
        SignedHist::new()
    }
}

impl SignedHist {
    /// An empty histogram.
    pub fn new() -> SignedHist {
        SignedHist {
            pos: new_hdr(),
            neg: new_hdr(),
            over_pos: 0,
            over_neg: 0,
            count: 0,
            sum_ns: 0,
        }
    }

    /// Records one value, ns.
    pub fn record(&mut self, x_ns: i64) {
        self.count = self.count.saturating_add(1);
        self.sum_ns += i128::from(x_ns);
        let (hist, over) = if x_ns >= 0 {
            (&mut self.pos, &mut self.over_pos)
        } else {
            (&mut self.neg, &mut self.over_neg)
        };
        let mag = x_ns.unsigned_abs();
        if mag > MAX_NS || hist.record(mag).is_err() {
            *over = over.saturating_add(1);
        }
    }

    /// Forgets everything recorded (no allocation).
    pub fn reset(&mut self) {
        self.pos.reset();
        self.neg.reset();
        self.over_pos = 0;
        self.over_neg = 0;
        self.count = 0;
        self.sum_ns = 0;
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Exact sum of the values recorded, ns.
    pub fn sum_ns(&self) -> i128 {
        self.sum_ns
    }

    /// Adds this histogram's per-bucket counts to `into`.
    pub fn add_buckets(&self, into: &mut BucketCounts) {
        for v in self.pos.iter_recorded() {
            let hi = self.pos.highest_equivalent(v.value_iterated_to());
            let x = i64::try_from(hi).unwrap_or(i64::MAX);
            into[bucket_of(x)] += v.count_at_value() as u64;
        }
        for v in self.neg.iter_recorded() {
            let hi = self.neg.highest_equivalent(v.value_iterated_to());
            let x = i64::try_from(hi).map_or(i64::MIN, |m| -m);
            into[bucket_of(x)] += v.count_at_value() as u64;
        }
        into[BOUNDS_NS.len()] += self.over_pos;
        into[0] += self.over_neg;
    }

    /// Bytes held by the two hdrhistograms' count arrays.
    pub fn heap_bytes(&self) -> usize {
        let cells = self.pos.distinct_values() + self.neg.distinct_values();
        cells * std::mem::size_of::<u32>()
    }
}

/// A since-start histogram and a recent one made of two halves of `window_ns / 2` each: the
/// recent view covers between half a window and a whole one, the half being rotated out as the
/// next starts.
#[derive(Clone, Debug)]
pub struct Windowed {
    total: SignedHist,
    halves: [SignedHist; 2],
    current: usize,
    half_ns: i64,
    half_started_ns: Option<i64>,
}

impl Windowed {
    /// Empty histograms with a recent window of `window_ns` (at least 2 ns).
    pub fn new(window_ns: i64) -> Windowed {
        Windowed {
            total: SignedHist::new(),
            halves: [SignedHist::new(), SignedHist::new()],
            current: 0,
            half_ns: (window_ns / 2).max(1),
            half_started_ns: None,
        }
    }

    /// Moves the window to monotonic instant `now_ns`: a half older than `window_ns / 2` is
    /// dropped and its slot starts the new half.
    pub fn advance(&mut self, now_ns: i64) {
        let start = *self.half_started_ns.get_or_insert(now_ns);
        let elapsed = now_ns.saturating_sub(start);
        if elapsed < self.half_ns {
            return;
        }
        if elapsed >= 2 * self.half_ns {
            // Nothing recorded in the last whole window belongs to the recent view.
            self.halves[0].reset();
            self.halves[1].reset();
        } else {
            self.current ^= 1;
            self.halves[self.current].reset();
        }
        self.half_started_ns = Some(now_ns);
    }

    /// Records one value, ns, in both views.
    pub fn record(&mut self, x_ns: i64) {
        self.total.record(x_ns);
        self.halves[self.current].record(x_ns);
    }

    /// The since-start histogram.
    pub fn total(&self) -> &SignedHist {
        &self.total
    }

    /// Per-bucket counts, count and sum (ns) of the recent view.
    pub fn recent(&self) -> (BucketCounts, u64, i128) {
        let mut b = [0; BOUNDS_NS.len() + 1];
        let mut count = 0;
        let mut sum = 0;
        for h in &self.halves {
            h.add_buckets(&mut b);
            count += h.count();
            sum += h.sum_ns();
        }
        (b, count, sum)
    }

    /// Bytes held by all the count arrays.
    pub fn heap_bytes(&self) -> usize {
        self.total.heap_bytes()
            + self
                .halves
                .iter()
                .map(SignedHist::heap_bytes)
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buckets(h: &SignedHist) -> BucketCounts {
        let mut b = [0; BOUNDS_NS.len() + 1];
        h.add_buckets(&mut b);
        b
    }

    fn idx(bound: i64) -> usize {
        BOUNDS_NS.iter().position(|&b| b == bound).unwrap()
    }

    #[test]
    fn exact_values_land_in_their_buckets_and_sum_is_exact() {
        let mut h = SignedHist::new();
        for x in [-1_000, -999, -10, 0, 10, 11, 1_000] {
            h.record(x);
        }
        let b = buckets(&h);
        assert_eq!(b[idx(-1_000)], 1);
        assert_eq!(b[idx(-500)], 1, "-999 is ≤ -500 and > -1000");
        assert_eq!(b[idx(-10)], 1);
        assert_eq!(b[idx(0)], 1);
        assert_eq!(b[idx(10)], 1);
        assert_eq!(b[idx(20)], 1);
        assert_eq!(b[idx(1_000)], 1);
        assert_eq!(b.iter().sum::<u64>(), 7);
        assert_eq!(h.sum_ns(), -1_000 - 999 - 10 + 10 + 11 + 1_000);
    }

    #[test]
    fn coarse_cells_round_away_from_zero() {
        // Above 32768 ns the hdr cells are 32 ns wide. 50_001 lies in 49_984..=50_015, which
        // reaches past 50 µs: counted above 50 µs, as it should be. 49_990 shares that cell and
        // is also counted above 50 µs (one bucket farther from zero, the allowed error); on the
        // negative side −49_990 is counted ≤ −50 µs likewise. 49_950 lies in a cell ending at
        // 49_951: counted ≤ 50 µs.
        let mut h = SignedHist::new();
        h.record(50_001);
        h.record(49_990);
        h.record(-49_990);
        h.record(49_950);
        let b = buckets(&h);
        assert_eq!(b[idx(100_000)], 2);
        assert_eq!(b[idx(-50_000)], 1);
        assert_eq!(b[idx(-20_000)], 0);
        assert_eq!(b[idx(50_000)], 1);
    }

    #[test]
    fn extremes_are_counted_not_lost() {
        let mut h = SignedHist::new();
        h.record(i64::MAX);
        h.record(i64::MIN);
        h.record(3_000_000_000);
        let b = buckets(&h);
        assert_eq!(b[BOUNDS_NS.len()], 2);
        assert_eq!(b[0], 1);
        assert_eq!(h.count(), 3);
    }

    #[test]
    fn recent_window_rotates_in_halves() {
        const S: i64 = 1_000_000_000;
        let mut w = Windowed::new(600 * S);
        w.advance(0);
        w.record(5);
        w.advance(299 * S);
        w.record(6);
        assert_eq!(w.recent().1, 2);
        w.advance(300 * S); // second half starts; the first is kept
        w.record(7);
        assert_eq!(w.recent().1, 3);
        w.advance(600 * S); // the first half is dropped
        assert_eq!(w.recent().1, 1);
        assert_eq!(w.recent().2, 7);
        w.advance(5_000 * S); // long silence: nothing recent
        assert_eq!(w.recent().1, 0);
        assert_eq!(w.total().count(), 3);
    }
}
