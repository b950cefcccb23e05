//! The fused engine against candle's graph (the reference): logits, every gradient, Adam,
//! training trajectories; finite differences; determinism across thread counts; round trips.

use candle_core::{Device, Tensor, Var};
use rand::{Rng, SeedableRng};

use super::adam::{update, AdamStep};
use super::workspace::Mode;
use super::{Engine, CHUNK};
use crate::data::{Split, CLASSES, PIXELS, SIDE};
use crate::model::adam::Adam;
use crate::model::arch::ConvSpec;
use crate::model::{ArchSpec, Network};

fn spec(name: &str, convs: Vec<ConvSpec>, dense: Option<usize>) -> ArchSpec {
    ArchSpec {
        name: name.into(),
        convs,
        dense,
    }
}

fn kconv(filters: usize, kernel: usize, pool: bool) -> ConvSpec {
    ConvSpec {
        filters,
        kernel,
        pool,
    }
}

/// Small architectures with odd sides, kernels 3 to 5, with and without pools and dense.
fn odd_specs() -> Vec<ArchSpec> {
    vec![
        // 28 -> 26 -> 13 (pool) -> 9 (k5, no pool); dense 6.
        spec("a", vec![kconv(5, 3, true), kconv(4, 5, false)], Some(6)),
        // 28 -> 24 -> 12 -> 10 -> 5 (odd pool input 10 is even, output 5 odd); no dense.
        spec("b", vec![kconv(3, 5, true), kconv(2, 3, true)], None),
        // 28 -> 26 (no pool) -> 23 (k4) -> 11 (pool of an odd side); dense 7.
        spec("c", vec![kconv(2, 3, false), kconv(3, 4, true)], Some(7)),
        // No convolution at all: a two-layer perceptron.
        spec("d", vec![], Some(5)),
        // 8+ channels into 3x3 blocks (Winograd forward): pooled with the sparse backward
        // (28 -> 24 -> 12 -> 10 -> 5), then unpooled on an odd side (13 -> 11) with the dense one.
        spec("e", vec![kconv(8, 5, true), kconv(9, 3, true)], Some(6)),
        spec("f", vec![kconv(8, 3, true), kconv(6, 3, false)], None),
    ]
}

fn images(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n * PIXELS)
        .map(|_| {
            // Mostly-dark images with some zeros, as digits are.
            let v: f32 = rng.random_range(-0.5..1.0);
            v.max(0.0)
        })
        .collect()
}

fn labels(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(0..CLASSES as u8)).collect()
}

fn tensor(x: &[f32]) -> Tensor {
    Tensor::from_slice(x, (x.len() / PIXELS, SIDE, SIDE, 1), &Device::Cpu).unwrap()
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

fn labels_tensor(y: &[u8]) -> Tensor {
    let v: Vec<u32> = y.iter().map(|&l| u32::from(l)).collect();
    Tensor::from_vec(v, y.len(), &Device::Cpu).unwrap()
}

/// Asserts `a` and `b` agree within `tol` relative to the larger of 1e-2 and `b`'s scale.
fn assert_close(what: &str, a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let scale = b.iter().fold(1e-2f32, |m, v| m.max(v.abs()));
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * scale,
            "{what}[{i}]: fused {x} vs candle {y} (scale {scale})"
        );
    }
}

fn trainer(net: &Network, batch: usize) -> (Engine, Adam) {
    let adam = Adam::new(net.vars().cloned().collect()).unwrap();
    (Engine::trainer(net, &adam, batch).unwrap(), adam)
}

fn weights(engine: &Engine) -> Vec<Vec<f32>> {
    engine.params.iter().map(|p| p.w.clone()).collect()
}

#[test]
fn fused_logits_and_probabilities_match_candle_forward() {
    let mut all = odd_specs();
    all.push(ArchSpec::seed());
    for s in &all {
        let net = Network::new(s, 3, &Device::Cpu).unwrap();
        let n = CHUNK + 5;
        let x = images(n, 1);
        let reference = flat(&net.forward(&tensor(&x)).unwrap());
        let mut engine = Engine::inverter(&net).unwrap();
        for i in 0..n {
            let got = engine.logits(&x[i * PIXELS..(i + 1) * PIXELS]).unwrap();
            assert_close(
                &s.name,
                &got,
                &reference[i * CLASSES..(i + 1) * CLASSES],
                1e-5,
            );
        }
        // Inference from bytes, against candle's softmax of candle's logits.
        let bytes: Vec<u8> = x.iter().map(|v| (v * 255.0).round() as u8).collect();
        let probs = Engine::inference(&net)
            .unwrap()
            .predict_proba(&bytes)
            .unwrap();
        let xs = crate::model::network::images_tensor(&bytes, &Device::Cpu).unwrap();
        let logits = net.forward(&xs).unwrap();
        let want = flat(&candle_nn::ops::softmax_last_dim(&logits).unwrap());
        assert_close(&s.name, &probs, &want, 1e-5);
    }
}

