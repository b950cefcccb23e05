//! The ablation study: variants of the seed CNN trained over several seeds, summarised in a
//! table with a significance test against `seed`.

pub mod stats;

use serde::{Deserialize, Serialize};

use crate::model::train::EpochMetrics;
use stats::{welch, Summary, Welch};

/// One finished variant x seed run, as saved under the ablation directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub variant: String,
    pub seed: u64,
    pub params: usize,
    pub test_accuracy: f64,
    pub seconds_per_epoch: f64,
    /// Test-set inference speed.
    pub inference_images_per_second: f64,
    pub history: Vec<EpochMetrics>,
    /// How the times were taken: the run's CPU threads, and how many runs of the study
    /// trained at once (0 in files from before they were kept).
    #[serde(default)]
    pub threads: usize,
    #[serde(default)]
    pub runs_at_once: usize,
}

/// A row of the ablation table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantRow {
    pub variant: String,
    pub params: usize,
    pub accuracy: Summary,
    pub seconds_per_epoch: f64,
    pub inference_images_per_second: f64,
    /// Mean accuracy minus the seed network's.
    pub delta: Option<f64>,
    pub welch: Option<Welch>,
    /// "significant" / "not significant" at 5 %, or why there is no verdict.
    pub verdict: String,
}

/// Builds the table: one row per variant in `order` that has results, compared with `baseline`.
pub fn table(results: &[RunResult], order: &[String], baseline: &str) -> Vec<VariantRow> {
    let accuracies = |v: &str| -> Vec<f64> {
        results
            .iter()
            .filter(|r| r.variant == v)
            .map(|r| r.test_accuracy)
            .collect()
    };
    let base = Summary::of(&accuracies(baseline));
    order
        .iter()
        .filter_map(|variant| {
            let runs: Vec<&RunResult> = results.iter().filter(|r| &r.variant == variant).collect();
            let accuracy = Summary::of(&accuracies(variant))?;
            let mean = |f: fn(&RunResult) -> f64| {
                runs.iter().map(|r| f(r)).sum::<f64>() / runs.len() as f64
            };
            let (delta, test, verdict) = match (&base, variant == baseline) {
                (_, true) => (None, None, "baseline".to_string()),
                (None, false) => (None, None, format!("no {baseline} runs to compare")),
                (Some(b), false) => {
                    let test = welch(&accuracy, b);
                    let verdict = match test {
                        Some(w) if w.p < 0.05 => "significant".to_string(),
                        Some(_) => "not significant".to_string(),
                        None => "needs 2+ seeds each".to_string(),
                    };
                    (Some(accuracy.mean - b.mean), test, verdict)
                }
            };
            Some(VariantRow {
                variant: variant.clone(),
                params: runs[0].params,
                accuracy,
                seconds_per_epoch: mean(|r| r.seconds_per_epoch),
                inference_images_per_second: mean(|r| r.inference_images_per_second),
                delta,
                welch: test,
                verdict,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(variant: &str, seed: u64, acc: f64) -> RunResult {
        RunResult {
            variant: variant.into(),
            seed,
            params: 10,
            test_accuracy: acc,
            seconds_per_epoch: 1.0,
            inference_images_per_second: 100.0,
            history: vec![],
            threads: 1,
            runs_at_once: 1,
        }
    }

    #[test]
    fn table_compares_each_variant_with_the_baseline() {
        let results = vec![
            run("seed", 0, 0.99),
            run("seed", 1, 0.98),
            run("seed", 2, 0.97),
            run("small", 0, 0.96),
            run("small", 1, 0.95),
            run("small", 2, 0.94),
            run("same", 0, 0.975),
            run("same", 1, 0.985),
        ];
        let order: Vec<String> = ["seed", "small", "same", "missing"]
            .map(String::from)
            .to_vec();
        let rows = table(&results, &order, "seed");
        assert_eq!(rows.len(), 3, "variants without results have no row");
        assert_eq!(rows[0].verdict, "baseline");
        assert!((rows[1].delta.unwrap() + 0.03).abs() < 1e-12);
        assert_eq!(rows[1].verdict, "significant");
        assert!((rows[1].welch.unwrap().p - 0.021_311).abs() < 1e-5);
        assert_eq!(rows[2].verdict, "not significant");
    }
}
