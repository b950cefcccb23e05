//! The robustness job: accuracy of the CNN and the baselines under Gaussian noise, and of the CNN
//! under FGSM and PGD (untargeted and targeted), saved as the run's result.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::baselines::fit_timed;
use super::models::CnnModel;
use super::{Job, JobEvent, Outcome, Reporter};
use crate::analysis::robustness::{add_noise, attack, AttackKind, AttackResult, AttackSettings};
use crate::baselines::{BaselineKind, BaselinesConfig};
use crate::classifier::{accuracy, Classifier, Cnn};
use crate::config::RobustnessConfig;
use crate::data::Dataset;
use crate::model::train::check_data;
use crate::runs::{DataIdentity, ModelRef, Run, RunKind, RunStore};

/// Accuracy of one model at one noise level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoiseRow {
    pub model: String,
    pub sigma: f32,
    pub accuracy: f64,
}

/// `result.json` of a robustness run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RobustnessResult {
    pub data: DataIdentity,
    /// The CNN of the CNN rows and the attacks.
    pub cnn: Option<ModelRef>,
    pub sigmas: Vec<f32>,
    pub noise_images: usize,
    pub noise_seed: u64,
    pub noise: Vec<NoiseRow>,
    pub attack_images: usize,
    pub pgd_steps: usize,
    pub pgd_step_size: f32,
    pub attacks: Vec<AttackResult>,
    /// Whether every part asked for ran (false: cancelled).
    pub complete: bool,
}

/// What the robustness job reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RobustnessEvent {
    /// How many noise rows and attacks are planned.
    Planned {
        noise: usize,
        attacks: usize,
        /// Test images each noise level is scored on.
        #[serde(default)]
        noise_images: usize,
    },
    Fitting {
        model: String,
        train_images: usize,
    },
    Noise(NoiseRow),
    Attack(AttackResult),
    Notice {
        message: String,
    },
}

impl JobEvent for RobustnessEvent {
    fn notice(message: String) -> Self {
        Self::Notice { message }
    }
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct RobustnessPlan {
    pub settings: RobustnessConfig,
    /// Baselines scored under noise next to the CNN.
    pub baselines: Vec<BaselineKind>,
    pub baseline_settings: BaselinesConfig,
    pub attacks: Vec<AttackKind>,
    pub cnn: Option<CnnModel>,
    pub eval_batch: usize,
}

/// Starts the job in a new robustness run.
pub fn spawn(
    plan: RobustnessPlan,
    data: Arc<Dataset>,
    store: &RunStore,
    cancel: Arc<AtomicBool>,
) -> anyhow::Result<Job<RobustnessEvent, RobustnessResult>> {
    check_data(&data).map_err(anyhow::Error::msg)?;
    let identity = DataIdentity::of(&data);
    if let Some(cnn) = &plan.cnn {
        cnn.check_data(&identity)?;
    }
    super::spawn_in_new_run(
        RunKind::Robustness,
        store,
        identity,
        plan.cnn.as_ref().map(CnnModel::model_ref),
        cancel,
        move |run, reporter, cancel| measure(&plan, &data, run, reporter, cancel),
    )
}

fn measure(
    plan: &RobustnessPlan,
    data: &Dataset,
    run: &Run,
    reporter: &Reporter<RobustnessEvent>,
    cancel: &AtomicBool,
) -> anyhow::Result<RobustnessResult> {
    let r = &plan.settings;
    let noise_split = match r.noise_images {
        0 => data.test.clone(),
        n => data.test.head(n),
    };
    let attack_split = data.test.head(r.attack_images);
    let mut result = RobustnessResult {
        data: DataIdentity::of(data),
        cnn: plan.cnn.as_ref().map(CnnModel::model_ref),
        sigmas: r.sigmas.clone(),
        noise_images: noise_split.len(),
        noise_seed: r.seed,
        noise: Vec::new(),
        attack_images: attack_split.len(),
        pgd_steps: r.pgd_steps,
        pgd_step_size: r.pgd_step_size,
        attacks: Vec::new(),
        complete: false,
    };
    let models = plan.baselines.len() + usize::from(plan.cnn.is_some());
    let attacks = if plan.cnn.is_some() {
        plan.attacks.len() * 2 * r.epsilons.len()
    } else {
        reporter.notice("no CNN: noise rows of the baselines only, no attacks");
        0
    };
    reporter.emit(RobustnessEvent::Planned {
        noise: models * r.sigmas.len(),
        attacks,
        noise_images: noise_split.len(),
    });
    // The same noisy images for every model.
    let noisy: Vec<Vec<u8>> = r
        .sigmas
        .iter()
        .enumerate()
        .map(|(i, &s)| add_noise(&noise_split.images, s, r.seed.wrapping_add(i as u64)))
        .collect();
    let score = |model: &dyn Classifier, result: &mut RobustnessResult| {
        for (&sigma, images) in r.sigmas.iter().zip(&noisy) {
            if cancel.load(Ordering::Relaxed) {
                return Ok(false);
            }
            let probs = model.predict_proba(images)?;
            let row = NoiseRow {
                model: model.name().to_string(),
                sigma,
                accuracy: accuracy(&probs, &noise_split.labels),
            };
            result.noise.push(row.clone());
            run.write_result(result)?;
            reporter.emit(RobustnessEvent::Noise(row));
        }
        anyhow::Ok(true)
    };
    if let Some(cnn) = &plan.cnn {
        let classifier = Cnn {
            network: cnn.network.clone(),
            batch: plan.eval_batch,
        };
        if !score(&classifier, &mut result)? {
            return Ok(result);
        }
    }
    for &kind in &plan.baselines {
        if cancel.load(Ordering::Relaxed) {
            return Ok(result);
        }
        reporter.emit(RobustnessEvent::Fitting {
            model: kind.to_string(),
            train_images: data.train.len(),
        });
        let (model, _) = fit_timed(kind, data, &plan.baseline_settings)?;
        if !score(model.as_ref(), &mut result)? {
            return Ok(result);
        }
    }
    if let Some(cnn) = &plan.cnn {
        for &kind in &plan.attacks {
            for targeted in [false, true] {
                for &epsilon in &r.epsilons {
                    if cancel.load(Ordering::Relaxed) {
                        return Ok(result);
                    }
                    let settings = AttackSettings {
                        kind,
                        epsilon,
                        targeted,
                        steps: r.pgd_steps,
                        step_size: r.pgd_step_size,
                        seed: r.seed,
                        batch: r.batch,
                    };
                    let res = attack(
                        &cnn.network,
                        &attack_split.images,
                        &attack_split.labels,
                        &settings,
                    )
                    .with_context(|| format!("{} attack at epsilon {epsilon}", kind.name()))?;
                    result.attacks.push(res.clone());
                    run.write_result(&result)?;
                    reporter.emit(RobustnessEvent::Attack(res));
                }
            }
        }
    }
    result.complete = true;
    run.write_result(&result)?;
    Ok(result)
}

impl Outcome for RobustnessResult {
    fn complete(&self) -> bool {
        self.complete
    }
}
