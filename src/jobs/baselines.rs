//! The baselines job: fits the classical models, scores them and the CNN on the test split, and
//! keeps the table and each model's test probabilities in its run directory. Rows of an earlier
//! run on the same data can be carried over, so refitting one model keeps the others.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::models::CnnModel;
use super::{Job, JobEvent, Outcome, Reporter};
use crate::analysis::confidence::check_probs;
use crate::baselines::{self, BaselineKind, BaselinesConfig};
use crate::classifier::{accuracy, Classifier, Cnn};
use crate::data::{Dataset, CLASSES};
use crate::model::train::check_data;
use crate::runs::{DataIdentity, ModelRef, Run, RunInfo, RunKind, RunStore};

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub model: String,
    pub accuracy: f64,
    /// Fitting time; for the CNN, its recorded training time.
    pub fit_seconds: Option<f64>,
    pub predict_seconds: f64,
    pub size_bytes: usize,
    pub note: String,
}

/// `result.json` of a baselines run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselinesResult {
    pub data: DataIdentity,
    /// The CNN of the `cnn` row, if there is one.
    pub cnn: Option<ModelRef>,
    /// The settings the models were fitted with.
    pub settings: BaselinesConfig,
    /// Neighbours of the k-NN row.
    pub k: usize,
    pub rows: Vec<Row>,
    /// Whether every model asked for was scored (false: cancelled).
    pub complete: bool,
}

/// What the baselines job reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum BaselinesEvent {
    /// The models to score, in order.
    Planned {
        models: Vec<String>,
    },
    /// A model starts fitting on `train_images` images.
    Fitting {
        model: String,
        train_images: usize,
    },
    /// A model starts predicting the test split.
    Predicting {
        model: String,
        test_images: usize,
    },
    /// A model's row is done (and saved).
    Scored(Row),
    /// A row taken over from an earlier run.
    Carried(Row),
    Notice {
        message: String,
    },
}

impl JobEvent for BaselinesEvent {
    fn notice(message: String) -> Self {
        Self::Notice { message }
    }
}

/// What to fit and score.
#[derive(Debug, Clone)]
pub struct BaselinesPlan {
    pub models: Vec<BaselineKind>,
    pub settings: BaselinesConfig,
    /// The CNN scored as a row next to the baselines.
    pub cnn: Option<CnnModel>,
    /// Images per CNN forward pass.
    pub eval_batch: usize,
    /// An earlier baselines run on the same data: its rows for models not in `models` are kept.
    pub carry: Option<RunInfo>,
}

/// File of a model's saved test probabilities (little-endian f32, 10 per test image).
fn probs_file(model: &str) -> String {
    format!("probs-{model}.f32")
}

/// A model's test probabilities saved by baselines run `run`: `Ok(None)` when the run has
/// none, an error naming the file when they are not `test_images` rows of probabilities
/// (truncated, random bytes, NaN, rows not summing to 1).
pub fn saved_probs(
    run: &RunInfo,
    model: &str,
    test_images: usize,
) -> Result<Option<Vec<f32>>, String> {
    let path = run.dir.join(probs_file(model));
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    if bytes.len() % 4 != 0 {
        return Err(format!(
            "{}: {} bytes are not whole f32 values",
            path.display(),
            bytes.len()
        ));
    }
    let probs: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    check_probs(&probs, test_images).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Some(probs))
}

/// The newest baselines run on the same data as `data`.
pub fn latest(store: &RunStore, data: &DataIdentity) -> Option<(RunInfo, BaselinesResult)> {
    store
        .list()
        .into_iter()
        .filter(|r| r.record.kind == RunKind::Baselines && r.record.data.same_data(data))
        .find_map(|r| r.result().ok().map(|res| (r, res)))
}

/// Whether models fitted with `a` are the models `b` would fit (the analysis settings aside).
pub fn same_fit(a: &BaselinesConfig, b: &BaselinesConfig) -> bool {
    let fit = |c: &BaselinesConfig| BaselinesConfig {
        models: Vec::new(),
        histogram_bins: 0,
        ece_bins: 0,
        ..c.clone()
    };
    fit(a) == fit(b)
}

/// The note of a baseline's row.
fn note(kind: BaselineKind, settings: &BaselinesConfig, train: usize) -> String {
    match kind {
        BaselineKind::Knn => format!("k = {}", settings.k),
        BaselineKind::Forest => format!("{} trees", settings.forest_trees),
        BaselineKind::Svm => {
            let limit = settings.svm_train_images;
            let used = if limit == 0 { train } else { limit.min(train) };
            let c = settings.svm_c;
            if used < train {
                format!("RBF, C = {c}, first {used} of {train} training images (subset: time and memory)")
            } else {
                format!("RBF, C = {c}, all {train} training images")
            }
        }
        BaselineKind::Logreg | BaselineKind::Tree => String::new(),
    }
}

