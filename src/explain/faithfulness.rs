//! How faithful a map is to the model: deletion and insertion curves (Petsiuk et al., 2018).
//! Pixels ranked by the map (largest first) are removed from the image (set to 0) or added to
//! a black one in 5 % steps, and p(target) read after each; the area under each curve is
//! its mean over the steps (trapezoid). A faithful map makes deletion fall fast (low area) and
//! insertion rise fast (high area). A random ranking is the reference row.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::{explain_targets, ExplainError, Explainer, Method, Settings};
use crate::data::{CLASSES, PIXELS};

/// Steps of each curve: 0 %, 5 %, ..., 100 % of the pixels.
pub const STEPS: usize = 21;

/// One method's mean curves over the images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaithRow {
    /// A method's name, or `random`.
    pub method: String,
    /// Mean p(target) after removing / adding each 5 % of the pixels.
    pub deletion: Vec<f64>,
    pub insertion: Vec<f64>,
    pub deletion_auc: f64,
    pub insertion_auc: f64,
    /// Seconds the map took per image (0 for `random`).
    pub seconds_per_image: f64,
}

/// The faithfulness table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Faithfulness {
    pub images: usize,
    pub rows: Vec<FaithRow>,
}

/// Pixel indices from the largest map value to the smallest (ties by index).
fn ranking(map: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..map.len()).collect();
    order.sort_by(|&a, &b| map[b].total_cmp(&map[a]).then(a.cmp(&b)));
    order
}

/// Mean of a curve over evenly spaced steps by the trapezoid rule.
pub fn auc(curve: &[f64]) -> f64 {
    if curve.len() < 2 {
        return curve.first().copied().unwrap_or(0.0);
    }
    let inner: f64 = curve[1..curve.len() - 1].iter().sum();
    (inner + (curve[0] + curve[curve.len() - 1]) / 2.0) / (curve.len() - 1) as f64
}

/// A deletion curve and an insertion curve.
type Curves = (Vec<f64>, Vec<f64>);

/// The deletion and insertion curves of one image for each ranking (`orders`), in one batch.
fn curves(
    model: &mut Explainer,
    x: &[f32],
    target: usize,
    orders: &[Vec<usize>],
) -> Result<Vec<Curves>, ExplainError> {
    let mut batch = Vec::with_capacity(orders.len() * 2 * STEPS * PIXELS);
    for order in orders {
        for step in 0..STEPS {
            let k = step * PIXELS / (STEPS - 1);
            let mut deleted = x.to_vec();
            let mut inserted = vec![0.0; PIXELS];
            for &p in &order[..k] {
                deleted[p] = 0.0;
                inserted[p] = x[p];
            }
            batch.extend(deleted);
            batch.extend(inserted);
        }
    }
    let probs = model.probs(&batch)?;
    let p = |j: usize| f64::from(probs[j * CLASSES + target]);
    Ok((0..orders.len())
        .map(|o| {
            let base = o * 2 * STEPS;
            let del = (0..STEPS).map(|s| p(base + 2 * s)).collect();
            let ins = (0..STEPS).map(|s| p(base + 2 * s + 1)).collect();
            (del, ins)
        })
        .collect())
}

/// The faithfulness of `methods` on the images `xs` (each explained for `targets[i]`),
/// averaged over the images, with a random ranking (seeded by `s.seed`) as the last row.
/// `cancelled` is polled between images; the rows then cover the images done.
pub fn measure(
    model: &mut Explainer,
    xs: &[f32],
    targets: &[usize],
    methods: &[Method],
    s: &Settings,
    cancelled: &dyn Fn() -> bool,
) -> Result<Faithfulness, ExplainError> {
    let names: Vec<String> = methods
        .iter()
        .map(|m| m.name().to_string())
        .chain(["random".to_string()])
        .collect();
    let mut sums = vec![(vec![0.0; STEPS], vec![0.0; STEPS]); names.len()];
    let mut seconds = vec![0.0; names.len()];
    let mut rng = rand::rngs::StdRng::seed_from_u64(s.seed);
    let mut done = 0;
    for (x, &t) in xs.chunks_exact(PIXELS).zip(targets) {
        if cancelled() {
            break;
        }
        let e = explain_targets(model, x, &[t], methods, s)?;
        let mut orders: Vec<Vec<usize>> =
            e.images[0].maps.iter().map(|(_, m)| ranking(m)).collect();
        let mut random: Vec<usize> = (0..PIXELS).collect();
        random.shuffle(&mut rng);
        orders.push(random);
        for (j, (_, secs)) in e.seconds.iter().enumerate() {
            seconds[j] += secs;
        }
        for ((del, ins), (sd, si)) in curves(model, x, t, &orders)?.into_iter().zip(&mut sums) {
            sd.iter_mut().zip(&del).for_each(|(a, b)| *a += b);
            si.iter_mut().zip(&ins).for_each(|(a, b)| *a += b);
        }
        done += 1;
    }
    let n = done.max(1) as f64;
    let rows = names
        .into_iter()
        .zip(sums)
        .zip(seconds)
        .map(|((method, (del, ins)), secs)| {
            let deletion: Vec<f64> = del.iter().map(|v| v / n).collect();
            let insertion: Vec<f64> = ins.iter().map(|v| v / n).collect();
            FaithRow {
                method,
                deletion_auc: auc(&deletion),
                insertion_auc: auc(&insertion),
                deletion,
                insertion,
                seconds_per_image: secs / n,
            }
        })
        .collect();
    Ok(Faithfulness { images: done, rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_is_the_trapezoid_mean() {
        assert_eq!(auc(&[1.0; STEPS]), 1.0);
        assert!((auc(&[0.0, 1.0]) - 0.5).abs() < 1e-12);
        assert!((auc(&[1.0, 0.0, 0.0]) - 0.25).abs() < 1e-12);
    }

    #[test]
    fn ranking_puts_the_largest_first() {
        assert_eq!(ranking(&[0.1, 3.0, -2.0, 3.0]), vec![1, 3, 0, 2]);
    }
}
