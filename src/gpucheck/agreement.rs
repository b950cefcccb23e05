//! The agreement checks: the same computation on the CPU and on the plan's device, from the same
//! weights and data, and how far apart the results are.

use std::cell::RefCell;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use candle_core::{Device, Tensor, Var};

use super::report::number;
use super::{Check, Plan, SEED};
use crate::baselines::knn::KnnIndex;
use crate::baselines::knn_device::DeviceKnn;
use crate::baselines::logreg::LogReg;
use crate::baselines::logreg_device::DeviceLogReg;
use crate::classifier::{predictions, Classifier};
use crate::data::{Dataset, Split, CLASSES};
use crate::inversion::{GradientInverter, GradientOptions, Inverter};
use crate::model::adam::Adam;
use crate::model::network::images_tensor;
use crate::model::recipe::{Schedule, TrainConfig};
use crate::model::train::{train, EpochMetrics, TrainEvent, TrainProgress, TrainRun};
use crate::model::{ArchSpec, Network};

/// The class the inversion trajectory aims at.
const TARGET: usize = 8;
/// PCA dimensions of the CPU's k-NN index (speed only: its results are exact).
const KNN_DIMS: usize = 64;

/// Every check, in order; `progress` gets one line per check.
pub fn run(plan: &Plan, progress: &dyn Fn(&str)) -> anyhow::Result<Vec<Check>> {
    let checks = RefCell::new(Vec::new());
    let add = |check: Check| {
        progress(&format!(
            "{}: {} ({}; tolerance {}) {}",
            check.name,
            number(check.measured),
            check.measure,
            number(check.tolerance),
            if check.passed() { "pass" } else { "FAIL" }
        ));
        checks.borrow_mut().push(check);
    };
    let (cpu, device) = (&Device::Cpu, plan.device);
    let arch = ArchSpec::seed();
    let batch = plan.checks.test.head(plan.batch);
    let (cpu_net, device_net) = (
        Network::new(&arch, SEED, cpu)?,
        Network::new(&arch, SEED, device)?,
    );

    let logits = |net: &Network| -> anyhow::Result<Vec<f32>> {
        let x = images_tensor(&batch.images, net.device())?;
        Ok(net.forward(&x)?.flatten_all()?.to_vec1()?)
    };
    add(relative(
        format!("forward logits of {} test images", batch.len()),
        &logits(&cpu_net)?,
        &logits(&device_net)?,
        1e-4,
    ));

    for ((name, a), (_, b)) in gradients(&cpu_net, &batch)?
        .into_iter()
        .zip(gradients(&device_net, &batch)?)
    {
        add(relative(format!("gradient of {name}"), &a, &b, 1e-3));
    }

    let recipe = TrainConfig {
        epochs: 1,
        batch_size: plan.batch,
        schedule: Schedule::Constant,
        augment_shift: 0,
        seed: SEED,
        ..TrainConfig::default()
    };
    let (cpu_trained, cpu_curve, cpu_epoch) = train_epoch(&arch, plan.checks, &recipe, cpu)?;
    let (_, device_curve, device_epoch) = train_epoch(&arch, plan.checks, &recipe, device)?;
    let images = plan.checks.train.len();
    add(Check {
        name: format!("training loss over one epoch of {images} images, batch by batch"),
        measure: "max abs diff of the running mean",
        measured: max_abs_diff(&cpu_curve, &device_curve),
        tolerance: 0.02,
    });
    add(Check {
        name: "test loss after that epoch".into(),
        measure: "abs diff",
        measured: (cpu_epoch.test_loss - device_epoch.test_loss).abs(),
        tolerance: 0.02,
    });
    add(Check {
        name: "test accuracy after that epoch".into(),
        measure: "abs diff, as a fraction",
        measured: (cpu_epoch.test_accuracy - device_epoch.test_accuracy).abs(),
        tolerance: 0.01,
    });

    let (pixels, p_target) = inversion(cpu_trained, plan, device)?;
    let steps = plan.inversion_steps;
    add(Check {
        name: format!("inversion to class {TARGET}, {steps} steps: pixels"),
        measure: "max abs diff over the trajectory",
        measured: pixels,
        tolerance: 1e-3,
    });
    add(Check {
        name: format!("inversion to class {TARGET}, {steps} steps: p(target)"),
        measure: "max abs diff over the trajectory",
        measured: p_target,
        tolerance: 1e-3,
    });

    let (train, test) = (&plan.checks.train, &plan.checks.test);
    let k = plan.k;
    let index = KnnIndex::new(&train.images, &train.labels, KNN_DIMS, SEED)?;
    let (want, _) = index.search_u8(&test.images, k);
    let on_device = DeviceKnn::new(&train.images, &train.labels, device)?;
    let got = on_device.search_u8(&test.images, k)?;
    let differing = want.iter().zip(&got).filter(|(a, b)| a != b).count();
    add(Check {
        name: format!("k-NN (k={k}) neighbours of {} test images", test.len()),
        measure: "queries whose neighbours or distances differ",
        measured: (differing + want.len().abs_diff(got.len())) as f64,
        tolerance: 0.0,
    });
    let votes = |found: &[Vec<(u32, f32)>]| -> Vec<f32> {
        found.iter().flat_map(|n| index.vote_shares(n, k)).collect()
    };
    // The device's neighbours, searched once above, voted the same way as the CPU's.
    let (cpu_votes, device_votes) = (votes(&want), votes(&got));
    add(Check {
        name: format!("k-NN (k={k}) predictions"),
        measure: "images predicted differently",
        measured: differing_predictions(&cpu_votes, &device_votes, None) as f64,
        tolerance: 0.0,
    });

    let model = LogReg::fit(&train.images, &train.labels, plan.logreg)?;
    let cpu_probs = model.predict_proba(&test.images)?;
    let device_probs = DeviceLogReg::new(&model, device)?.predict_proba(&test.images)?;
    add(Check {
        name: "logistic regression probabilities".into(),
        measure: "max abs diff",
        measured: max_abs_diff(&cpu_probs, &device_probs),
        tolerance: 1e-5,
    });
    add(Check {
        name: "logistic regression predictions".into(),
        measure: "images predicted differently, CPU top two > 1e-4 apart",
        measured: differing_predictions(&cpu_probs, &device_probs, Some(1e-4)) as f64,
        tolerance: 0.0,
    });
    Ok(checks.into_inner())
}

