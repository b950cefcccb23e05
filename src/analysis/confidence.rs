//! Confidence m(x) = max_i p_i(x): histograms, quantiles, calibration (ECE and the reliability
//! table), overall and split by correct and wrong predictions. Pure functions.

use serde::{Deserialize, Serialize};

use crate::classifier::predictions;
use crate::data::CLASSES;

/// The quantiles reported.
pub const QUANTILES: [f64; 5] = [0.05, 0.10, 0.25, 0.50, 0.75];
/// Confidence above which a prediction counts as "certain".
pub const CERTAIN: f32 = 0.999;

/// Largest |row sum - 1| accepted in saved probabilities (f32 rounding stays far below it).
pub const SUM_TOLERANCE: f32 = 1e-3;

/// Why values are not class probabilities.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BadProbs {
    #[error("{values} values are not {rows} rows of {CLASSES}")]
    Length { values: usize, rows: usize },
    #[error("image {row} has {value}, which is no probability (finite, in [0, 1])")]
    Range { row: usize, value: f32 },
    #[error("the probabilities of image {row} sum to {sum}, not 1")]
    Sum { row: usize, sum: f32 },
}

/// Checks that `probs` are `rows` rows of [`CLASSES`] probabilities: finite, in [0, 1], each
/// row summing to 1 within [`SUM_TOLERANCE`]. The first fault found is named.
pub fn check_probs(probs: &[f32], rows: usize) -> Result<(), BadProbs> {
    if probs.len() != rows * CLASSES {
        return Err(BadProbs::Length {
            values: probs.len(),
            rows,
        });
    }
    for (row, p) in probs.chunks_exact(CLASSES).enumerate() {
        if let Some(&value) = p.iter().find(|v| !(0.0..=1.0).contains(*v)) {
            return Err(BadProbs::Range { row, value });
        }
        let sum: f32 = p.iter().sum();
        if (sum - 1.0).abs() > SUM_TOLERANCE {
            return Err(BadProbs::Sum { row, sum });
        }
    }
    Ok(())
}

/// m(x) of each row of `probs` (`n * 10`).
pub fn max_probs(probs: &[f32]) -> Vec<f32> {
    probs
        .chunks_exact(CLASSES)
        .map(|row| row.iter().fold(0.0f32, |m, &p| m.max(p)))
        .collect()
}

/// Bin of `value` among `bins` equal bins over [0,1]: `[i/bins, (i+1)/bins)`, the last one
/// closed. A value a hair below an edge (float rounding of e.g. 0.7) counts as on the edge.
pub fn bin_of(value: f32, bins: usize) -> usize {
    let at = (value as f64 * bins as f64 + 1e-6).floor();
    (at.max(0.0) as usize).min(bins - 1)
}

/// Counts of `values` in `bins` equal bins over [0,1] (`bins` >= 1).
pub fn histogram(values: &[f32], bins: usize) -> Vec<usize> {
    let mut counts = vec![0; bins];
    for &v in values {
        counts[bin_of(v, bins)] += 1;
    }
    counts
}

/// The `q` quantile of sorted values, interpolating linearly between order statistics (numpy's
/// default); `None` for no values.
pub fn quantile(sorted: &[f32], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let pos = q.clamp(0.0, 1.0) * last as f64;
    let (lo, frac) = (pos.floor() as usize, pos - pos.floor());
    let a = sorted[lo] as f64;
    let b = sorted[(lo + 1).min(last)] as f64;
    Some(a + (b - a) * frac)
}

/// One bin of the reliability table: confidences in `(lo, hi]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    pub lo: f64,
    pub hi: f64,
    pub count: usize,
    /// Mean confidence of the bin's predictions (0 when empty).
    pub confidence: f64,
    /// Share of the bin's predictions that are right (0 when empty).
    pub accuracy: f64,
}

