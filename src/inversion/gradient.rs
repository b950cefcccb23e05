//! Gradient inversion over a differentiable classifier: one forward and backward pass per frame.

use std::sync::Arc;

use candle_core::{Tensor, Var};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::options::{GradientOptions, StepKind};
use super::{distances, regularise, Frame};
use crate::data::{CLASSES, PIXELS, SIDE};
use crate::model::Network;

/// Why an inversion stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// `p_target` reached the threshold.
    Reached,
    /// The gradient norm fell below epsilon.
    Vanished,
    /// `max_steps` updates were made.
    MaxSteps,
}

impl StopReason {
    /// Short description for output.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Reached => "reached the threshold",
            Self::Vanished => "gradient vanished (below epsilon)",
            Self::MaxSteps => "not reached within max steps",
        }
    }
}

/// Why an inverter could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvertError {
    #[error("target class must be 0-9, found {0}")]
    Target(usize),
    #[error("a start image has {PIXELS} pixels, found {0}")]
    Pixels(usize),
    #[error("learning rate must be a positive number, found {0}")]
    LearningRate(f32),
}

/// Gradient ascent on the target class, from a start image, step by step.
///
/// [`step`](Self::step) computes the frame of the current image and, unless a stop rule holds,
/// moves the image: `x -= lr * (step(g) + regularisers)`, then blur (every k steps) and clip to
/// [0,1]. Once stopped, `step` keeps returning the final frame; the iterator ends after it.
pub struct GradientInverter {
    net: Arc<Network>,
    start: Vec<f32>,
    x: Vec<f32>,
    options: GradientOptions,
    rng: rand::rngs::StdRng,
    steps: usize,
    stopped: Option<StopReason>,
}

impl GradientInverter {
    /// An inverter starting at `start` (784 pixels in [0,1]; clipped).
    pub fn new(
        net: Arc<Network>,
        start: Vec<f32>,
        options: GradientOptions,
    ) -> Result<Self, InvertError> {
        check(&options)?;
        if start.len() != PIXELS {
            return Err(InvertError::Pixels(start.len()));
        }
        let start: Vec<f32> = start.iter().map(|p| p.clamp(0.0, 1.0)).collect();
        Ok(Self {
            net,
            x: start.clone(),
            start,
            rng: rand::rngs::StdRng::seed_from_u64(options.seed),
            options,
            steps: 0,
            stopped: None,
        })
    }

    /// The settings in use.
    pub fn options(&self) -> &GradientOptions {
        &self.options
    }

    /// Changes the settings mid-run (target, loss, lr...); a stopped inversion may go on.
    pub fn set_options(&mut self, options: GradientOptions) -> Result<(), InvertError> {
        check(&options)?;
        self.options = options;
        self.stopped = None;
        Ok(())
    }

    /// Why the inversion stopped, once it has.
    pub fn stop_reason(&self) -> Option<StopReason> {
        self.stopped
    }

    /// The current image.
    pub fn pixels(&self) -> &[f32] {
        &self.x
    }

    /// The frame of the current image; then one update unless a stop rule holds.
    pub fn step(&mut self) -> candle_core::Result<Frame> {
        let o = self.options.clone();
        // Jitter: the gradient is taken at a shifted copy and shifted back.
        let (dx, dy) = if o.reg.jitter > 0 {
            let j = o.reg.jitter as i64;
            let mut draw = || self.rng.random_range(-j..=j) as isize;
            (draw(), draw())
        } else {
            (0, 0)
        };
        let (probs, grad) = if (dx, dy) == (0, 0) {
            probs_and_grad(&self.net, &self.x, &o)?
        } else {
            // The frame reports the current image; only the gradient is taken at the shift.
            let shifted = regularise::shift(&self.x, dx, dy);
            let (_, grad) = probs_and_grad(&self.net, &shifted, &o)?;
            (
                probabilities(&self.net, &self.x)?,
                regularise::shift(&grad, -dx, -dy),
            )
        };
        let grad_norm = norm(&grad);
        let (l2, linf) = distances(&self.x, &self.start);
        let frame = Frame {
            step: self.steps,
            pixels: self.x.clone(),
            p_target: probs[o.target],
            probs,
            grad_norm,
            l2,
            linf,
        };
        self.stopped = if frame.p_target >= o.threshold {
            Some(StopReason::Reached)
        } else if grad_norm < o.epsilon {
            Some(StopReason::Vanished)
        } else if self.steps >= o.max_steps {
            Some(StopReason::MaxSteps)
        } else {
            None
        };
        if self.stopped.is_none() {
            self.update(&grad, grad_norm);
        }
        Ok(frame)
    }

