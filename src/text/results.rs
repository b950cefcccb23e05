//! Chart series and axes of saved results, for the headless report and the dashboard alike.

use super::charts::{self, AxisSpec, Series};
use crate::jobs::robustness::RobustnessResult;

/// Models in the order their noise rows came.
pub fn noise_models(result: &RobustnessResult) -> Vec<&str> {
    let mut models: Vec<&str> = Vec::new();
    for row in &result.noise {
        if !models.contains(&row.model.as_str()) {
            models.push(&row.model);
        }
    }
    models
}

/// Accuracy (%) against sigma of each model, as chart series.
pub fn noise_series(result: &RobustnessResult) -> Vec<Series> {
    noise_models(result)
        .iter()
        .enumerate()
        .map(|(i, m)| Series {
            name: m.to_string(),
            points: result
                .noise
                .iter()
                .filter(|r| r.model == *m)
                .map(|r| (f64::from(r.sigma), 100.0 * r.accuracy))
                .collect(),
            color: charts::PALETTE[i % charts::PALETTE.len()],
        })
        .collect()
}

/// The axes of an accuracy-against-noise chart.
pub fn noise_axes(result: &RobustnessResult) -> (AxisSpec, AxisSpec) {
    let max_sigma = result.sigmas.iter().copied().fold(0.0f32, f32::max);
    let x = AxisSpec {
        title: "sigma".into(),
        bounds: [0.0, f64::from(max_sigma).max(1e-6)],
        labels: vec![
            "0".into(),
            format!("{}", max_sigma / 2.0),
            format!("{max_sigma}"),
        ],
    };
    let y = AxisSpec {
        title: "acc %".into(),
        bounds: [0.0, 100.0],
        labels: ["0", "50", "100"].map(String::from).to_vec(),
    };
    (x, y)
}
