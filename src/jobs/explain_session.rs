//! The explain session: one thread that keeps the explained model (a CNN, or a baseline fitted
//! once) and answers requests for one image's maps, newest first. The Explain tab keeps one
//! open and asks again whenever its image, target, model or methods change; requests that
//! arrive while maps are being made replace each other, so only the newest is answered and a
//! key never waits for a map.

use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::explain::{build_model, usable, ExplainPlan, ModelChoice};
use super::models::CnnModel;
use super::{Job, JobEvent, Reporter};
use crate::baselines::BaselinesConfig;
use crate::data::{Dataset, PIXELS};
use crate::explain::{self as science, Explainer, ImageMaps, Method, Settings, Target};
use crate::runs::RunInfo;

/// The model a request is for.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    pub choice: ModelChoice,
    /// The CNN's training run (needed for [`ModelChoice::Cnn`]).
    pub cnn: Option<RunInfo>,
    /// The device the CNN is loaded on (`config.train.device`).
    pub device: String,
    /// The data a baseline is fitted on.
    pub data: Arc<Dataset>,
    pub baselines: BaselinesConfig,
}

impl ModelSpec {
    /// Whether a model built for `self` serves `other` too.
    fn same(&self, other: &ModelSpec) -> bool {
        self.choice == other.choice
            && self.cnn.as_ref().map(|r| &r.dir) == other.cnn.as_ref().map(|r| &r.dir)
            && Arc::ptr_eq(&self.data, &other.data)
            && self.device == other.device
    }
}

/// What the session is asked.
#[derive(Debug, Clone)]
pub enum ExplainRequest {
    /// The maps of one image (784 values in [0,1]).
    Maps {
        id: u64,
        model: ModelSpec,
        tag: String,
        label: Option<usize>,
        pixels: Vec<f32>,
        target: Target,
        methods: Vec<Method>,
        settings: Settings,
    },
}

/// What the session reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum SessionEvent {
    /// A baseline is being fitted before its first maps (it takes a while).
    Fitting {
        id: u64,
        model: String,
    },
    /// The maps of request `id`: the methods the model has, with the time they took.
    Maps {
        id: u64,
        model: String,
        maps: ImageMaps,
        /// Methods asked for that this model cannot run (no gradients, no convolution).
        skipped: Vec<Method>,
        seconds: f64,
    },
    Failed {
        id: u64,
        message: String,
    },
}

impl JobEvent for SessionEvent {
    fn notice(message: String) -> Self {
        Self::Failed { id: 0, message }
    }
}

/// An open session: send requests, read [`SessionEvent`]s from its job.
pub struct ExplainSession {
    pub requests: Sender<ExplainRequest>,
    pub job: Job<SessionEvent, ()>,
}

/// Opens a session; it ends when `requests` is dropped.
pub fn open() -> anyhow::Result<ExplainSession> {
    let (requests, rx) = channel();
    let job = Job::spawn(
        "explain",
        None,
        Arc::new(AtomicBool::new(false)),
        move |reporter, _| {
            serve(&rx, reporter);
            Ok(())
        },
    )?;
    Ok(ExplainSession { requests, job })
}

/// Answers requests until the sender is dropped, each time the newest waiting one.
fn serve(requests: &Receiver<ExplainRequest>, reporter: &Reporter<SessionEvent>) {
    let mut built: Option<(ModelSpec, Explainer)> = None;
    while let Ok(first) = requests.recv() {
        let newest = requests.try_iter().last().unwrap_or(first);
        let ExplainRequest::Maps {
            id,
            model,
            tag,
            label,
            pixels,
            target,
            methods,
            settings,
        } = newest;
        let event = match maps(
            &mut built, id, &model, label, &pixels, target, &methods, settings, reporter,
        ) {
            Ok(event) => event,
            Err(e) => SessionEvent::Failed {
                id,
                message: format!("{tag}: {e:#}"),
            },
        };
        reporter.emit(event);
    }
}

