//! The results as [`Figure`]s (training curves, m(x) histograms and reliability, accuracy under
//! noise, ablation bars, p(target) of an inversion), from the numbers the screens show, for
//! `--plot` and the export key.

use super::charts::{Figure, FigureAxis, FigureSeries, Mark};
use crate::ablation::VariantRow;
use crate::jobs::confidence::ModelConfidence;
use crate::jobs::robustness::RobustnessResult;
use crate::model::train::EpochMetrics;

/// The colour of reference lines (perfect calibration, a threshold): the palette's grey.
const GREY: usize = 9;

/// A training batch event: the running mean of the loss over the epoch so far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchMean {
    /// 1-based epoch and batch, and the batches in an epoch.
    pub epoch: usize,
    pub batch: usize,
    pub batches: usize,
    pub mean_loss: f64,
}

/// The loss of each batch, at x = epochs done (fractional), recovered from the running means
/// of consecutive batch events (`batch_size` images per batch, the last one of an epoch
/// smaller when `train_images` is not a multiple). The first batch after a resume mid-epoch
/// has no predecessor and is left out.
pub fn batch_losses(
    means: &[BatchMean],
    batch_size: usize,
    train_images: usize,
) -> Vec<(f64, f64)> {
    let seen = |b: usize| (b * batch_size).min(train_images) as f64;
    let mut out = Vec::with_capacity(means.len());
    let mut previous: Option<&BatchMean> = None;
    for m in means {
        let x = (m.epoch - 1) as f64 + m.batch as f64 / m.batches.max(1) as f64;
        if m.batch == 1 {
            out.push((x, m.mean_loss));
        } else if let Some(p) = previous.filter(|p| p.epoch == m.epoch && p.batch + 1 == m.batch) {
            let images = seen(m.batch) - seen(p.batch);
            if images > 0.0 {
                out.push((
                    x,
                    (m.mean_loss * seen(m.batch) - p.mean_loss * seen(p.batch)) / images,
                ));
            }
        }
        previous = Some(m);
    }
    out
}

/// Lowest and highest finite value of `values`.
fn span(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((f64::min(lo, v), f64::max(hi, v))),
        })
}

/// An accuracy (%) axis from a round value below `lowest` to 100.
fn percent_axis(title: &str, lowest: Option<f64>) -> FigureAxis {
    let lo = lowest.map_or(0.0, |l| ((l - 2.0) / 10.0).floor() * 10.0);
    FigureAxis::new(title, [lo.clamp(0.0, 90.0), 100.0])
}

/// Training curves of `run`: the loss (log scale) per batch and per epoch, train and test; and
/// the accuracy per epoch, train and test.
pub fn training(run: &str, history: &[EpochMetrics], batches: &[(f64, f64)]) -> Vec<Figure> {
    let epochs = history.iter().map(|m| m.epoch).max().unwrap_or(1).max(1) as f64;
    let last_x = batches.iter().map(|p| p.0).fold(epochs, f64::max);
    let x = FigureAxis::new("epoch", [0.0, last_x]);
    let per_epoch = |f: fn(&EpochMetrics) -> f64| -> Vec<(f64, f64)> {
        history.iter().map(|m| (m.epoch as f64, f(m))).collect()
    };
    let losses = batches
        .iter()
        .map(|p| p.1)
        .chain(history.iter().flat_map(|m| [m.train_loss, m.test_loss]))
        .filter(|v| *v > 0.0);
    let (lo, hi) = span(losses).unwrap_or((0.01, 1.0));
    let loss = Figure {
        title: format!("{run}: loss"),
        x: x.clone(),
        y: FigureAxis::new("loss (log scale)", [lo * 0.8, hi * 1.25]).log(true),
        series: vec![
            FigureSeries::new("train, per batch", batches.to_vec(), Mark::Line, GREY),
            FigureSeries::new(
                "train, epoch mean",
                per_epoch(|m| m.train_loss),
                Mark::Line,
                0,
            ),
            FigureSeries::new("test", per_epoch(|m| m.test_loss), Mark::Line, 1),
        ],
    };
    let accuracies = history
        .iter()
        .flat_map(|m| [m.train_accuracy, m.test_accuracy])
        .map(|a| 100.0 * a);
    let accuracy = Figure {
        title: format!("{run}: accuracy"),
        x,
        y: percent_axis("accuracy %", span(accuracies).map(|s| s.0)),
        series: vec![
            FigureSeries::new(
                "train",
                per_epoch(|m| 100.0 * m.train_accuracy),
                Mark::Line,
                0,
            ),
            FigureSeries::new(
                "test",
                per_epoch(|m| 100.0 * m.test_accuracy),
                Mark::Line,
                1,
            ),
        ],
    };
    vec![loss, accuracy]
}