/// The fused gradient of the mean cross-entropy (a step with learning rate 0), per tensor.
fn fused_gradients(net: &Network, x: &[f32], y: &[u8]) -> (Vec<Vec<f32>>, f64) {
    let (mut engine, _) = trainer(net, y.len());
    let before = weights(&engine);
    let (loss, _) = engine.step(x, y, 0.0).unwrap();
    assert_eq!(
        before,
        weights(&engine),
        "learning rate 0 moved the weights"
    );
    (engine.params.iter().map(|p| p.g.clone()).collect(), loss)
}

#[test]
fn every_parameter_gradient_matches_candle_autograd() {
    let mut all = odd_specs();
    all.push(ArchSpec::seed());
    for s in &all {
        let net = Network::new(s, 5, &Device::Cpu).unwrap();
        // 3 images (one partial chunk) and 2 chunks and a bit (a partial last chunk).
        for n in [3, 2 * CHUNK + 3] {
            let (x, y) = (images(n, 7 + n as u64), labels(n, n as u64));
            let logits = net.forward(&tensor(&x)).unwrap();
            let loss = candle_nn::loss::cross_entropy(&logits, &labels_tensor(&y)).unwrap();
            let grads = loss.backward().unwrap();
            let (fused, fused_loss) = fused_gradients(&net, &x, &y);
            let mean = loss.to_scalar::<f32>().unwrap() as f64;
            assert!(
                (fused_loss / n as f64 - mean).abs() < 1e-5 * (1.0 + mean),
                "{}",
                s.name
            );
            for (i, (var, g)) in net.vars().zip(&fused).enumerate() {
                let want = flat(grads.get(var).unwrap());
                assert_close(&format!("{} n={n} tensor {i}", s.name), g, &want, 1e-4);
            }
        }
    }
}

#[test]
fn input_gradient_matches_candle_autograd() {
    let mut all = odd_specs();
    all.push(ArchSpec::seed());
    let c: [f32; CLASSES] = std::array::from_fn(|i| (i as f32 * 1.3).sin());
    for s in &all {
        let net = Network::new(s, 9, &Device::Cpu).unwrap();
        let mut engine = Engine::inverter(&net).unwrap();
        for seed in 0..2 {
            let x = images(1, 40 + seed);
            let var = Var::from_slice(&x, (1, SIDE, SIDE, 1), &Device::Cpu).unwrap();
            let logits = net.forward_frozen(var.as_tensor()).unwrap();
            let seed_t = Tensor::from_slice(&c, (1, CLASSES), &Device::Cpu).unwrap();
            let grads = logits
                .mul(&seed_t)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let want = flat(grads.get(var.as_tensor()).unwrap());
            let (z, got) = engine.input_gradient(&x, |_| c).unwrap();
            assert_close(&s.name, &z, &flat(&logits), 1e-5);
            assert_close(&s.name, got, &want, 1e-4);
        }
    }
}

/// The fused mean loss of `(x, y)` with the engine's current weights.
fn fused_loss(engine: &mut Engine, x: &[f32], y: &[u8]) -> f64 {
    let ws = &mut engine.chunks[0];
    ws.forward(&engine.plan, &engine.params, x);
    ws.loss(y, 0.0);
    ws.loss / y.len() as f64
}

