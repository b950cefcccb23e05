//! `classgen baselines`: fit the classical models, score them and the latest CNN on the test
//! split, print one table, and keep the results (and each model's test probabilities) under
//! `runs/<timestamp>-baselines/`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use serde::{Deserialize, Serialize};

use classgen::analysis::confidence::{report, ConfidenceReport};
use classgen::baselines::{self, BaselineKind};
use classgen::classifier::{accuracy, Classifier, Cnn};
use classgen::config::Config;
use classgen::data::{Dataset, CLASSES};
use classgen::fsutil::{new_run_dir, write_atomic};
use classgen::model::checkpoint;

use super::DataArgs;

/// Flags of `classgen baselines`.
#[derive(Debug, Args)]
pub struct BaselinesArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Models to fit, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',')]
    models: Option<Vec<BaselineKind>>,
    /// Neighbours that vote in k-NN.
    #[arg(long)]
    k: Option<usize>,
    /// Print the results as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// One row of the table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub model: String,
    pub accuracy: f64,
    /// Fitting time; for the CNN, its recorded training time.
    pub fit_seconds: Option<f64>,
    pub predict_seconds: f64,
    pub size_bytes: usize,
    pub note: String,
}

/// What `result.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BaselinesResult {
    pub dataset: String,
    pub origin: String,
    pub train_images: usize,
    pub test_images: usize,
    /// Neighbours of the k-NN row.
    pub k: usize,
    pub rows: Vec<Row>,
    pub confidence: Vec<(String, ConfidenceReport)>,
}

/// File name of a model's saved test probabilities (little-endian f32, `n * 10`).
pub fn probs_file(model: &str) -> String {
    format!("probs-{model}.f32")
}

/// The latest train checkpoint as a classifier, with its training time and a note.
pub fn latest_cnn(config: &Config) -> anyhow::Result<Option<(Cnn, Option<f64>, String)>> {
    let Some(dir) = checkpoint::latest_run(&config.paths.runs, "train") else {
        return Ok(None);
    };
    let device = classgen::device::open(&config.train.device)?;
    let (network, meta) = checkpoint::load_network(&dir, &device)
        .with_context(|| format!("loading the CNN from {}", dir.display()))?;
    let fit: f64 = meta.history.iter().map(|e| e.seconds).sum();
    let note = format!("{}, epoch {}", dir.display(), meta.position.epoch);
    let cnn = Cnn {
        network,
        batch: config.train.eval_batch,
    };
    Ok(Some((cnn, (fit > 0.0).then_some(fit), note)))
}

/// Fits (timed) one baseline.
pub fn fit_timed(
    kind: BaselineKind,
    data: &Dataset,
    config: &Config,
) -> anyhow::Result<(Box<dyn Classifier>, f64)> {
    let started = Instant::now();
    let model = baselines::fit(kind, &data.train, &config.baselines)
        .with_context(|| format!("fitting {kind}"))?;
    Ok((model, started.elapsed().as_secs_f64()))
}

/// The SVM row's note: which training subset it saw.
fn svm_note(limit: usize, train: usize, c: f64) -> String {
    let used = if limit == 0 { train } else { limit.min(train) };
    if used < train {
        format!("RBF, C = {c}, first {used} of {train} training images (subset: time and memory)")
    } else {
        format!("RBF, C = {c}, all {train} training images")
    }
}

fn write_probs(dir: &Path, model: &str, probs: &[f32]) -> anyhow::Result<()> {
    let bytes: Vec<u8> = probs.iter().flat_map(|p| p.to_le_bytes()).collect();
    let path = dir.join(probs_file(model));
    write_atomic(&path, &bytes).with_context(|| format!("writing {}", path.display()))
}

