//! The models maps are made of: scores (logits or probabilities) and, where a model has them,
//! the target score's gradient with respect to the pixels, many images at once.

use std::sync::Arc;

use super::{softmax, ExplainError, Of};
use crate::baselines::logreg::LogReg;
use crate::classifier::Classifier;
use crate::data::{CLASSES, PIXELS, SIDE};
use crate::model::fused::Engine;
use crate::model::Network;

/// A model to explain, with what its maps need.
pub struct Explainer {
    kind: Kind,
}

enum Kind {
    /// The CNN through the fused engine (a copy of its weights).
    Cnn(Box<Engine>),
    /// Logistic regression: `weights` `PIXELS x 10`, its gradients analytically.
    LogReg { weights: Vec<f32>, bias: Vec<f32> },
    /// Any other model: probabilities only (of u8 images), so occlusion only.
    Scores(Arc<dyn Classifier>),
}

/// The seed of a backward pass that differentiates `of` of class `target` from the logits.
fn seed(of: Of, target: usize, logits: &[f32]) -> [f32; CLASSES] {
    let mut s = [0.0; CLASSES];
    match of {
        Of::Logit => s[target] = 1.0,
        Of::Prob => {
            // d p_t / d z_j = p_t (1[j = t] - p_j).
            let p = softmax(logits);
            for (j, v) in s.iter_mut().enumerate() {
                *v = p[target] * (f32::from(u8::from(j == target)) - p[j]);
            }
        }
    }
    s
}

impl Explainer {
    /// The CNN `net` (a CPU copy of its weights in the fused engine).
    pub fn cnn(net: &Network) -> Result<Self, ExplainError> {
        Ok(Self {
            kind: Kind::Cnn(Box::new(Engine::explainer(net)?)),
        })
    }

    /// Logistic regression.
    pub fn logreg(model: &LogReg) -> Self {
        Self {
            kind: Kind::LogReg {
                weights: model.weights.clone(),
                bias: model.bias.clone(),
            },
        }
    }

    /// Any model, through its probabilities only: occlusion is its one method.
    pub fn scores_only(model: Arc<dyn Classifier>) -> Self {
        Self {
            kind: Kind::Scores(model),
        }
    }

    /// The model's short name.
    pub fn name(&self) -> String {
        match &self.kind {
            Kind::Cnn(_) => "cnn".into(),
            Kind::LogReg { .. } => "logreg".into(),
            Kind::Scores(m) => m.name().into(),
        }
    }

    /// Whether the model has gradients.
    pub fn differentiable(&self) -> bool {
        !matches!(self.kind, Kind::Scores(_))
    }

    /// Whether Grad-CAM applies (a CNN with a convolution).
    pub fn has_conv(&self) -> bool {
        matches!(&self.kind, Kind::Cnn(e) if e.last_conv_shape().is_some())
    }

    /// Class probabilities of `xs` (`n * PIXELS` values in [0,1]), `n` rows of 10.
    pub fn probs(&mut self, xs: &[f32]) -> Result<Vec<f32>, ExplainError> {
        match &self.kind {
            Kind::Scores(_) => self.scores(xs, Of::Prob),
            _ => Ok(self
                .scores(xs, Of::Logit)?
                .chunks_exact(CLASSES)
                .flat_map(softmax)
                .collect()),
        }
    }

    /// Scores of `xs`: logits or probabilities, `n` rows of 10.
    pub fn scores(&mut self, xs: &[f32], of: Of) -> Result<Vec<f32>, ExplainError> {
        let logits = match &mut self.kind {
            Kind::Cnn(engine) => engine.logits_many(xs)?,
            Kind::LogReg { weights, bias } => logreg_logits(weights, bias, xs),
            Kind::Scores(model) => {
                if of == Of::Logit {
                    return Err(ExplainError::ProbOnly(model.name().into()));
                }
                let bytes: Vec<u8> = xs.iter().map(|&p| crate::snapshot::to_byte(p)).collect();
                return model
                    .predict_proba(&bytes)
                    .map_err(|e| ExplainError::Model(format!("{e:#}")));
            }
        };
        Ok(match of {
            Of::Logit => logits,
            Of::Prob => logits.chunks_exact(CLASSES).flat_map(softmax).collect(),
        })
    }

