//! Fit and predict time of the baselines on full MNIST when `../shared/data/mnist` exists, else
//! on the bundled sample. `cargo bench --bench baselines -- [MODEL ...] [--runs N]` (models:
//! logreg, knn, tree, forest, svm; default logreg knn forest; `--trees N` for a smaller
//! forest); prints the median of N runs
//! (default 1: a forest fit takes tens of seconds) with the test accuracy.

use std::time::Instant;

mod common;

use clap::ValueEnum;

use classgen::baselines::{fit, BaselineKind};
use classgen::classifier::accuracy;
use classgen::config::BaselinesConfig;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    classgen::runtime::tune_allocator();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut runs = 1;
    let mut trees = None;
    let mut models = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--runs" {
            runs = it.next().and_then(|n| n.parse().ok()).unwrap_or(1);
        } else if a == "--trees" {
            trees = it.next().and_then(|n| n.parse().ok());
        } else if let Ok(kind) = BaselineKind::from_str(a, true) {
            models.push(kind);
        }
    }
    if models.is_empty() {
        models = vec![
            BaselineKind::Logreg,
            BaselineKind::Knn,
            BaselineKind::Forest,
        ];
    }
    let data = common::bench_data()?;
    let (train, test, origin) = (data.train, data.test, data.origin.to_string());
    println!(
        "baselines on {origin}: {} train, {} test, {} threads, median of {runs}",
        train.len(),
        test.len(),
        rayon::current_num_threads()
    );
    let mut config = BaselinesConfig::default();
    config.forest_trees = trees.unwrap_or(config.forest_trees);
    for kind in models {
        let (mut fits, mut predicts, mut acc) = (Vec::new(), Vec::new(), 0.0);
        for _ in 0..runs.max(1) {
            let t = Instant::now();
            let model = fit(kind, &train, &config)?;
            fits.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            let probs = model.predict_proba(&test.images)?;
            predicts.push(t.elapsed().as_secs_f64());
            acc = accuracy(&probs, &test.labels);
        }
        println!(
            "{kind:<7} fit {:>7.2} s  predict {:>6.2} s  accuracy {:.2} %",
            median(fits),
            median(predicts),
            100.0 * acc
        );
    }
    Ok(())
}
