//! A fixed-size latency histogram (log-linear buckets, as HdrHistogram), so that
//! recording a value never allocates and percentiles are within about 3%.
//!
//! Values below 64 are exact; above, every power of two is split into 32 buckets.

/// Sub-buckets per power of two, as a power of two (32: under 3.2% error).
const SUB_BITS: u32 = 5;
/// Sub-buckets per power of two.
const SUB: usize = 1 << SUB_BITS;
/// Buckets for every `u64`.
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB;

/// Counts of recorded values (nanoseconds, or any unit) by bucket.
#[derive(Debug, Clone)]
pub struct Histogram {
    /// Count per bucket.
    counts: Box<[u64; BUCKETS]>,
    /// Values recorded.
    total: u64,
    /// The largest value recorded, exactly.
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: Box::new([0; BUCKETS]),
            total: 0,
            max: 0,
        }
    }
}

/// The bucket of `value`.
fn index(value: u64) -> usize {
    if value < (2 * SUB) as u64 {
        return value as usize;
    }
    let exponent = 63 - value.leading_zeros();
    let shift = exponent - SUB_BITS;
    let sub = (value >> shift) as usize & (SUB - 1);
    (shift as usize + 1) * SUB + sub
}

/// The smallest value of bucket `i`.
fn lowest(i: usize) -> u64 {
    if i < 2 * SUB {
        return i as u64;
    }
    let shift = (i / SUB - 1) as u32;
    ((SUB + i % SUB) as u64) << shift
}

impl Histogram {
    /// Records one value.
    pub fn record(&mut self, value: u64) {
        self.record_n(value, 1);
    }

    /// Records `value` `n` times (a read's requests that waited alike).
    pub fn record_n(&mut self, value: u64, n: u64) {
        if n == 0 {
            return;
        }
        self.counts[index(value)] += n;
        self.total += n;
        self.max = self.max.max(value);
    }

    /// Adds every value recorded in `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The largest value recorded (0 when empty).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` (0.5 for the median): the lowest value of the bucket
    /// holding it, or the exact maximum for the last rank; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        if rank >= self.total {
            return self.max;
        }
        let mut seen = 0;
        for (i, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return lowest(i).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_tight() {
        let mut previous = 0;
        for value in (0..20_000u64).chain([u64::MAX / 3, u64::MAX]) {
            let i = index(value);
            assert!(i < BUCKETS);
            assert!(i >= previous, "{value}");
            previous = i;
            let low = lowest(i);
            assert!(low <= value && value - low <= value / 32, "{value}: {low}");
        }
    }

    #[test]
    fn quantiles() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile(0.5), 0);
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let p50 = h.quantile(0.5) as f64;
        assert!((p50 - 500_000.0).abs() / 500_000.0 < 0.04, "{p50}");
        let p99 = h.quantile(0.99) as f64;
        assert!((p99 - 990_000.0).abs() / 990_000.0 < 0.04, "{p99}");
        assert_eq!(h.max(), 1_000_000);
        let mut other = Histogram::default();
        other.record(5_000_000);
        h.merge(&other);
        assert_eq!(h.count(), 1001);
        assert_eq!(h.quantile(1.0), 5_000_000);
        // Nineteen more at the top move the 99th percentile there; none changes nothing.
        h.record_n(5_000_000, 19);
        h.record_n(1, 0);
        assert_eq!(h.count(), 1020);
        assert!(h.quantile(0.99) > 4_800_000, "{}", h.quantile(0.99));
    }
}