/// Fits one baseline, timed.
pub fn fit_timed(
    kind: BaselineKind,
    data: &Dataset,
    settings: &BaselinesConfig,
) -> anyhow::Result<(Box<dyn Classifier>, f64)> {
    let started = Instant::now();
    let model =
        baselines::fit(kind, &data.train, settings).with_context(|| format!("fitting {kind}"))?;
    Ok((model, started.elapsed().as_secs_f64()))
}

/// Starts the job in a new baselines run.
pub fn spawn(
    plan: BaselinesPlan,
    data: Arc<Dataset>,
    store: &RunStore,
    cancel: Arc<AtomicBool>,
) -> anyhow::Result<Job<BaselinesEvent, BaselinesResult>> {
    // Nothing to fit on or score against: refused as training refuses it.
    check_data(&data).map_err(anyhow::Error::msg)?;
    let identity = DataIdentity::of(&data);
    if let Some(cnn) = &plan.cnn {
        cnn.check_data(&identity)?;
    }
    let model = plan.cnn.as_ref().map(CnnModel::model_ref);
    super::spawn_in_new_run(
        RunKind::Baselines,
        store,
        identity,
        model,
        cancel,
        move |run, reporter, cancel| score_all(&plan, &data, run, reporter, cancel),
    )
}

fn score_all(
    plan: &BaselinesPlan,
    data: &Dataset,
    run: &Run,
    reporter: &Reporter<BaselinesEvent>,
    cancel: &AtomicBool,
) -> anyhow::Result<BaselinesResult> {
    let test = &data.test;
    let mut result = BaselinesResult {
        data: DataIdentity::of(data),
        cnn: plan.cnn.as_ref().map(CnnModel::model_ref),
        settings: plan.settings.clone(),
        k: plan.settings.k,
        rows: Vec::new(),
        complete: false,
    };
    // Models fitted afresh: those asked for, and those whose saved probabilities are damaged.
    let mut fit = plan.models.clone();
    if let Some(earlier) = &plan.carry {
        let old: BaselinesResult = earlier.result()?;
        // The CNN row is always scored afresh: it belongs to the CNN of this run.
        let carried =
            |r: &Row| !plan.models.iter().any(|m| m.name() == r.model) && r.model != "cnn";
        let kept = same_fit(&old.settings, &plan.settings);
        for row in old.rows.into_iter().filter(carried).filter(|_| kept) {
            match saved_probs(earlier, &row.model, test.len()) {
                Ok(Some(probs)) => {
                    write_probs(run, &row.model, &probs)?;
                    reporter.emit(BaselinesEvent::Carried(row.clone()));
                    result.rows.push(row);
                }
                Ok(None) => {}
                Err(why) => {
                    let kind = BaselineKind::from_name(&row.model);
                    let redo = if kind.is_some() {
                        "fitted again"
                    } else {
                        "left out"
                    };
                    reporter.notice(format!("{why}; {} is {redo}", row.model));
                    fit.extend(kind);
                }
            }
        }
    }
    let mut names: Vec<String> = fit.iter().map(|m| m.to_string()).collect();
    if plan.cnn.is_some() {
        names.push("cnn".into());
    }
    run.write_result(&result)?;
    reporter.emit(BaselinesEvent::Planned {
        models: names.clone(),
    });
    for &kind in &fit {
        if cancel.load(Ordering::Relaxed) {
            return Ok(result);
        }
        reporter.emit(BaselinesEvent::Fitting {
            model: kind.to_string(),
            train_images: data.train.len(),
        });
        let (model, fit) = fit_timed(kind, data, &plan.settings)?;
        let note = note(kind, &plan.settings, data.train.len());
        score(
            model.as_ref(),
            Some(fit),
            note,
            data,
            run,
            reporter,
            &mut result,
        )?;
    }
    if let Some(cnn) = &plan.cnn {
        if cancel.load(Ordering::Relaxed) {
            return Ok(result);
        }
        let history = &cnn.meta.progress.history;
        let trained: f64 = history.iter().map(|e| e.seconds).sum();
        let note = format!(
            "{}, {} epochs",
            cnn.run.name, cnn.meta.progress.position.epoch
        );
        let classifier = Cnn {
            network: cnn.network.clone(),
            batch: plan.eval_batch,
        };
        let fit = (trained > 0.0).then_some(trained);
        score(&classifier, fit, note, data, run, reporter, &mut result)?;
    }
    result.complete = true;
    run.write_result(&result)?;
    Ok(result)
}

