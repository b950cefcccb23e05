//! Each method over a batch of images: one model call per method (every step, noisy copy or
//! occluded copy of every image in one batch).

use std::time::Instant;

use rand::SeedableRng;
use rand_distr::{Distribution, Normal};

use super::{ExplainError, Explainer, Explanation, ImageMaps, Method, Of, Settings, Target};
use crate::data::{CLASSES, PIXELS, SIDE};

/// The maps of `methods` for the images `xs` (`n * PIXELS` values in [0,1]; `labels` their
/// classes where known), of the class `target` picks for each.
pub fn explain(
    model: &mut Explainer,
    xs: &[f32],
    labels: &[Option<usize>],
    target: Target,
    methods: &[Method],
    s: &Settings,
) -> Result<Explanation, ExplainError> {
    let n = xs.len() / PIXELS;
    let probs = model.probs(xs)?;
    let targets = pick_targets(&probs, labels, target, n)?;
    maps(model, xs, &targets, methods, s, Some(probs))
}

/// [`explain`] with each image's target class given.
pub fn explain_targets(
    model: &mut Explainer,
    xs: &[f32],
    targets: &[usize],
    methods: &[Method],
    s: &Settings,
) -> Result<Explanation, ExplainError> {
    maps(model, xs, targets, methods, s, None)
}

/// [`explain_targets`] with the probabilities when they are known already; else they come
/// from the first gradient pass's logits, or a forward pass of their own.
fn maps(
    model: &mut Explainer,
    xs: &[f32],
    targets: &[usize],
    methods: &[Method],
    s: &Settings,
    mut probs: Option<Vec<f32>>,
) -> Result<Explanation, ExplainError> {
    s.check()?;
    let n = xs.len() / PIXELS;
    if targets.len() != n {
        return Err(ExplainError::Setting(format!(
            "{} targets for {n} images",
            targets.len()
        )));
    }
    if let Some(&t) = targets.iter().find(|&&t| t >= CLASSES) {
        return Err(ExplainError::Target(t.to_string()));
    }
    if !model.differentiable() {
        if let Some(&method) = methods.iter().find(|m| m.needs_gradients()) {
            return Err(ExplainError::NotDifferentiable {
                method,
                model: model.name(),
            });
        }
    }
    if methods.contains(&Method::Gradcam) && !model.has_conv() {
        return Err(ExplainError::NoConvolution);
    }
    let mut images: Vec<ImageMaps> = (0..n)
        .map(|i| ImageMaps {
            probs: Vec::new(),
            target: targets[i],
            maps: Vec::new(),
            ig_delta: None,
        })
        .collect();
    let mut seconds = Vec::new();
    for &method in methods {
        let start = Instant::now();
        let maps = match method {
            Method::Saliency | Method::Grad | Method::Ixg => {
                let (logits, mut g) = model.gradients(xs, targets, s.of)?;
                if probs.is_none() {
                    probs = Some(
                        logits
                            .chunks_exact(CLASSES)
                            .flat_map(super::softmax)
                            .collect(),
                    );
                }
                match method {
                    Method::Saliency => g.iter_mut().for_each(|v| *v = v.abs()),
                    Method::Ixg => g.iter_mut().zip(xs).for_each(|(g, x)| *g *= x),
                    _ => {}
                }
                g
            }
            Method::Ig => {
                let (maps, deltas) = integrated_gradients(model, xs, targets, s)?;
                for (im, d) in images.iter_mut().zip(deltas) {
                    im.ig_delta = Some(d);
                }
                maps
            }
            Method::Smoothgrad => smoothgrad(model, xs, targets, s)?,
            Method::Occlusion => occlusion(model, xs, targets, s)?,
            Method::Gradcam => model.gradcam(xs, targets, s.of)?,
        };
        seconds.push((method, start.elapsed().as_secs_f64()));
        for (im, map) in images.iter_mut().zip(maps.chunks_exact(PIXELS)) {
            im.maps.push((method, map.to_vec()));
        }
    }
    let probs = match probs {
        Some(p) => p,
        None => model.probs(xs)?,
    };
    for (im, p) in images.iter_mut().zip(probs.chunks_exact(CLASSES)) {
        im.probs = p.to_vec();
    }
    Ok(Explanation { images, seconds })
}

/// The class each image's maps explain.
fn pick_targets(
    probs: &[f32],
    labels: &[Option<usize>],
    target: Target,
    n: usize,
) -> Result<Vec<usize>, ExplainError> {
    match target {
        Target::Pred => Ok(crate::classifier::predictions(probs)
            .into_iter()
            .map(usize::from)
            .collect()),
        Target::True => (0..n)
            .map(|i| {
                labels
                    .get(i)
                    .copied()
                    .flatten()
                    .ok_or(ExplainError::NoLabel)
            })
            .collect(),
        Target::Class(c) => Ok(vec![c; n]),
    }
}

