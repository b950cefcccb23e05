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
use crate::explain::layers::{self, LayerMaps};
use crate::explain::lookalike::{pixel_nearest, FeatureIndex, Neighbour};
use crate::explain::{self as science, Explainer, ImageMaps, Method, Settings, Target};
use crate::model::Network;
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
    Maps(Box<MapsRequest>),
}

/// One image's maps, and what else the tab shows of it.
#[derive(Debug, Clone)]
pub struct MapsRequest {
    pub id: u64,
    pub model: ModelSpec,
    pub tag: String,
    pub label: Option<usize>,
    pub pixels: Vec<f32>,
    pub target: Target,
    pub methods: Vec<Method>,
    pub settings: Settings,
    /// Also the CNN's activation maps of the image and conv1's filters.
    pub layers: bool,
    /// Also this many look-alike training images (the first time, every training image's
    /// features are computed).
    pub lookalikes: Option<usize>,
}

/// What the CNN's layers show of an image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Layers {
    pub filters: Vec<Vec<f32>>,
    pub maps: Vec<LayerMaps>,
}

/// The nearest training images in the CNN's features and in pixels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Nearest {
    pub features: Vec<Neighbour>,
    pub pixels: Vec<Neighbour>,
}

/// What the session reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum SessionEvent {
    /// A baseline is being fitted, or the training images' features computed, before the
    /// answer (it takes a while).
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
        layers: Option<Layers>,
        nearest: Option<Nearest>,
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

/// The model of the last request, kept for the next ones.
struct Built {
    spec: ModelSpec,
    explainer: Explainer,
    /// The CNN (for its layers and features).
    network: Option<Arc<Network>>,
    /// Every training image's features, once asked for.
    index: Option<FeatureIndex>,
}

/// Answers requests until the sender is dropped, each time the newest waiting one.
fn serve(requests: &Receiver<ExplainRequest>, reporter: &Reporter<SessionEvent>) {
    let mut built: Option<Built> = None;
    while let Ok(first) = requests.recv() {
        let ExplainRequest::Maps(r) = requests.try_iter().last().unwrap_or(first);
        let event = match maps(&mut built, &r, reporter) {
            Ok(event) => event,
            Err(e) => SessionEvent::Failed {
                id: r.id,
                message: format!("{}: {e:#}", r.tag),
            },
        };
        reporter.emit(event);
    }
}

/// The model of `spec`: the last one, or built (a baseline fitted) anew.
fn model<'a>(
    built: &'a mut Option<Built>,
    r: &MapsRequest,
    reporter: &Reporter<SessionEvent>,
) -> anyhow::Result<&'a mut Built> {
    let spec = &r.model;
    if !built.as_ref().is_some_and(|b| b.spec.same(spec)) {
        *built = None;
        let cnn = match (&spec.choice, &spec.cnn) {
            (ModelChoice::Cnn, Some(run)) => {
                let device = crate::device::open(&spec.device)?;
                Some(CnnModel::load(run.clone(), &device)?)
            }
            (ModelChoice::Cnn, None) => anyhow::bail!("no active CNN: train one or pick one"),
            (ModelChoice::Baseline(kind), _) => {
                reporter.emit(SessionEvent::Fitting {
                    id: r.id,
                    model: kind.to_string(),
                });
                None
            }
        };
        let network = cnn.as_ref().map(|c| c.network.clone());
        let plan = ExplainPlan {
            sources: Vec::new(),
            target: r.target,
            methods: Vec::new(),
            settings: r.settings,
            model: spec.choice,
            cnn,
            baseline_settings: spec.baselines.clone(),
            faithfulness: None,
            sanity: false,
            snapshots: None,
            layers: false,
            lookalikes: None,
        };
        let explainer = build_model(&plan, &spec.data, None)?;
        *built = Some(Built {
            spec: spec.clone(),
            explainer,
            network,
            index: None,
        });
    }
    built.as_mut().ok_or_else(|| anyhow::anyhow!("no model"))
}

/// One request's maps (and layers, look-alikes), building the model first when it is not
/// the last request's.
fn maps(
    built: &mut Option<Built>,
    r: &MapsRequest,
    reporter: &Reporter<SessionEvent>,
) -> anyhow::Result<SessionEvent> {
    if r.pixels.len() != PIXELS {
        anyhow::bail!("an image has {PIXELS} pixels, found {}", r.pixels.len());
    }
    let b = model(built, r, reporter)?;
    let (keep, skipped) = usable(&b.explainer, &r.methods);
    let mut settings = r.settings;
    if !b.explainer.differentiable() {
        settings.of = science::Of::Prob;
    }
    let start = Instant::now();
    let e = science::explain(
        &mut b.explainer,
        &r.pixels,
        &[r.label],
        r.target,
        &keep,
        &settings,
    )?;
    let maps = e
        .images
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no maps came back"))?;
    let seconds = start.elapsed().as_secs_f64();
    let layers = match (&b.network, r.layers) {
        (Some(net), true) => Some(Layers {
            filters: layers::filters(net)?,
            maps: layers::activations(net, &r.pixels)?,
        }),
        _ => None,
    };
    let nearest = match (&b.network, r.lookalikes) {
        (Some(net), Some(k)) => {
            if b.index.is_none() {
                reporter.emit(SessionEvent::Fitting {
                    id: r.id,
                    model: format!(
                        "the features of {} training images",
                        r.model.data.train.len()
                    ),
                });
                b.index = FeatureIndex::build(net, &r.model.data.train, &AtomicBool::new(false))?;
            }
            match b.index.as_mut() {
                Some(index) => Some(Nearest {
                    features: index.nearest(&r.pixels, k)?,
                    pixels: pixel_nearest(&r.model.data.train, &r.pixels, k),
                }),
                None => None,
            }
        }
        _ => None,
    };
    Ok(SessionEvent::Maps {
        id: r.id,
        model: b.explainer.name(),
        maps,
        skipped,
        seconds,
        layers,
        nearest,
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
        let ask = |id: u64, i: usize| {
            ExplainRequest::Maps(Box::new(MapsRequest {
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
                layers: false,
                lookalikes: None,
            }))
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