/// Predicts the test split with `model`, saves its probabilities and its row.
fn score(
    model: &dyn Classifier,
    fit: Option<f64>,
    note: String,
    data: &Dataset,
    run: &Run,
    reporter: &Reporter<BaselinesEvent>,
    result: &mut BaselinesResult,
) -> anyhow::Result<()> {
    let test = &data.test;
    reporter.emit(BaselinesEvent::Predicting {
        model: model.name().to_string(),
        test_images: test.len(),
    });
    let started = Instant::now();
    let probs = model.predict_proba(&test.images)?;
    let predict = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        probs.len() == test.len() * CLASSES,
        "{} gave {} values",
        model.name(),
        probs.len()
    );
    write_probs(run, model.name(), &probs)?;
    let row = Row {
        model: model.name().to_string(),
        accuracy: accuracy(&probs, &test.labels),
        fit_seconds: fit,
        predict_seconds: predict,
        size_bytes: model.size_bytes(),
        note,
    };
    result.rows.retain(|r| r.model != row.model);
    result.rows.push(row.clone());
    run.write_result(result)?;
    reporter.emit(BaselinesEvent::Scored(row));
    Ok(())
}

fn write_probs(run: &Run, model: &str, probs: &[f32]) -> anyhow::Result<()> {
    let bytes: Vec<u8> = probs.iter().flat_map(|p| p.to_le_bytes()).collect();
    run.write_file(&probs_file(model), &bytes)?;
    Ok(())
}

impl Outcome for BaselinesResult {
    fn complete(&self) -> bool {
        self.complete
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_test_split_is_refused_before_a_run_is_made() {
        let full = crate::data::source::load_sample().unwrap();
        let data = Dataset {
            train: full.train.head(200),
            test: full.test.head(0),
            ..full
        };
        let runs = tempfile::tempdir().unwrap();
        let store = RunStore::new(runs.path());
        let plan = BaselinesPlan {
            models: vec![BaselineKind::Logreg],
            settings: BaselinesConfig::default(),
            cnn: None,
            eval_batch: 100,
            carry: None,
        };
        let err = spawn(plan, Arc::new(data), &store, Arc::default())
            .err()
            .expect("0 test images are refused");
        assert!(
            err.to_string().contains("test split has no images"),
            "{err}"
        );
        assert!(store.list().is_empty(), "no run is left behind");
    }

    /// A carried row whose saved probabilities are damaged is fitted again, with a notice
    /// naming the file, instead of being carried over.
    #[test]
    fn a_carried_row_with_damaged_probabilities_is_fitted_again() {
        let full = crate::data::source::load_sample().unwrap();
        let data = Arc::new(Dataset {
            train: full.train.head(300),
            test: full.test.head(100),
            ..full
        });
        let runs = tempfile::tempdir().unwrap();
        let store = RunStore::new(runs.path());
        let plan = |models, carry| BaselinesPlan {
            models,
            settings: BaselinesConfig::default(),
            cnn: None,
            eval_batch: 100,
            carry,
        };
        let first = spawn(
            plan(vec![BaselineKind::Logreg], None),
            data.clone(),
            &store,
            Arc::default(),
        )
        .unwrap();
        let earlier = first.run().unwrap().clone();
        first.events().iter().for_each(drop);
        first.join().unwrap();
        let file = earlier.dir.join(probs_file("logreg"));
        std::fs::write(&file, 2.0f32.to_le_bytes().repeat(100 * CLASSES)).unwrap();
        let again = spawn(
            plan(Vec::new(), Some(earlier)),
            data,
            &store,
            Arc::default(),
        )
        .unwrap();
        let events: Vec<BaselinesEvent> = again.events().iter().collect();
        let result = again.join().unwrap();
        let notice = events.iter().find_map(|e| match e {
            BaselinesEvent::Notice { message } => Some(message.clone()),
            _ => None,
        });
        let notice = notice.expect("a notice");
        assert!(
            notice.contains(&file.display().to_string()) && notice.contains("fitted again"),
            "{notice}"
        );
        assert!(!events
            .iter()
            .any(|e| matches!(e, BaselinesEvent::Carried(_))));
        assert!(events
            .iter()
            .any(|e| matches!(e, BaselinesEvent::Scored(r) if r.model == "logreg")));
        assert_eq!(result.rows.len(), 1);
        assert!(result.complete);
    }
}
