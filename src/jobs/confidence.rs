//! The confidence job: m(x) = max softmax per test image for the CNN and the baselines, as
//! histograms, quantiles, calibration (ECE, reliability), a confusion matrix and the list of
//! mistakes by confidence. Probabilities a baselines run saved on the same data are reused;
//! what is missing is fitted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::baselines::{fit_timed, latest, same_fit, saved_probs};
use super::models::CnnModel;
use super::{Job, JobEvent, Outcome, Reporter};
use crate::analysis::confidence::{max_probs, report, ConfidenceReport};
use crate::baselines::{BaselineKind, BaselinesConfig};
use crate::classifier::{predictions, Classifier, Cnn};
use crate::data::{Dataset, CLASSES};
use crate::model::train::check_data;
use crate::runs::{DataIdentity, ModelRef, Run, RunKind, RunStore};

/// A model the confidence analysis can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ModelName {
    Cnn,
    Logreg,
    Knn,
    Tree,
    Forest,
    Svm,
}

impl ModelName {
    /// The baseline behind the name (`None` for the CNN).
    pub fn baseline(self) -> Option<BaselineKind> {
        match self {
            Self::Cnn => None,
            Self::Logreg => Some(BaselineKind::Logreg),
            Self::Knn => Some(BaselineKind::Knn),
            Self::Tree => Some(BaselineKind::Tree),
            Self::Forest => Some(BaselineKind::Forest),
            Self::Svm => Some(BaselineKind::Svm),
        }
    }

    /// The name of a baseline.
    pub fn of(kind: BaselineKind) -> Self {
        match kind {
            BaselineKind::Logreg => Self::Logreg,
            BaselineKind::Knn => Self::Knn,
            BaselineKind::Tree => Self::Tree,
            BaselineKind::Forest => Self::Forest,
            BaselineKind::Svm => Self::Svm,
        }
    }

    /// Name as in tables and saved files.
    pub fn name(self) -> &'static str {
        self.baseline().map_or("cnn", BaselineKind::name)
    }
}

/// A test image a model gets wrong.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Mistake {
    /// 0-based index in the test split (as `--from test:IDX`).
    pub index: usize,
    pub label: u8,
    pub predicted: u8,
    /// m(x): the model's probability of its prediction.
    pub confidence: f32,
}

/// One model's analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfidence {
    pub model: ModelName,
    /// `knn k=3`, `cnn`, ...: how tables name it.
    pub label: String,
    /// Where the probabilities came from: a baselines run's name, or `computed`.
    pub source: String,
    pub report: ConfidenceReport,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
    /// The mistakes, most confident first.
    pub mistakes: Vec<Mistake>,
}

/// `result.json` of a confidence run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfidenceResult {
    pub data: DataIdentity,
    pub cnn: Option<ModelRef>,
    pub bins: usize,
    pub ece_bins: usize,
    pub models: Vec<ModelConfidence>,
    /// Whether every model asked for is here (false: cancelled).
    pub complete: bool,
}

/// What the confidence job reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ConfidenceEvent {
    Planned {
        models: Vec<ModelName>,
    },
    /// A model's probabilities are being computed (fitted first for a baseline).
    Computing {
        model: ModelName,
    },
    /// A model's analysis is done (and saved).
    Analysed(Box<ModelConfidence>),
    Notice {
        message: String,
    },
}

impl JobEvent for ConfidenceEvent {
    fn notice(message: String) -> Self {
        Self::Notice { message }
    }
}

/// What to analyse.
#[derive(Debug, Clone)]
pub struct ConfidencePlan {
    pub models: Vec<ModelName>,
    pub settings: BaselinesConfig,
    pub cnn: Option<CnnModel>,
    pub eval_batch: usize,
}