/// One request's maps, building (or fitting) the model first when it is not the last one's.
#[allow(clippy::too_many_arguments)]
fn maps(
    built: &mut Option<(ModelSpec, Explainer)>,
    id: u64,
    spec: &ModelSpec,
    label: Option<usize>,
    pixels: &[f32],
    target: Target,
    methods: &[Method],
    mut settings: Settings,
    reporter: &Reporter<SessionEvent>,
) -> anyhow::Result<SessionEvent> {
    if pixels.len() != PIXELS {
        anyhow::bail!("an image has {PIXELS} pixels, found {}", pixels.len());
    }
    if !built.as_ref().is_some_and(|(s, _)| s.same(spec)) {
        *built = None;
        let cnn = match (&spec.choice, &spec.cnn) {
            (ModelChoice::Cnn, Some(run)) => {
                let device = crate::device::open(&spec.device)?;
                Some(CnnModel::load(run.clone(), &device)?)
            }
            (ModelChoice::Cnn, None) => anyhow::bail!("no active CNN: train one or pick one"),
            (ModelChoice::Baseline(kind), _) => {
                reporter.emit(SessionEvent::Fitting {
                    id,
                    model: kind.to_string(),
                });
                None
            }
        };
        let plan = ExplainPlan {
            sources: Vec::new(),
            target,
            methods: Vec::new(),
            settings,
            model: spec.choice,
            cnn,
            baseline_settings: spec.baselines.clone(),
            faithfulness: None,
            sanity: false,
            snapshots: None,
            layers: false,
            lookalikes: None,
        };
        *built = Some((spec.clone(), build_model(&plan, &spec.data, None)?));
    }
    let Some((_, model)) = built.as_mut() else {
        anyhow::bail!("no model");
    };
    let (keep, skipped) = usable(model, methods);
    if !model.differentiable() {
        settings.of = science::Of::Prob;
    }
    let start = Instant::now();
    let e = science::explain(model, pixels, &[label], target, &keep, &settings)?;
    let maps = e
        .images
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no maps came back"))?;
    Ok(SessionEvent::Maps {
        id,
        model: model.name(),
        maps,
        skipped,
        seconds: start.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::source::load_sample;

    fn sample() -> Arc<Dataset> {
        Arc::new(load_sample().expect("the bundled sample loads"))
    }

    /// Requests queued behind a slow one are answered once, by the newest; a baseline is
    /// fitted once and then kept; a model without gradients gets occlusion and says what it
    /// skipped.
    #[test]
    fn the_newest_request_is_answered_and_the_model_is_kept() {
        let data = sample();
        let session = open().unwrap();
        let spec = ModelSpec {
            choice: ModelChoice::Baseline(crate::baselines::BaselineKind::Tree),
            cnn: None,
            device: "cpu".into(),
            data: data.clone(),
            baselines: BaselinesConfig::default(),
        };
        let ask = |id: u64, i: usize| ExplainRequest::Maps {
            id,
            model: spec.clone(),
            tag: format!("test-{i}"),
            label: Some(usize::from(data.test.labels[i])),
            pixels: data
                .test
                .image(i)
                .iter()
                .map(|&p| f32::from(p) / 255.0)
                .collect(),
            target: Target::Pred,
            methods: vec![Method::Saliency, Method::Occlusion],
            settings: Settings::default(),
        };
        for id in 1..=3 {
            session.requests.send(ask(id, id as usize)).unwrap();
        }
        drop(session.requests);
        let events: Vec<SessionEvent> = session.job.events().iter().collect();
        let answered: Vec<u64> = events
            .iter()
            .filter_map(|e| match e {
                SessionEvent::Maps { id, .. } => Some(*id),
                _ => None,
            })
            .collect();
        let fitted = events
            .iter()
            .filter(|e| matches!(e, SessionEvent::Fitting { .. }))
            .count();
        assert_eq!(fitted, 1, "{events:?}");
        assert_eq!(answered.last(), Some(&3), "{events:?}");
        assert!(answered.len() <= 3);
        let Some(SessionEvent::Maps { maps, skipped, .. }) = events.last() else {
            panic!("{events:?}");
        };
        assert_eq!(skipped, &[Method::Saliency]);
        assert_eq!(maps.maps.len(), 1);
        assert_eq!(maps.maps[0].0, Method::Occlusion);
        assert!(science::max_abs(&maps.maps[0].1) > 0.0);
    }
}