/// Largest absolute difference over the largest CPU magnitude.
fn relative(name: String, cpu: &[f32], device: &[f32], tolerance: f64) -> Check {
    let scale = cpu
        .iter()
        .fold(f64::MIN_POSITIVE, |m, v| m.max(f64::from(v.abs())));
    Check {
        name,
        measure: "max abs diff / max abs CPU",
        measured: max_abs_diff(cpu, device) / scale,
        tolerance,
    }
}

/// The larger of two differences; NaN if either is (`f64::max` would drop it).
fn worst(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Largest absolute difference; infinite if the lengths differ, NaN if a value is.
fn max_abs_diff<T: Copy + Into<f64>>(a: &[T], b: &[T]) -> f64 {
    if a.len() != b.len() {
        return f64::INFINITY;
    }
    a.iter()
        .zip(b)
        .fold(0.0, |m, (&x, &y)| worst(m, (x.into() - y.into()).abs()))
}

/// Rows of `cpu` and `device` (`n * 10` probabilities) whose predictions differ; with a
/// `margin`, only rows whose CPU top two are more than that apart count.
fn differing_predictions(cpu: &[f32], device: &[f32], margin: Option<f32>) -> usize {
    let decided = cpu.chunks_exact(CLASSES).map(|row| {
        let mut sorted = row.to_vec();
        sorted.sort_by(|a, b| b.total_cmp(a));
        margin.is_none_or(|m| sorted[0] - sorted[1] > m)
    });
    predictions(cpu)
        .iter()
        .zip(predictions(device))
        .zip(decided)
        .filter(|((a, b), decided)| *decided && **a != *b)
        .count()
        + cpu.len().abs_diff(device.len()) / CLASSES
}

/// The cross-entropy gradients of one batch: every parameter (by name) and the input.
fn gradients(net: &Network, batch: &Split) -> anyhow::Result<Vec<(String, Vec<f32>)>> {
    let device = net.device();
    let x = Var::from_tensor(&images_tensor(&batch.images, device)?)?;
    let labels: Vec<u32> = batch.labels.iter().map(|&l| u32::from(l)).collect();
    let y = Tensor::from_vec(labels, batch.len(), device)?;
    let loss = candle_nn::loss::cross_entropy(&net.forward(x.as_tensor())?, &y)?;
    let grads = loss.backward()?;
    let mut named: Vec<(String, Tensor)> = net.named_tensors().into_iter().collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named.push(("the input images".into(), x.as_tensor().clone()));
    named
        .into_iter()
        .map(|(name, t)| {
            let g = grads
                .get(&t)
                .ok_or_else(|| anyhow::anyhow!("no gradient reached {name}"))?;
            Ok((name, g.flatten_all()?.to_vec1()?))
        })
        .collect()
}

/// One epoch of `recipe` on `data` from the seeded weights: the network, the running mean loss
/// after each batch, and the epoch's metrics.
pub(super) fn train_epoch(
    arch: &ArchSpec,
    data: &Dataset,
    recipe: &TrainConfig,
    device: &Device,
) -> anyhow::Result<(Network, Vec<f64>, EpochMetrics)> {
    let net = Network::new(arch, SEED, device)?;
    let mut adam = Adam::new(net.vars().cloned().collect())?;
    let curve = RefCell::new(Vec::new());
    let epoch = RefCell::new(None);
    let events = |event: TrainEvent| match event {
        TrainEvent::Batch { loss, .. } => curve.borrow_mut().push(loss),
        TrainEvent::Epoch(metrics) => *epoch.borrow_mut() = Some(metrics),
        _ => {}
    };
    let run = TrainRun {
        config: recipe,
        data,
        events: &events,
        cancel: &AtomicBool::new(false),
    };
    let mut progress = TrainProgress::default();
    train(&run, &net, &mut adam, &mut progress, &mut |_, _, _| {
        Ok(None)
    })?;
    let metrics = epoch
        .into_inner()
        .ok_or_else(|| anyhow::anyhow!("training reported no epoch"))?;
    Ok((net, curve.into_inner(), metrics))
}

/// The first test image of another class than [`TARGET`], as pixels in [0,1].
pub(super) fn start_image(test: &Split) -> anyhow::Result<Vec<f32>> {
    let i = test
        .labels
        .iter()
        .position(|&l| usize::from(l) != TARGET)
        .ok_or_else(|| anyhow::anyhow!("no test image of another class than {TARGET}"))?;
    Ok(test
        .image(i)
        .iter()
        .map(|&p| f32::from(p) / 255.0)
        .collect())
}

/// The inversion options of the checks and figures: `steps` steps, never stopping earlier.
pub(super) fn inversion_options(steps: usize) -> GradientOptions {
    GradientOptions {
        target: TARGET,
        max_steps: steps,
        threshold: 2.0,
        ..GradientOptions::default()
    }
}

/// The same inversion with `net`'s weights on the CPU and on `device`: the largest pixel and
/// `p(target)` differences over the trajectory.
fn inversion(net: Network, plan: &Plan, device: &Device) -> anyhow::Result<(f64, f64)> {
    let copy = Network::new(&net.spec, SEED, device)?;
    for (dst, src) in copy.vars().zip(net.vars()) {
        dst.set(&src.as_tensor().to_device(device)?)?;
    }
    let start = start_image(&plan.checks.test)?;
    let options = inversion_options(plan.inversion_steps);
    let mut frames = Vec::new();
    for net in [net, copy] {
        let mut inverter = GradientInverter::new(Arc::new(net), start.clone(), options.clone())?;
        frames.push(inverter.run_to_end()?);
    }
    if frames[0].len() != frames[1].len() {
        anyhow::bail!(
            "the inversions stopped after {} and {} frames",
            frames[0].len(),
            frames[1].len()
        );
    }
    let (mut pixels, mut p_target) = (0f64, 0f64);
    for (a, b) in frames[0].iter().zip(&frames[1]) {
        pixels = worst(pixels, max_abs_diff(&a.pixels, &b.pixels));
        p_target = worst(
            p_target,
            (f64::from(a.p_target) - f64::from(b.p_target)).abs(),
        );
    }
    Ok((pixels, p_target))
}