/// Reliability table over `bins` equal bins `(i/bins, (i+1)/bins]` (a confidence of 0 falls in
/// the first).
pub fn reliability(confidence: &[f32], correct: &[bool], bins: usize) -> Vec<ReliabilityBin> {
    let mut sums = vec![(0usize, 0.0f64, 0usize); bins];
    for (&c, &ok) in confidence.iter().zip(correct) {
        let i = ((c as f64 * bins as f64).ceil() as usize).clamp(1, bins) - 1;
        sums[i].0 += 1;
        sums[i].1 += c as f64;
        sums[i].2 += usize::from(ok);
    }
    sums.iter()
        .enumerate()
        .map(|(i, &(count, conf, hits))| {
            let per = |x: f64| if count == 0 { 0.0 } else { x / count as f64 };
            ReliabilityBin {
                lo: i as f64 / bins as f64,
                hi: (i + 1) as f64 / bins as f64,
                count,
                confidence: per(conf),
                accuracy: per(hits as f64),
            }
        })
        .collect()
}

/// Expected calibration error: the count-weighted mean of |accuracy - confidence| over bins.
pub fn ece(table: &[ReliabilityBin]) -> f64 {
    let n: usize = table.iter().map(|b| b.count).sum();
    if n == 0 {
        return 0.0;
    }
    table
        .iter()
        .map(|b| b.count as f64 * (b.accuracy - b.confidence).abs())
        .sum::<f64>()
        / n as f64
}

/// m(x) statistics of a group of predictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub count: usize,
    pub mean_confidence: f64,
    /// `(q, value)` for each of [`QUANTILES`] (empty for no predictions).
    pub quantiles: Vec<(f64, f64)>,
    /// Share with m(x) > [`CERTAIN`].
    pub above_0999: f64,
    pub histogram: Vec<usize>,
}

/// Statistics of `values` with a `bins`-bin histogram.
pub fn spread(values: &[f32], bins: usize) -> Spread {
    let mut sorted = values.to_vec();
    sorted.sort_by(f32::total_cmp);
    let n = values.len();
    let share = |x: usize| if n == 0 { 0.0 } else { x as f64 / n as f64 };
    Spread {
        count: n,
        mean_confidence: values.iter().map(|&v| v as f64).sum::<f64>() / n.max(1) as f64,
        quantiles: QUANTILES
            .iter()
            .filter_map(|&q| quantile(&sorted, q).map(|v| (q, v)))
            .collect(),
        above_0999: share(values.iter().filter(|&&v| v > CERTAIN).count()),
        histogram: histogram(values, bins),
    }
}

/// A model's confidence report on one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfidenceReport {
    pub accuracy: f64,
    pub ece: f64,
    pub all: Spread,
    pub correct: Spread,
    pub wrong: Spread,
    pub reliability: Vec<ReliabilityBin>,
}