#[test]
// The loop re-borrows the engine mutably inside (the finite differences), so it indexes.
#[allow(clippy::needless_range_loop)]
fn fused_gradients_match_finite_differences_of_the_fused_loss() {
    let s = spec("tiny", vec![kconv(4, 3, true), kconv(3, 5, false)], Some(8));
    let net = Network::new(&s, 11, &Device::Cpu).unwrap();
    let (x, y) = (images(3, 12), labels(3, 13));
    let (analytic, _) = fused_gradients(&net, &x, &y);
    let (mut engine, _) = trainer(&net, 3);
    let eps = 1e-3f32;
    let mut checked = 0;
    for t in 0..engine.params.len() {
        let len = engine.params[t].w.len();
        // Up to 40 entries of each tensor, spread over it.
        for i in (0..len).step_by(len.div_ceil(40)) {
            let w0 = engine.params[t].w[i];
            let mut at = |d: f32| {
                engine.params[t].w[i] = w0 + d;
                fused_loss(&mut engine, &x, &y)
            };
            let (up, mid, down) = (at(eps), at(0.0), at(-eps));
            let (half_up, half_down) = (at(eps / 2.0), at(-eps / 2.0));
            engine.params[t].w[i] = w0;
            let (forward, backward) = ((up - mid) / eps as f64, (mid - down) / eps as f64);
            let numeric = (up - down) / (2.0 * eps as f64);
            let half = (half_up - half_down) / eps as f64;
            // A ReLU or max switches inside the step (one-sided slopes differ, or the central
            // difference changes with the step): a kink, not a gradient to check.
            let tol = |v: f64| 5e-4 + 0.01 * v.abs();
            if (forward - backward).abs() > tol(forward) || (numeric - half).abs() > tol(half) {
                continue;
            }
            let a = f64::from(analytic[t][i]);
            assert!(
                (half - a).abs() < 1e-3 + 0.02 * half.abs(),
                "tensor {t}[{i}]: numeric {half} vs analytic {a}"
            );
            checked += usize::from(a.abs() > 1e-4);
        }
    }
    assert!(
        checked > 30,
        "too few non-zero gradients checked: {checked}"
    );
}

#[test]
fn fused_adam_update_is_bit_identical_to_adam() {
    // loss = sum(w * c): the gradient is c exactly; three steps with changing gradients,
    // some too small to count, some large.
    let w0: Vec<f32> = (0..64).map(|i| (i as f32 * 0.37).sin()).collect();
    let var = Var::from_slice(&w0, 64, &Device::Cpu).unwrap();
    let mut adam = Adam::new(vec![var.clone()]).unwrap();
    let (mut w, mut m, mut v) = (w0.clone(), vec![0.0; 64], vec![0.0; 64]);
    for step in 1..=3u64 {
        let c: Vec<f32> = (0..64)
            .map(|i| match i % 4 {
                0 => 1e-20,
                1 => 1e-35,
                _ => ((i as f32 + step as f32) * 0.91).cos() * 10f32.powi(i % 7 - 3),
            })
            .collect();
        let ct = Tensor::from_slice(&c, 64, &Device::Cpu).unwrap();
        let loss = var.as_tensor().mul(&ct).unwrap().sum_all().unwrap();
        let lr = 0.001 * step as f64;
        adam.backward_step(&loss, lr).unwrap();
        update(
            &mut w,
            &mut m,
            &mut v,
            &c,
            &AdamStep::new(step, lr, 0.9, 0.999, 1e-7),
        );
        assert_eq!(w, flat(var.as_tensor()), "weights after step {step}");
    }
    let state = adam.state().unwrap();
    assert_eq!(m, flat(&state["m.0"]));
    assert_eq!(v, flat(&state["v.0"]));
}

#[test]
fn several_fused_steps_follow_the_candle_training_path() {
    for s in [ArchSpec::seed(), odd_specs().remove(0)] {
        let net = Network::new(&s, 21, &Device::Cpu).unwrap();
        let mut adam = Adam::new(net.vars().cloned().collect()).unwrap();
        let mut engine = Engine::trainer(&net, &adam, 40).unwrap();
        let lr = 1e-3;
        for step in 0..4 {
            let (x, y) = (images(40, 100 + step), labels(40, 200 + step));
            let logits = net.forward(&tensor(&x)).unwrap();
            let loss = candle_nn::loss::cross_entropy(&logits, &labels_tensor(&y)).unwrap();
            adam.backward_step(&loss, lr).unwrap();
            let (fused_loss, _) = engine.step(&x, &y, lr).unwrap();
            let mean = loss.to_scalar::<f32>().unwrap() as f64;
            assert!(
                (fused_loss / 40.0 - mean).abs() < 1e-4,
                "{}: loss at step {step}",
                s.name
            );
        }
        // Adam moves each weight by about lr per step whatever the gradient's size, so a
        // gradient that is rounding noise in both paths may move either way: allow that for
        // very few weights, and require the rest to agree closely.
        let mut far = 0;
        let mut total = 0;
        for (var, p) in net.vars().zip(&engine.params) {
            for (a, b) in p.w.iter().zip(flat(var.as_tensor())) {
                let d = (a - b).abs();
                assert!(d <= 8.0 * lr as f32 + 1e-6, "{}: {a} vs {b}", s.name);
                far += usize::from(d > 1e-5 + 1e-3 * b.abs());
                total += 1;
            }
        }
        assert!(
            far * 1000 <= total,
            "{}: {far} of {total} weights differ",
            s.name
        );
        assert_eq!(engine.adam_step(), adam.step);
    }
}