/// One m(x) histogram per model (heights on a log scale when `log`), then the reliability
/// diagram of all of them against the diagonal of perfect calibration.
pub fn confidence(models: &[ModelConfidence], log: bool) -> Vec<Figure> {
    let mut figures: Vec<Figure> = models
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let counts = &m.report.all.histogram;
            let width = 1.0 / counts.len().max(1) as f64;
            let points: Vec<(f64, f64)> = counts
                .iter()
                .enumerate()
                .map(|(b, &c)| (b as f64 * width, c as f64))
                .collect();
            let top = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
            let y = if log {
                FigureAxis::new("images (log scale)", [0.5, top * 1.5]).log(true)
            } else {
                FigureAxis::new("images", [0.0, top * 1.05])
            };
            Figure {
                title: format!("{}: m(x) of {} test images", m.label, m.report.all.count),
                x: FigureAxis::new("m(x), the top class's probability", [0.0, 1.0]),
                y,
                series: vec![FigureSeries::new(
                    m.label.clone(),
                    points,
                    Mark::Bars { width },
                    i,
                )],
            }
        })
        .collect();
    let mut series = vec![FigureSeries::new(
        "calibrated",
        vec![(0.0, 0.0), (1.0, 100.0)],
        Mark::Line,
        GREY,
    )];
    series.extend(models.iter().enumerate().map(|(i, m)| {
        let points = m
            .report
            .reliability
            .iter()
            .filter(|b| b.count > 0)
            .map(|b| (b.confidence, 100.0 * b.accuracy))
            .collect();
        FigureSeries::new(
            format!("{} (ECE {:.4})", m.label, m.report.ece),
            points,
            Mark::Line,
            i,
        )
    }));
    figures.push(Figure {
        title: "reliability".into(),
        x: FigureAxis::new("mean m(x) in the bin", [0.0, 1.0]),
        y: FigureAxis::new("accuracy %", [0.0, 100.0]),
        series,
    });
    figures
}

/// Accuracy against the noise's sigma, one line per model.
pub fn robustness(result: &RobustnessResult) -> Figure {
    let series = super::results::noise_series(result)
        .iter()
        .enumerate()
        .map(|(i, s)| FigureSeries::new(s.name.clone(), s.points.to_vec(), Mark::Line, i))
        .collect();
    let max_sigma = result.sigmas.iter().copied().fold(0.0f32, f32::max);
    let lowest = span(result.noise.iter().map(|r| 100.0 * r.accuracy)).map(|s| s.0);
    Figure {
        title: format!(
            "accuracy under Gaussian noise ({} test images)",
            result.noise_images
        ),
        x: FigureAxis::new("sigma", [0.0, f64::from(max_sigma).max(1e-6)]),
        y: percent_axis("accuracy %", lowest),
        series,
    }
}

