//! Many inversions at once: every source image to every target class, and their summary.

use std::sync::Arc;

use serde::Serialize;

use super::{Frame, GradientInverter, GradientOptions, StartImage, StopReason};
use crate::data::CLASSES;
use crate::model::Network;

/// The outcome of one source-to-target inversion.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    /// Row: index into the sources.
    pub source: usize,
    /// The source image's label, if known.
    pub label: Option<usize>,
    pub target: usize,
    /// Gradient norm at the start image.
    pub start_grad_norm: f32,
    /// The last frame.
    #[serde(skip)]
    pub last: Frame,
    pub steps: usize,
    pub p_target: f32,
    pub l2: f32,
    pub linf: f32,
    pub reason: StopReason,
}

/// Runs every source to every target 0-9 with `options` (its target is replaced), row-major.
/// `progress(done, total)` is called after each inversion.
pub fn run(
    net: &Arc<Network>,
    sources: &[StartImage],
    options: &GradientOptions,
    mut progress: impl FnMut(usize, usize),
) -> anyhow::Result<Vec<Cell>> {
    let total = sources.len() * CLASSES;
    let mut cells = Vec::with_capacity(total);
    for (row, source) in sources.iter().enumerate() {
        for target in 0..CLASSES {
            let o = GradientOptions {
                target,
                ..options.clone()
            };
            let mut inverter = GradientInverter::new(net.clone(), source.pixels.clone(), o)?;
            let first = inverter.step()?;
            let start_grad_norm = first.grad_norm;
            let mut last = first;
            for frame in inverter.by_ref() {
                last = frame?;
            }
            let reason = inverter
                .stop_reason()
                .ok_or_else(|| anyhow::anyhow!("the inversion ended without a stop reason"))?;
            cells.push(Cell {
                source: row,
                label: source.label,
                target,
                start_grad_norm,
                steps: last.step,
                p_target: last.p_target,
                l2: last.l2,
                linf: last.linf,
                last,
                reason,
            });
            progress(cells.len(), total);
        }
    }
    Ok(cells)
}

/// One method's results over a grid, leaving out cells whose source already is the target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub runs: usize,
    pub reached: usize,
    pub success_rate: f64,
    /// Median steps of the runs that reached the threshold.
    pub median_steps: Option<f64>,
    /// Mean distances of the runs that reached the threshold.
    pub mean_l2: Option<f64>,
    pub mean_linf: Option<f64>,
    /// Median gradient norm at the start image, over all runs: why a method stalls.
    pub median_start_grad_norm: Option<f64>,
}

/// Summarises cells (see [`Summary`]).
pub fn summarise(cells: &[Cell]) -> Summary {
    let runs: Vec<&Cell> = cells.iter().filter(|c| c.label != Some(c.target)).collect();
    let reached: Vec<&Cell> = runs
        .iter()
        .copied()
        .filter(|c| c.reason == StopReason::Reached)
        .collect();
    let mean = |f: fn(&Cell) -> f32| {
        (!reached.is_empty())
            .then(|| reached.iter().map(|c| f64::from(f(c))).sum::<f64>() / reached.len() as f64)
    };
    Summary {
        runs: runs.len(),
        reached: reached.len(),
        success_rate: if runs.is_empty() {
            0.0
        } else {
            reached.len() as f64 / runs.len() as f64
        },
        median_steps: median(reached.iter().map(|c| c.steps as f64).collect()),
        mean_l2: mean(|c| c.l2),
        mean_linf: mean(|c| c.linf),
        median_start_grad_norm: median(runs.iter().map(|c| f64::from(c.start_grad_norm)).collect()),
    }
}

/// The median (mean of the middle two for an even count); `None` when empty.
pub fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
    }
}