/// Runs `classgen baselines`.
pub fn run(args: BaselinesArgs, config: &mut Config) -> anyhow::Result<()> {
    args.data.apply(config);
    if let Some(models) = &args.models {
        config.baselines.models = models.clone();
    }
    if let Some(k) = args.k {
        config.baselines.k = k;
    }
    config.validate()?;
    classgen::runtime::set_threads(config.train.threads);
    let data = super::load_data(config, None)?.dataset;
    let test = &data.test;
    let dir = new_run_dir(&config.paths.runs, "baselines").with_context(|| {
        format!(
            "creating a run directory under {}",
            config.paths.runs.display()
        )
    })?;
    let mut rows = Vec::new();
    let mut confidence = Vec::new();
    let b = &config.baselines;
    let mut score =
        |model: &dyn Classifier, fit: Option<f64>, note: String| -> anyhow::Result<()> {
            let started = Instant::now();
            let probs = model.predict_proba(&test.images)?;
            let predict = started.elapsed().as_secs_f64();
            anyhow::ensure!(
                probs.len() == test.len() * CLASSES,
                "{} gave {} values",
                model.name(),
                probs.len()
            );
            write_probs(&dir, model.name(), &probs)?;
            let row = Row {
                model: model.name().to_string(),
                accuracy: accuracy(&probs, &test.labels),
                fit_seconds: fit,
                predict_seconds: predict,
                size_bytes: model.size_bytes(),
                note,
            };
            eprintln!("{}: accuracy {:.2} %", row.model, 100.0 * row.accuracy);
            confidence.push((
                row.model.clone(),
                report(&probs, &test.labels, b.histogram_bins, b.ece_bins),
            ));
            rows.push(row);
            Ok(())
        };
    for &kind in &b.models {
        eprintln!("fitting {kind} on {} images ...", data.train.len());
        let (model, fit) = fit_timed(kind, &data, config)?;
        let note = match kind {
            BaselineKind::Knn => format!("k = {}", b.k),
            BaselineKind::Forest => format!("{} trees", b.forest_trees),
            BaselineKind::Svm => svm_note(b.svm_train_images, data.train.len(), b.svm_c),
            _ => String::new(),
        };
        score(model.as_ref(), Some(fit), note)?;
    }
    match latest_cnn(config)? {
        Some((cnn, fit, note)) => score(&cnn, fit, note)?,
        None => eprintln!(
            "no CNN row: no train checkpoint under {} (run `classgen train`)",
            config.paths.runs.display()
        ),
    }
    let result = BaselinesResult {
        dataset: data.kind.to_string(),
        origin: data.origin.to_string(),
        train_images: data.train.len(),
        test_images: test.len(),
        k: b.k,
        rows,
        confidence,
    };
    let json = serde_json::to_vec_pretty(&result)?;
    let path = dir.join("result.json");
    write_atomic(&path, &json).with_context(|| format!("writing {}", path.display()))?;
    if args.json {
        println!("{}", String::from_utf8_lossy(&json));
    } else {
        print_table(&result.rows);
        println!("saved in {}", dir.display());
    }
    Ok(())
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<8} {:>9} {:>9} {:>10} {:>11}  note",
        "model", "accuracy", "fit (s)", "predict (s)", "size"
    );
    for r in rows {
        let fit = r.fit_seconds.map_or("-".into(), |s| format!("{s:.2}"));
        println!(
            "{:<8} {:>8.2}% {:>9} {:>11.2} {:>11}  {}",
            r.model,
            100.0 * r.accuracy,
            fit,
            r.predict_seconds,
            human_bytes(r.size_bytes),
            r.note
        );
    }
}

/// Bytes as B / KiB / MiB.
fn human_bytes(n: usize) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} KiB", n as f64 / 1024.0),
        _ => format!("{:.1} MiB", n as f64 / 1_048_576.0),
    }
}

/// The newest `<runs>/*-baselines` directory holding a `result.json` for this data set.
pub fn latest_result(runs: &Path, data: &Dataset) -> Option<(PathBuf, BaselinesResult)> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(runs)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains("-baselines"))
        })
        .collect();
    dirs.sort();
    dirs.into_iter().rev().find_map(|dir| {
        let bytes = std::fs::read(dir.join("result.json")).ok()?;
        let result: BaselinesResult = serde_json::from_slice(&bytes).ok()?;
        let same = result.dataset == data.kind.to_string()
            && result.origin == data.origin.to_string()
            && result.test_images == data.test.len();
        same.then_some((dir, result))
    })
}

/// A model's saved test probabilities from a baselines run, if present and whole.
pub fn saved_probs(dir: &Path, model: &str, test_images: usize) -> Option<Vec<f32>> {
    let bytes = std::fs::read(dir.join(probs_file(model))).ok()?;
    (bytes.len() == test_images * CLASSES * 4).then(|| {
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_bytes(10), "10 B");
        assert_eq!(human_bytes(2048), "2.0 KiB");
        assert_eq!(human_bytes(3 << 20), "3.0 MiB");
    }
}