/// Weights after `steps` fused training steps of `s` on a pool of `threads` threads.
fn train_on(threads: usize, s: &ArchSpec, steps: u64, batch: usize) -> Vec<Vec<f32>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let net = Network::new(s, 4, &Device::Cpu).unwrap();
        let (mut engine, _) = trainer(&net, batch);
        for step in 0..steps {
            let (x, y) = (images(batch, step), labels(batch, 50 + step));
            engine.step(&x, &y, 1e-3).unwrap();
        }
        weights(&engine)
    })
}

#[test]
fn training_is_bit_identical_on_one_two_and_three_threads() {
    for s in [ArchSpec::seed(), odd_specs().remove(2)] {
        let one = train_on(1, &s, 3, 3 * CHUNK + 1);
        assert_eq!(one, train_on(2, &s, 3, 3 * CHUNK + 1), "{}", s.name);
        assert_eq!(one, train_on(3, &s, 3, 3 * CHUNK + 1), "{}", s.name);
    }
}

#[test]
fn inference_does_not_depend_on_threads_or_lanes() {
    let net = Network::new(&ArchSpec::seed(), 2, &Device::Cpu).unwrap();
    let bytes: Vec<u8> = images(5 * CHUNK + 3, 8)
        .iter()
        .map(|v| (v * 255.0) as u8)
        .collect();
    let on = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            Engine::inference(&net)
                .unwrap()
                .predict_proba(&bytes)
                .unwrap()
        })
    };
    // 1 thread: 2 lanes of chunks per round; 3 threads: 6 lanes.
    let one = on(1);
    assert_eq!(one, on(3));
    assert_eq!(one.len(), (5 * CHUNK + 3) * CLASSES);
}

#[test]
fn engine_to_network_and_adam_and_back_continues_exactly() {
    let s = odd_specs().remove(0);
    let net = Network::new(&s, 6, &Device::Cpu).unwrap();
    let (mut engine, mut adam) = trainer(&net, 20);
    let batch = |i: u64| (images(20, 300 + i), labels(20, 400 + i));
    for i in 0..3 {
        let (x, y) = batch(i);
        engine.step(&x, &y, 1e-3).unwrap();
    }
    engine.sync_to(&net, &mut adam).unwrap();
    assert_eq!(adam.step, 3);
    // A fresh network loaded from the synced one's tensors, as a checkpoint would.
    let copy = Network::new(&s, 99, &Device::Cpu).unwrap();
    for (dst, src) in copy.vars().zip(net.vars()) {
        dst.set(&src.as_tensor().copy().unwrap()).unwrap();
    }
    let mut copy_adam = Adam::new(copy.vars().cloned().collect()).unwrap();
    copy_adam
        .restore(&adam.state().unwrap(), adam.step)
        .unwrap();
    let mut resumed = Engine::trainer(&copy, &copy_adam, 20).unwrap();
    for i in 3..5 {
        let (x, y) = batch(i);
        let a = engine.step(&x, &y, 1e-3).unwrap();
        let b = resumed.step(&x, &y, 1e-3).unwrap();
        assert_eq!(a, b);
    }
    assert_eq!(weights(&engine), weights(&resumed));
    for (p, q) in engine.params.iter().zip(&resumed.params) {
        assert_eq!((&p.m, &p.v), (&q.m, &q.v));
    }
}