/// Integrated gradients from a black image with Captum's `riemann_trapezoid`: alphas
/// `k / (steps - 1)`, weights `1 / steps` with the two ends halved; the convergence delta is
/// the map's sum minus `s_t(x) - s_t(0)` (the first and last alphas' scores).
fn integrated_gradients(
    model: &mut Explainer,
    xs: &[f32],
    targets: &[usize],
    s: &Settings,
) -> Result<(Vec<f32>, Vec<f32>), ExplainError> {
    let steps = s.ig_steps;
    let alphas: Vec<f32> = (0..steps).map(|k| k as f32 / (steps - 1) as f32).collect();
    let mut weights = vec![1.0 / steps as f32; steps];
    weights[0] /= 2.0;
    weights[steps - 1] /= 2.0;
    let n = targets.len();
    let mut scaled = Vec::with_capacity(n * steps * PIXELS);
    for x in xs.chunks_exact(PIXELS) {
        for &a in &alphas {
            scaled.extend(x.iter().map(|v| a * v));
        }
    }
    let each: Vec<usize> = targets
        .iter()
        .flat_map(|&t| std::iter::repeat_n(t, steps))
        .collect();
    let (logits, grads) = model.gradients(&scaled, &each, s.of)?;
    let mut maps = vec![0.0; n * PIXELS];
    let mut deltas = Vec::with_capacity(n);
    for (i, map) in maps.chunks_exact_mut(PIXELS).enumerate() {
        for (k, w) in weights.iter().enumerate() {
            let g = &grads[(i * steps + k) * PIXELS..(i * steps + k + 1) * PIXELS];
            map.iter_mut().zip(g).for_each(|(m, g)| *m += w * g);
        }
        let x = &xs[i * PIXELS..(i + 1) * PIXELS];
        map.iter_mut().zip(x).for_each(|(m, x)| *m *= x);
        let score = |k: usize| {
            let z = &logits[(i * steps + k) * CLASSES..(i * steps + k + 1) * CLASSES];
            match s.of {
                Of::Logit => z[targets[i]],
                Of::Prob => super::softmax(z)[targets[i]],
            }
        };
        let total: f32 = map.iter().sum();
        deltas.push(total - (score(steps - 1) - score(0)));
    }
    Ok((maps, deltas))
}

/// SmoothGrad: the mean signed gradient over `nt_samples` copies with Gaussian noise of
/// standard deviation `nt_sigma` (seeded).
fn smoothgrad(
    model: &mut Explainer,
    xs: &[f32],
    targets: &[usize],
    s: &Settings,
) -> Result<Vec<f32>, ExplainError> {
    let k = s.nt_samples;
    let mut rng = rand::rngs::StdRng::seed_from_u64(s.seed);
    let normal = Normal::new(0.0f32, s.nt_sigma)
        .map_err(|e| ExplainError::Setting(format!("nt_sigma: {e}")))?;
    let mut noisy = Vec::with_capacity(xs.len() * k);
    for x in xs.chunks_exact(PIXELS) {
        for _ in 0..k {
            noisy.extend(x.iter().map(|v| v + normal.sample(&mut rng)));
        }
    }
    let each: Vec<usize> = targets
        .iter()
        .flat_map(|&t| std::iter::repeat_n(t, k))
        .collect();
    let (_, grads) = model.gradients(&noisy, &each, s.of)?;
    Ok(grads
        .chunks_exact(k * PIXELS)
        .flat_map(|g| {
            (0..PIXELS).map(move |p| (0..k).map(|j| g[j * PIXELS + p]).sum::<f32>() / k as f32)
        })
        .collect())
}

/// Top-left corners (one side) of the occlusion windows, as Captum places them:
/// `ceil((28 - window) / stride) + 1` of them, the last clipped at the edge.
fn window_starts(window: usize, stride: usize) -> Vec<usize> {
    let count = (SIDE - window).div_ceil(stride) + 1;
    (0..count).map(|k| k * stride).collect()
}

/// Occlusion with baseline 0: the target score's drop when a window is blacked out, averaged
/// over the windows covering each pixel (0 for a pixel no window covers).
fn occlusion(
    model: &mut Explainer,
    xs: &[f32],
    targets: &[usize],
    s: &Settings,
) -> Result<Vec<f32>, ExplainError> {
    let starts = window_starts(s.window, s.stride);
    let windows: Vec<(usize, usize)> = starts
        .iter()
        .flat_map(|&r| starts.iter().map(move |&c| (r, c)))
        .collect();
    let per = windows.len() + 1;
    let mut batch = Vec::with_capacity(xs.len() * per);
    for x in xs.chunks_exact(PIXELS) {
        batch.extend_from_slice(x);
        for &(r, c) in &windows {
            let start = batch.len();
            batch.extend_from_slice(x);
            for y in r..(r + s.window).min(SIDE) {
                for xx in c..(c + s.window).min(SIDE) {
                    batch[start + y * SIDE + xx] = 0.0;
                }
            }
        }
    }
    let of = if model.differentiable() {
        s.of
    } else {
        Of::Prob
    };
    let scores = model.scores(&batch, of)?;
    let mut maps = vec![0.0; xs.len()];
    for (i, map) in maps.chunks_exact_mut(PIXELS).enumerate() {
        let t = targets[i];
        let at = |j: usize| scores[(i * per + j) * CLASSES + t];
        let mut counts = vec![0u32; PIXELS];
        for (w, &(r, c)) in windows.iter().enumerate() {
            let drop = at(0) - at(w + 1);
            for y in r..(r + s.window).min(SIDE) {
                for xx in c..(c + s.window).min(SIDE) {
                    map[y * SIDE + xx] += drop;
                    counts[y * SIDE + xx] += 1;
                }
            }
        }
        for (m, &c) in map.iter_mut().zip(&counts) {
            if c > 0 {
                *m /= c as f32;
            }
        }
    }
    Ok(maps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_image_as_captum_places_them() {
        assert_eq!(window_starts(4, 2).len(), 13);
        assert_eq!(window_starts(4, 2).last(), Some(&24));
        // An uneven fit: the last window is clipped at the edge.
        assert_eq!(
            window_starts(5, 2),
            (0..13).map(|k| 2 * k).collect::<Vec<_>>()
        );
        assert_eq!(window_starts(28, 1), vec![0]);
    }
}