    fn update(&mut self, grad: &[f32], grad_norm: f32) {
        let o = &self.options;
        let scale = match o.step {
            StepKind::Raw => 1.0,
            StepKind::Normalized => 1.0 / (grad_norm + 1e-10),
        };
        let tv = (o.reg.tv > 0.0).then(|| regularise::tv_grad(&self.x));
        for (i, p) in self.x.iter_mut().enumerate() {
            let mut d = grad[i] * scale + o.reg.l2 * *p;
            if let Some(tv) = &tv {
                d += o.reg.tv * tv[i];
            }
            *p -= o.lr * d;
        }
        self.steps += 1;
        if o.reg.blur > 0.0 && self.steps.is_multiple_of(o.reg.blur_every.max(1)) {
            self.x = regularise::blur(&self.x, o.reg.blur);
        }
        for p in &mut self.x {
            *p = p.clamp(0.0, 1.0);
        }
    }
}

impl super::Inverter for GradientInverter {
    fn step(&mut self) -> anyhow::Result<Frame> {
        Ok(GradientInverter::step(self)?)
    }

    fn stop_reason(&self) -> Option<StopReason> {
        self.stopped
    }
}

impl Iterator for GradientInverter {
    type Item = candle_core::Result<Frame>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.stopped.is_some() {
            return None;
        }
        Some(self.step())
    }
}

fn check(o: &GradientOptions) -> Result<(), InvertError> {
    if o.target >= CLASSES {
        return Err(InvertError::Target(o.target));
    }
    if !(o.lr.is_finite() && o.lr > 0.0) {
        return Err(InvertError::LearningRate(o.lr));
    }
    Ok(())
}

fn norm(v: &[f32]) -> f32 {
    v.iter()
        .map(|g| f64::from(*g) * f64::from(*g))
        .sum::<f64>()
        .sqrt() as f32
}

/// The probabilities at `x` and the objective's gradient with respect to `x`.
fn probs_and_grad(
    net: &Network,
    x: &[f32],
    o: &GradientOptions,
) -> candle_core::Result<([f32; CLASSES], Vec<f32>)> {
    let device = net.device();
    let var = Var::from_slice(x, (1, SIDE, SIDE, 1), device)?;
    let logits = net.forward_frozen(var.as_tensor())?;
    let z: Vec<f32> = logits.flatten_all()?.to_vec1()?;
    let p = softmax(&z);
    // The loss's gradient with respect to the logits, computed here in f64 and seeded into
    // the backward pass as a constant: d/dx sum(c * z(x)) = dL/dx.
    let dz: Vec<f32> = o
        .objective
        .dlogits(&p, o.target)
        .iter()
        .map(|d| *d as f32)
        .collect();
    let seed = Tensor::from_vec(dz, (1, CLASSES), device)?;
    let grads = logits.mul(&seed)?.sum_all()?.backward()?;
    let grad = grads
        .get(var.as_tensor())
        .ok_or_else(|| candle_core::Error::Msg("no gradient reached the input".into()))?
        .flatten_all()?
        .to_vec1()?;
    let mut probs = [0f32; CLASSES];
    for (dst, src) in probs.iter_mut().zip(&p) {
        *dst = *src as f32;
    }
    Ok((probs, grad))
}

/// The class probabilities of one 28x28 image (784 values in [0,1]): a forward pass without
/// gradients.
pub fn probabilities(net: &Network, x: &[f32]) -> candle_core::Result<[f32; CLASSES]> {
    let input = Tensor::from_slice(x, (1, SIDE, SIDE, 1), net.device())?;
    let z: Vec<f32> = net.forward_frozen(&input)?.flatten_all()?.to_vec1()?;
    let mut probs = [0f32; CLASSES];
    for (dst, src) in probs.iter_mut().zip(softmax(&z)) {
        *dst = src as f32;
    }
    Ok(probs)
}

fn softmax(z: &[f32]) -> Vec<f64> {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f64> = z.iter().map(|v| f64::from(v - max).exp()).collect();
    let total: f64 = e.iter().sum();
    e.iter().map(|v| v / total).collect()
}
