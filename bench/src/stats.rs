//! Median and spread of repeated rounds, and ratios taken within a round.

use std::time::{Duration, Instant};

/// Median, quartiles and range of a set of samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// The median.
    pub median: f64,
    /// The smallest sample.
    pub min: f64,
    /// The largest sample.
    pub max: f64,
    /// The first quartile (linear interpolation).
    pub q1: f64,
    /// The third quartile (linear interpolation).
    pub q3: f64,
    /// How many finite samples there were.
    pub n: usize,
}

/// Summarises the finite samples; `None` when there are none.
pub fn summarize(samples: &[f64]) -> Option<Summary> {
    let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(Summary {
        median: quantile(&v, 0.5),
        min: v[0],
        max: v[v.len() - 1],
        q1: quantile(&v, 0.25),
        q3: quantile(&v, 0.75),
        n: v.len(),
    })
}

/// The `q` quantile of sorted, non-empty samples, interpolated linearly.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Pairwise `a[i] / b[i]`: the ratio within each round (as long as the
/// shorter of the two).
pub fn ratios(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x / y).collect()
}

/// Runs `f` `n` times and returns the wall time it took.
pub fn time_n(n: u64, mut f: impl FnMut()) -> Duration {
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed()
}

/// Operations per second for `n` operations in `d`.
pub fn per_second(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_quartiles_interpolate() {
        let s = summarize(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!((s.min, s.max, s.n), (1.0, 4.0, 4));
        assert!((s.median - 2.5).abs() < 1e-12);
        assert!((s.q1 - 1.75).abs() < 1e-12);
        assert!((s.q3 - 3.25).abs() < 1e-12);
        let odd = summarize(&[5.0, 1.0, 9.0]).unwrap();
        assert_eq!(odd.median, 5.0);
    }

    #[test]
    fn non_finite_samples_are_ignored() {
        assert_eq!(summarize(&[]), None);
        assert_eq!(summarize(&[f64::NAN]), None);
        let s = summarize(&[f64::INFINITY, 2.0]).unwrap();
        assert_eq!((s.median, s.n), (2.0, 1));
    }

    #[test]
    fn ratios_pair_rounds() {
        assert_eq!(ratios(&[2.0, 9.0, 1.0], &[1.0, 3.0]), vec![2.0, 3.0]);
    }

    #[test]
    fn per_second_counts() {
        assert!((per_second(500, Duration::from_millis(250)) - 2000.0).abs() < 1e-9);
    }
}