    /// Per image `i` of `xs`: the gradient of `of` of class `targets[i]` with respect to its
    /// pixels (`n` rows of [`PIXELS`]), and the logits (`n` rows of 10).
    pub fn gradients(
        &mut self,
        xs: &[f32],
        targets: &[usize],
        of: Of,
    ) -> Result<(Vec<f32>, Vec<f32>), ExplainError> {
        match &mut self.kind {
            Kind::Cnn(engine) => {
                let (logits, grads) =
                    engine.input_gradients(xs, &|i, z| seed(of, targets[i], z))?;
                Ok((logits, grads))
            }
            Kind::LogReg { weights, bias } => {
                let logits = logreg_logits(weights, bias, xs);
                let mut grads = vec![0.0; xs.len()];
                for ((z, g), &t) in logits
                    .chunks_exact(CLASSES)
                    .zip(grads.chunks_exact_mut(PIXELS))
                    .zip(targets)
                {
                    let s = seed(of, t, z);
                    for (p, g) in g.iter_mut().enumerate() {
                        let row = &weights[p * CLASSES..(p + 1) * CLASSES];
                        *g = row.iter().zip(&s).map(|(w, s)| w * s).sum();
                    }
                }
                Ok((logits, grads))
            }
            Kind::Scores(model) => Err(ExplainError::NotDifferentiable {
                method: super::Method::Grad,
                model: model.name().into(),
            }),
        }
    }

    /// Grad-CAM of `of` of class `targets[i]` for each image of `xs`: the last convolution's
    /// pre-ReLU channels weighted by their mean gradient and summed (no ReLU, as Captum's
    /// `LayerGradCam` by default), upsampled to 28x28 by nearest neighbour.
    pub fn gradcam(
        &mut self,
        xs: &[f32],
        targets: &[usize],
        of: Of,
    ) -> Result<Vec<f32>, ExplainError> {
        let Kind::Cnn(engine) = &mut self.kind else {
            return Err(ExplainError::NoConvolution);
        };
        let (oh, ow, f) = engine
            .last_conv_shape()
            .ok_or(ExplainError::NoConvolution)?;
        let (acts, grads) = engine.last_conv_gradients(xs, &|i, z| seed(of, targets[i], z))?;
        let len = oh * ow * f;
        let mut out = Vec::with_capacity(xs.len());
        for (a, g) in acts.chunks_exact(len).zip(grads.chunks_exact(len)) {
            let mut w = vec![0.0f32; f];
            for pos in g.chunks_exact(f) {
                w.iter_mut().zip(pos).for_each(|(w, g)| *w += g);
            }
            let positions = (oh * ow) as f32;
            w.iter_mut().for_each(|w| *w /= positions);
            let cam: Vec<f32> = a
                .chunks_exact(f)
                .map(|pos| pos.iter().zip(&w).map(|(a, w)| a * w).sum())
                .collect();
            for y in 0..SIDE {
                for x in 0..SIDE {
                    out.push(cam[nearest(y, oh) * ow + nearest(x, ow)]);
                }
            }
        }
        Ok(out)
    }
}

/// The source row of output row `dst` when `side` rows are stretched to 28 by nearest
/// neighbour, computed in f32 as PyTorch's `interpolate` does.
fn nearest(dst: usize, side: usize) -> usize {
    let scale = side as f32 / SIDE as f32;
    ((dst as f32 * scale).floor() as usize).min(side - 1)
}

/// `x W + b` for each image of `xs`.
fn logreg_logits(weights: &[f32], bias: &[f32], xs: &[f32]) -> Vec<f32> {
    let mut out = Vec::with_capacity(xs.len() / PIXELS * CLASSES);
    for x in xs.chunks_exact(PIXELS) {
        let mut z: [f32; CLASSES] = std::array::from_fn(|c| bias[c]);
        for (p, &v) in x.iter().enumerate() {
            if v != 0.0 {
                let row = &weights[p * CLASSES..(p + 1) * CLASSES];
                z.iter_mut().zip(row).for_each(|(z, w)| *z += v * w);
            }
        }
        out.extend(z);
    }
    out
}