#[test]
fn evaluation_matches_candle_metrics() {
    let net = Network::new(&odd_specs().remove(1), 3, &Device::Cpu).unwrap();
    let n = 2 * CHUNK + 7;
    let bytes: Vec<u8> = images(n, 17).iter().map(|v| (v * 255.0) as u8).collect();
    let split = Split {
        images: bytes.clone(),
        labels: labels(n, 18),
    };
    let (loss, accuracy) = Engine::inference(&net).unwrap().evaluate(&split).unwrap();
    let xs = crate::model::network::images_tensor(&bytes, &Device::Cpu).unwrap();
    let logits = net.forward(&xs).unwrap();
    let want = candle_nn::loss::cross_entropy(&logits, &labels_tensor(&split.labels))
        .unwrap()
        .to_scalar::<f32>()
        .unwrap() as f64;
    assert!((loss - want).abs() < 1e-5, "{loss} vs {want}");
    let predicted = crate::model::ops::argmax_rows(&logits).unwrap();
    let correct = predicted
        .iter()
        .zip(&split.labels)
        .filter(|(p, &l)| **p == u32::from(l))
        .count();
    assert_eq!(accuracy, correct as f64 / n as f64);
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let net = Network::new(&ArchSpec::seed(), 1, &Device::Cpu).unwrap();
    let (mut engine, _) = trainer(&net, 4);
    assert!(engine.step(&images(5, 1), &labels(5, 1), 1e-3).is_err());
    assert!(engine.step(&images(2, 1), &[1, 10], 1e-3).is_err());
    assert!(engine.step(&images(2, 1), &[1], 1e-3).is_err());
    assert!(
        engine.predict_proba(&[0; PIXELS]).is_err(),
        "a trainer does not infer"
    );
    let mut inverter = Engine::inverter(&net).unwrap();
    assert!(inverter.logits(&[0.0; 10]).is_err());
    let mut inference = Engine::inference(&net).unwrap();
    assert!(inference.predict_proba(&[0; PIXELS + 1]).is_err());
    assert_eq!(inference.mode, Mode::Infer);
    // A trainer needs the network's own Adam: this one has no moments.
    let empty = Adam::new(Vec::new()).unwrap();
    assert!(Engine::trainer(&net, &empty, 4).is_err());
}

#[test]
fn seed_network_shapes_are_as_the_study_builds_them() {
    let net = Network::new(&ArchSpec::seed(), 1, &Device::Cpu).unwrap();
    let engine = Engine::inference(&net).unwrap();
    let lens: Vec<usize> = engine.params.iter().map(|p| p.w.len()).collect();
    assert_eq!(lens, [288, 32, 18_432, 64, 204_800, 128, 1280, 10]);
    assert_eq!(lens.iter().sum::<usize>(), 225_034);
}

/// Grad-CAM needs the backward pass only down to the last convolution: what it reads there
/// equals what a whole backward pass leaves, for blocks with and without pooling.
#[test]
fn the_last_convolution_s_gradient_needs_only_the_dense_backward() {
    let mut all = odd_specs();
    all.push(ArchSpec::seed());
    for s in all.iter().filter(|s| !s.convs.is_empty()) {
        let net = Network::new(s, 3, &Device::Cpu).unwrap();
        let mut engine = Engine::explainer(&net).unwrap();
        let (oh, ow, f) = engine.last_conv_shape().unwrap();
        let len = oh * ow * f;
        let x = images(5, 11);
        let (plan, params) = (&engine.plan, &engine.params);
        let ws = &mut engine.chunks[0];
        let mut read = |whole: bool| {
            ws.forward(plan, params, &x);
            for (i, g) in ws.logit_grad_mut().iter_mut().enumerate() {
                *g = ((i * 7) % 10) as f32 / 10.0 - 0.3;
            }
            if whole {
                ws.backward(plan, params, &x);
            } else {
                ws.backward_dense(plan, params);
            }
            let (mut a, mut da) = (vec![0.0; 5 * len], vec![0.0; 5 * len]);
            for i in 0..5 {
                let r = i * len..(i + 1) * len;
                ws.last_conv(plan, params, &x, i, &mut a[r.clone()], &mut da[r]);
            }
            (a, da)
        };
        let (a_whole, da_whole) = read(true);
        let (a_dense, da_dense) = read(false);
        assert_eq!(a_whole, a_dense, "{}", s.name);
        assert_eq!(da_whole, da_dense, "{}", s.name);
        assert!(da_dense.iter().any(|v| *v != 0.0), "{}", s.name);
    }
}