/// Mean test accuracy per variant as bars, ± one standard deviation over seeds.
pub fn ablation(rows: &[VariantRow]) -> Figure {
    let width = 0.7;
    let points = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (i as f64 - width / 2.0, 100.0 * r.accuracy.mean))
        .collect();
    let errors = rows.iter().map(|r| 100.0 * r.accuracy.std).collect();
    let lowest = span(
        rows.iter()
            .map(|r| 100.0 * (r.accuracy.mean - r.accuracy.std)),
    );
    let seeds = rows.iter().map(|r| r.accuracy.n).max().unwrap_or(0);
    let mut x = FigureAxis::new("variant", [-0.5, rows.len().max(1) as f64 - 0.5]);
    x.categories = rows.iter().map(|r| r.variant.clone()).collect();
    Figure {
        title: format!("ablation: test accuracy per variant ({seeds} seeds)"),
        x,
        y: percent_axis("test accuracy %", lowest.map(|s| s.0)),
        series: vec![FigureSeries {
            errors: Some(errors),
            ..FigureSeries::new("mean ± std over seeds", points, Mark::Bars { width }, 0)
        }],
    }
}

/// p(target) over the steps of an inversion titled `title`, with the threshold it stops at.
pub fn inversion(title: &str, p_target: &[(usize, f32)], threshold: Option<f32>) -> Figure {
    let last = p_target.iter().map(|p| p.0).max().unwrap_or(0).max(1) as f64;
    let mut series = vec![FigureSeries::new(
        "p(target)",
        p_target
            .iter()
            .map(|&(s, p)| (s as f64, f64::from(p)))
            .collect(),
        Mark::Line,
        0,
    )];
    if let Some(t) = threshold {
        series.push(FigureSeries::new(
            format!("threshold {t}"),
            vec![(0.0, f64::from(t)), (last, f64::from(t))],
            Mark::Line,
            GREY,
        ));
    }
    Figure {
        title: title.to_string(),
        x: FigureAxis::new("step", [0.0, last]),
        y: FigureAxis::new("p(target)", [0.0, 1.0]),
        series,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_losses_come_back_from_running_means() {
        // Losses 4, 2, 3 of batches of 10, 10 and 5 images: means 4, 3 (60/20), 3 (75/25).
        let mean = |batch, mean_loss| BatchMean {
            epoch: 1,
            batch,
            batches: 3,
            mean_loss,
        };
        let got = batch_losses(&[mean(1, 4.0), mean(2, 3.0), mean(3, 3.0)], 10, 25);
        let want = [(1.0 / 3.0, 4.0), (2.0 / 3.0, 2.0), (1.0, 3.0)];
        assert_eq!(got.len(), 3);
        for (g, w) in got.iter().zip(want) {
            assert!(
                (g.0 - w.0).abs() < 1e-12 && (g.1 - w.1).abs() < 1e-9,
                "{got:?}"
            );
        }
        // A resume at batch 2: nothing before it to subtract.
        assert!(batch_losses(&[mean(2, 3.0)], 10, 25).is_empty());
    }

    #[test]
    fn ablation_bars_carry_their_spread_and_name_each_variant() {
        let row = |variant: &str, mean, std| VariantRow {
            variant: variant.into(),
            params: 1,
            accuracy: crate::ablation::stats::Summary {
                n: 3,
                mean,
                std,
                min: mean - std,
                max: mean + std,
            },
            seconds_per_epoch: 1.0,
            inference_images_per_second: 1.0,
            delta: None,
            welch: None,
            verdict: String::new(),
        };
        let f = ablation(&[row("seed", 0.97, 0.01), row("tiny", 0.91, 0.02)]);
        assert_eq!(f.x.categories, ["seed", "tiny"]);
        let s = &f.series[0];
        assert_eq!(s.errors.as_deref(), Some(&[1.0, 2.0][..]));
        assert!((s.points[1].1 - 91.0).abs() < 1e-9);
        // The axis starts below the lowest bar's error bar.
        assert!(f.y.bounds[0] <= 89.0 && f.y.bounds[1] == 100.0, "{:?}", f.y);
    }
}
