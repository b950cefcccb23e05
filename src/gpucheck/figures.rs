//! The speed figures, each on the CPU and on the plan's device: seconds per 60,000-image
//! training epoch, inference of 10,000 images, one inversion step, k-NN of 10,000 test images
//! against 60,000 training images. On fewer images (the bundled sample) each is scaled linearly
//! to those sizes, and marked so.

use std::sync::Arc;
use std::time::Instant;

use candle_core::Device;

use super::agreement::{inversion_options, start_image, train_epoch};
use super::{Figure, Plan};
use crate::baselines::knn::KnnIndex;
use crate::baselines::knn_device::DeviceKnn;
use crate::inversion::GradientInverter;
use crate::model::recipe::{Schedule, TrainConfig};
use crate::model::ArchSpec;

/// Full MNIST's split sizes, which the figures are given for (the texts say 60,000 and 10,000).
const TRAIN: usize = 60_000;
const TEST: usize = 10_000;
/// Inversion steps before timing (kernels loaded, caches warm) and timed.
const WARM_STEPS: usize = 20;
const TIMED_STEPS: usize = 100;
/// PCA dimensions of the CPU's k-NN index, as `classgen baselines` uses.
const KNN_DIMS: usize = 64;

/// Every figure, in order; `progress` gets one line per figure.
pub fn run(plan: &Plan, progress: &dyn Fn(&str)) -> anyhow::Result<Vec<Figure>> {
    let data = plan.figures;
    let (train, test) = (&data.train, &data.test);
    let devices = [&Device::Cpu, plan.device];
    let mut figures = Vec::new();
    let mut add = |figure: Figure| {
        progress(&format!(
            "{}: cpu {:.4} s, device {:.4} s{}",
            figure.what,
            figure.cpu_seconds,
            figure.device_seconds,
            if figure.scaled { " (scaled)" } else { "" }
        ));
        figures.push(figure);
    };

    // The study's plain recipe, as PyTorch's peer trains it.
    let recipe = TrainConfig {
        epochs: 1,
        schedule: Schedule::Constant,
        augment_shift: 0,
        ..TrainConfig::default()
    };
    let arch = ArchSpec::seed();
    let mut nets = Vec::new();
    let mut epoch = Vec::new();
    for device in devices {
        let (net, _, metrics) = train_epoch(&arch, data, &recipe, device)?;
        epoch.push(metrics.seconds * TRAIN as f64 / train.len() as f64);
        nets.push(net);
    }
    add(Figure {
        what: format!(
            "training, seconds per 60,000-image epoch (seed CNN, batch {})",
            recipe.batch_size
        ),
        cpu_seconds: epoch[0],
        device_seconds: epoch[1],
        scaled: train.len() != TRAIN,
    });

    let mut inference = Vec::new();
    for net in &nets {
        let mut times = Vec::new();
        for _ in 0..3 {
            let started = Instant::now();
            net.predict_proba(&test.images, 1000)?;
            times.push(started.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        inference.push(times[1] * TEST as f64 / test.len().max(1) as f64);
    }
    add(Figure {
        what: "inference of 10,000 images (batches of 1000, median of 3)".into(),
        cpu_seconds: inference[0],
        device_seconds: inference[1],
        scaled: test.len() != TEST,
    });

    let start = start_image(test)?;
    let mut step = Vec::new();
    for net in nets {
        let options = inversion_options(usize::MAX);
        let mut inverter = GradientInverter::new(Arc::new(net), start.clone(), options)?;
        for _ in 0..WARM_STEPS {
            inverter.step()?;
        }
        let started = Instant::now();
        for _ in 0..TIMED_STEPS {
            inverter.step()?;
        }
        step.push(started.elapsed().as_secs_f64() / TIMED_STEPS as f64);
    }
    add(Figure {
        what: format!("one inversion step, 1 image (mean of {TIMED_STEPS})"),
        cpu_seconds: step[0],
        device_seconds: step[1],
        scaled: false,
    });

    let pairs = (train.len() * test.len()).max(1) as f64;
    let scale = (TRAIN * TEST) as f64 / pairs;
    let index = KnnIndex::new(&train.images, &train.labels, KNN_DIMS, super::SEED)?;
    let started = Instant::now();
    index.predict_proba_u8(&test.images, plan.k);
    let cpu = started.elapsed().as_secs_f64() * scale;
    let on_device = DeviceKnn::new(&train.images, &train.labels, plan.device)?;
    // The first search loads the kernels.
    on_device.predict_proba_u8(test.image(0), plan.k)?;
    let started = Instant::now();
    on_device.predict_proba_u8(&test.images, plan.k)?;
    let device = started.elapsed().as_secs_f64() * scale;
    add(Figure {
        what: format!(
            "k-NN (k={}), 10,000 test x 60,000 train images (CPU: exact PCA-pruned index; device: exact brute force)",
            plan.k
        ),
        cpu_seconds: cpu,
        device_seconds: device,
        scaled: train.len() != TRAIN || test.len() != TEST,
    });
    Ok(figures)
}