/// The full report for `probs` (`n * 10`) against `labels`: histograms with `bins` bins, ECE
/// and reliability with `ece_bins` bins (both >= 1).
pub fn report(probs: &[f32], labels: &[u8], bins: usize, ece_bins: usize) -> ConfidenceReport {
    let m = max_probs(probs);
    let correct: Vec<bool> = predictions(probs)
        .iter()
        .zip(labels)
        .map(|(p, l)| p == l)
        .collect();
    let pick = |want: bool| -> Vec<f32> {
        m.iter()
            .zip(&correct)
            .filter(|(_, &ok)| ok == want)
            .map(|(&v, _)| v)
            .collect()
    };
    let table = reliability(&m, &correct, ece_bins);
    let hits = correct.iter().filter(|&&c| c).count();
    ConfidenceReport {
        accuracy: hits as f64 / labels.len().max(1) as f64,
        ece: ece(&table),
        all: spread(&m, bins),
        correct: spread(&pick(true), bins),
        wrong: spread(&pick(false), bins),
        reliability: table,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_counts_edges_into_the_upper_bin_and_one_into_the_last() {
        let v = [0.0, 0.05, 0.1, 0.3, 0.7, 0.99, 1.0];
        // 10 bins: 0.0, 0.05 -> 0; 0.1 -> 1; 0.3 -> 3; 0.7 (0.69999999 in f32) -> 7; 0.99, 1 -> 9.
        assert_eq!(histogram(&v, 10), vec![2, 1, 0, 1, 0, 0, 0, 1, 0, 2]);
        assert_eq!(histogram(&v, 1), vec![7]);
    }

    #[test]
    fn quantiles_interpolate_like_numpy() {
        let sorted = [0.1f32, 0.2, 0.4, 0.8];
        // position q * 3: 0.5 -> 1.5 -> 0.3; 0.25 -> 0.75 -> 0.175; 0.05 -> 0.15 -> 0.115.
        assert!((quantile(&sorted, 0.5).unwrap() - 0.3).abs() < 1e-6);
        assert!((quantile(&sorted, 0.25).unwrap() - 0.175).abs() < 1e-6);
        assert!((quantile(&sorted, 0.05).unwrap() - 0.115).abs() < 1e-6);
        assert!((quantile(&sorted, 1.0).unwrap() - 0.8).abs() < 1e-6);
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn ece_and_reliability_by_hand() {
        // Two bins: (0, 0.5] holds 0.4 (right) and 0.5 (wrong): conf 0.45, acc 0.5;
        // (0.5, 1] holds 0.9 (right), 1.0 (right): conf 0.95, acc 1.
        // ECE = 2/4 * 0.05 + 2/4 * 0.05 = 0.05.
        let table = reliability(&[0.4, 0.5, 0.9, 1.0], &[true, false, true, true], 2);
        assert_eq!(table[0].count, 2);
        assert!((table[0].confidence - 0.45).abs() < 1e-6);
        assert_eq!(table[0].accuracy, 0.5);
        assert!((table[1].confidence - 0.95).abs() < 1e-6);
        assert!((ece(&table) - 0.05).abs() < 1e-6);
    }

    #[test]
    fn report_splits_correct_and_wrong() {
        // Row 0: class 1 at 0.6 (label 1, right); row 1: class 2 at 1.0 (label 3, wrong).
        let mut probs = vec![0.0f32; 20];
        probs[0] = 0.4;
        probs[1] = 0.6;
        probs[10 + 2] = 1.0;
        let r = report(&probs, &[1, 3], 20, 15);
        assert_eq!(r.accuracy, 0.5);
        assert_eq!(r.correct.count, 1);
        assert_eq!(r.wrong.count, 1);
        assert!((r.correct.mean_confidence - 0.6).abs() < 1e-6);
        assert_eq!(r.wrong.above_0999, 1.0);
        assert_eq!(r.all.above_0999, 0.5);
        assert_eq!(r.all.histogram[12], 1);
        assert_eq!(r.all.histogram[19], 1);
        // |1 - 0.6| / 2 + |0 - 1| / 2 = 0.7.
        assert!((r.ece - 0.7).abs() < 1e-6);
    }

    #[test]
    fn saved_probabilities_are_checked_for_range_and_row_sums() {
        let mut probs = vec![0.1f32; 2 * CLASSES];
        assert_eq!(check_probs(&probs, 2), Ok(()));
        assert!(matches!(
            check_probs(&probs, 3),
            Err(BadProbs::Length {
                values: 20,
                rows: 3
            })
        ));
        probs[13] = f32::NAN;
        assert!(matches!(
            check_probs(&probs, 2),
            Err(BadProbs::Range { row: 1, .. })
        ));
        probs[13] = 1.5;
        assert!(matches!(
            check_probs(&probs, 2),
            Err(BadProbs::Range { row: 1, .. })
        ));
        probs[13] = 0.5;
        assert!(matches!(
            check_probs(&probs, 2),
            Err(BadProbs::Sum { row: 1, .. })
        ));
    }
}
