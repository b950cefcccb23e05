//! The results as [`Figure`]s (training curves, m(x) histograms and reliability, accuracy under
//! noise, ablation bars, p(target) of an inversion), from the numbers the screens show, for
//! `--plot` and the export key.

use super::charts::{Figure, FigureAxis, FigureSeries, Mark, PALETTE};
use super::results;
use crate::ablation::VariantRow;
use crate::jobs::confidence::ModelConfidence;
use crate::jobs::robustness::RobustnessResult;
use crate::model::train::EpochMetrics;

/// The colour of reference lines (perfect calibration, a threshold): the palette's grey.
const GREY: usize = 9;

/// TensorBoard's smoothing weight of the per-batch loss, the dashboard's default.
const SMOOTHING: f64 = 0.6;

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

/// Training curves of `run`: the loss (log scale) of each batch (at epochs done, fractional;
/// raw and smoothed with the dashboard's default weight), per epoch and on the test split; and
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
                format!("train, per batch, smoothed {SMOOTHING}"),
                super::charts::smooth(batches, SMOOTHING),
                Mark::Line,
                5,
            ),
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
            Figure::from(&results::histogram_chart(
                m,
                log,
                PALETTE[i % PALETTE.len()],
            ))
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

/// Accuracy against the noise's sigma, one line per model (the dashboard's chart).
pub fn robustness(result: &RobustnessResult) -> Figure {
    let title = format!(
        "accuracy under Gaussian noise ({} test images)",
        result.noise_images
    );
    Figure::from(&results::noise_chart(result, title))
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