/// Confusion matrix and mistakes of `probs` against `labels`.
fn errors(probs: &[f32], labels: &[u8]) -> (Vec<Vec<usize>>, Vec<Mistake>) {
    let mut confusion = vec![vec![0; CLASSES]; CLASSES];
    let m = max_probs(probs);
    let mut mistakes = Vec::new();
    for (index, (&predicted, &label)) in predictions(probs).iter().zip(labels).enumerate() {
        confusion[usize::from(label)][usize::from(predicted)] += 1;
        if predicted != label {
            mistakes.push(Mistake {
                index,
                label,
                predicted,
                confidence: m[index],
            });
        }
    }
    mistakes.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then(a.index.cmp(&b.index))
    });
    (confusion, mistakes)
}

/// Starts the analysis in a new confidence run.
pub fn spawn(
    plan: ConfidencePlan,
    data: Arc<Dataset>,
    store: &RunStore,
    cancel: Arc<AtomicBool>,
) -> anyhow::Result<Job<ConfidenceEvent, ConfidenceResult>> {
    check_data(&data).map_err(anyhow::Error::msg)?;
    let identity = DataIdentity::of(&data);
    if let Some(cnn) = &plan.cnn {
        cnn.check_data(&identity)?;
    }
    let reuse = latest(store, &identity);
    super::spawn_in_new_run(
        RunKind::Confidence,
        store,
        identity,
        plan.cnn.as_ref().map(CnnModel::model_ref),
        cancel,
        move |run, reporter, cancel| analyse(&plan, &data, reuse, run, reporter, cancel),
    )
}

fn analyse(
    plan: &ConfidencePlan,
    data: &Dataset,
    reuse: Option<(crate::runs::RunInfo, super::baselines::BaselinesResult)>,
    run: &Run,
    reporter: &Reporter<ConfidenceEvent>,
    cancel: &AtomicBool,
) -> anyhow::Result<ConfidenceResult> {
    let test = &data.test;
    let s = &plan.settings;
    let mut result = ConfidenceResult {
        data: DataIdentity::of(data),
        cnn: plan.cnn.as_ref().map(CnnModel::model_ref),
        bins: s.histogram_bins,
        ece_bins: s.ece_bins,
        models: Vec::new(),
        complete: false,
    };
    let models: Vec<ModelName> = plan
        .models
        .iter()
        .copied()
        .filter(|&m| {
            let keep = m != ModelName::Cnn || plan.cnn.is_some();
            if !keep {
                reporter.notice("no CNN row: no CNN for this data (train one, or --run RUN)");
            }
            keep
        })
        .collect();
    reporter.emit(ConfidenceEvent::Planned {
        models: models.clone(),
    });
    for model in models {
        if cancel.load(Ordering::Relaxed) {
            return Ok(result);
        }
        // Saved probabilities fit if they were made with the same k, or by the same CNN.
        let reusable = reuse.as_ref().filter(|(_, r)| match model {
            ModelName::Cnn => r.cnn.as_ref().map(|c| &c.run) == result.cnn.as_ref().map(|c| &c.run),
            _ => same_fit(&r.settings, s),
        });
        let saved =
            reusable.and_then(
                |(info, _)| match saved_probs(info, model.name(), test.len()) {
                    Ok(probs) => probs.map(|p| (info, p)),
                    Err(why) => {
                        reporter.notice(format!("{why}; computing them again"));
                        None
                    }
                },
            );
        let (probs, source) = match saved {
            Some((info, probs)) => (probs, info.name.clone()),
            None => {
                reporter.emit(ConfidenceEvent::Computing { model });
                let probs = match (model.baseline(), &plan.cnn) {
                    (Some(kind), _) => fit_timed(kind, data, s)?.0.predict_proba(&test.images)?,
                    (None, Some(cnn)) => Cnn {
                        network: cnn.network.clone(),
                        batch: plan.eval_batch,
                    }
                    .predict_proba(&test.images)?,
                    (None, None) => continue,
                };
                (probs, "computed".to_string())
            }
        };
        let (confusion, mistakes) = errors(&probs, &test.labels);
        let analysis = ModelConfidence {
            model,
            label: match model {
                ModelName::Knn => format!("knn k={}", s.k),
                _ => model.name().to_string(),
            },
            source,
            report: report(&probs, &test.labels, s.histogram_bins, s.ece_bins),
            confusion,
            mistakes,
        };
        result.models.push(analysis.clone());
        run.write_result(&result)?;
        reporter.emit(ConfidenceEvent::Analysed(Box::new(analysis)));
    }
    result.complete = true;
    run.write_result(&result)?;
    Ok(result)
}

impl Outcome for ConfidenceResult {
    fn complete(&self) -> bool {
        self.complete
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::baselines::{self as baselines_job, BaselinesPlan};

    /// Saved probabilities of the right length but NaN or random bytes are not reused: they
    /// are computed again, with a notice naming the file.
    #[test]
    fn damaged_saved_probabilities_are_computed_again_with_a_notice() {
        let full = crate::data::source::load_sample().unwrap();
        let data = Arc::new(Dataset {
            train: full.train.head(300),
            test: full.test.head(100),
            ..full
        });
        let runs = tempfile::tempdir().unwrap();
        let store = RunStore::new(runs.path());
        let settings = BaselinesConfig::default();
        let plan = BaselinesPlan {
            models: vec![BaselineKind::Logreg],
            settings: settings.clone(),
            cnn: None,
            eval_batch: 100,
            carry: None,
        };
        let fitted = baselines_job::spawn(plan, data.clone(), &store, Arc::default()).unwrap();
        let dir = fitted.run().unwrap().dir.clone();
        fitted.events().iter().for_each(drop);
        fitted.join().unwrap();
        let file = dir.join("probs-logreg.f32");
        let nan: Vec<u8> = f32::NAN.to_le_bytes().repeat(100 * CLASSES);
        // A fixed pseudo-random pattern of the same length (an LCG's high bytes).
        let mut x = 12345u32;
        let random: Vec<u8> = (0..100 * CLASSES * 4)
            .map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (x >> 24) as u8
            })
            .collect();
        for bytes in [nan, random] {
            std::fs::write(&file, &bytes).unwrap();
            let plan = ConfidencePlan {
                models: vec![ModelName::Logreg],
                settings: settings.clone(),
                cnn: None,
                eval_batch: 100,
            };
            let job = spawn(plan, data.clone(), &store, Arc::default()).unwrap();
            let notices: Vec<String> = job
                .events()
                .iter()
                .filter_map(|e| match e {
                    ConfidenceEvent::Notice { message } => Some(message),
                    _ => None,
                })
                .collect();
            let result = job.join().unwrap();
            assert!(
                notices
                    .iter()
                    .any(|n| n.contains(&file.display().to_string()) && n.contains("again")),
                "{notices:?}"
            );
            let logreg = &result.models[0];
            assert_eq!(logreg.source, "computed");
            let q10 = logreg.report.all.quantiles[1].1;
            assert!((0.0..=1.0).contains(&q10), "Q.10 = {q10}");
            assert!(
                (0.0..=1.0).contains(&logreg.report.ece),
                "{}",
                logreg.report.ece
            );
        }
    }

    #[test]
    fn mistakes_are_counted_and_sorted_by_confidence() {
        // Image 0: label 1, predicted 1. Image 1: label 3, predicted 2 at 0.7.
        // Image 2: label 0, predicted 5 at 0.9.
        let mut probs = vec![0.0f32; 30];
        probs[1] = 1.0;
        probs[10 + 2] = 0.7;
        probs[10 + 3] = 0.3;
        probs[20 + 5] = 0.9;
        probs[20] = 0.1;
        let (confusion, mistakes) = errors(&probs, &[1, 3, 0]);
        assert_eq!(confusion[1][1], 1);
        assert_eq!(confusion[3][2], 1);
        assert_eq!(confusion[0][5], 1);
        assert_eq!(confusion.iter().flatten().sum::<usize>(), 3);
        assert_eq!(
            mistakes.iter().map(|m| m.index).collect::<Vec<_>>(),
            vec![2, 1]
        );
        assert_eq!((mistakes[0].label, mistakes[0].predicted), (0, 5));
    }
}
