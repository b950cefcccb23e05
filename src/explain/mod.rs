//! Attribution maps: which pixels a model's score for a class rests on.
//!
//! For a target class (the prediction, the true label or any class), of the logit or the
//! probability: saliency `|d s / d x|`, the signed gradient, input x gradient, integrated
//! gradients from a black image (trapezoid rule, with its convergence delta), SmoothGrad,
//! occlusion (scores only, so every model) and Grad-CAM on the last convolution, each with
//! the settings and definitions of Captum 0.9 (`../shared/peers/captum_explain.py`). The
//! CNN's gradients come from the fused engine, all of a method's images as one batch;
//! logistic regression's are its weights. [`faithfulness`] and [`sanity`] say how far to
//! trust a map.

pub mod faithfulness;
pub mod layers;
pub mod lookalike;
mod methods;
mod model;
pub mod sanity;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use methods::{explain, explain_targets};
pub use model::Explainer;

/// An attribution method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// `|d s_t / d x|` (Captum `Saliency`, abs).
    Saliency,
    /// `d s_t / d x`, signed.
    Grad,
    /// `x * d s_t / d x`.
    Ixg,
    /// Integrated gradients from a black image.
    Ig,
    /// The mean gradient over noisy copies.
    Smoothgrad,
    /// `s_t(x) - s_t(x with a window at 0)`, averaged over the windows covering a pixel.
    Occlusion,
    /// Grad-CAM on the last convolution, upsampled by nearest neighbour.
    Gradcam,
}

impl Method {
    /// Every method, in the order tables list them.
    pub const ALL: [Method; 7] = [
        Self::Saliency,
        Self::Grad,
        Self::Ixg,
        Self::Ig,
        Self::Smoothgrad,
        Self::Occlusion,
        Self::Gradcam,
    ];

    /// Name as on the command line and in files (Captum script's names).
    pub fn name(self) -> &'static str {
        match self {
            Self::Saliency => "saliency",
            Self::Grad => "grad",
            Self::Ixg => "ixg",
            Self::Ig => "ig",
            Self::Smoothgrad => "smoothgrad",
            Self::Occlusion => "occlusion",
            Self::Gradcam => "gradcam",
        }
    }

    /// Whether the method needs gradients (all but occlusion).
    pub fn needs_gradients(self) -> bool {
        self != Self::Occlusion
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = ExplainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| ExplainError::UnknownMethod(s.to_string()))
    }
}

/// What is attributed: the target's logit or its probability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Of {
    #[default]
    Logit,
    Prob,
}

/// Which class a map explains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The model's prediction.
    #[default]
    Pred,
    /// The image's label.
    True,
    /// A given class.
    Class(usize),
}

impl FromStr for Target {
    type Err = ExplainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pred" => Ok(Self::Pred),
            "true" => Ok(Self::True),
            c => match c.parse::<usize>() {
                Ok(c) if c < crate::data::CLASSES => Ok(Self::Class(c)),
                _ => Err(ExplainError::Target(s.to_string())),
            },
        }
    }
}

/// The methods' settings (Captum's names and defaults as the peer script uses them).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub of: Of,
    /// Integrated gradients' steps (at least 2).
    pub ig_steps: usize,
    /// Occlusion's square window side and stride, in pixels.
    pub window: usize,
    pub stride: usize,
    /// SmoothGrad's noisy copies and noise standard deviation (in [0,1] pixel units).
    pub nt_samples: usize,
    pub nt_sigma: f32,
    /// Seed of SmoothGrad's noise.
    pub seed: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            of: Of::Logit,
            ig_steps: 50,
            window: 4,
            stride: 2,
            nt_samples: 25,
            nt_sigma: 0.15,
            seed: 0,
        }
    }
}

impl Settings {
    /// Fails with the setting that is out of range.
    pub fn check(&self) -> Result<(), ExplainError> {
        let side = crate::data::SIDE;
        let bad = |what: &str, v: String| Err(ExplainError::Setting(format!("{what}: {v}")));
        if self.ig_steps < 2 {
            return bad("ig_steps must be at least 2", self.ig_steps.to_string());
        }
        if !(1..=side).contains(&self.window) || !(1..=side).contains(&self.stride) {
            return bad(
                "window and stride must be 1 to 28",
                format!("{} and {}", self.window, self.stride),
            );
        }
        if self.nt_samples == 0 || !(self.nt_sigma.is_finite() && self.nt_sigma >= 0.0) {
            return bad(
                "nt_samples must be at least 1 and nt_sigma a number >= 0",
                format!("{} and {}", self.nt_samples, self.nt_sigma),
            );
        }
        Ok(())
    }
}

/// One image's maps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageMaps {
    /// Class probabilities.
    pub probs: Vec<f32>,
    pub target: usize,
    /// Maps (784 values, row-major 28x28) in the order asked.
    pub maps: Vec<(Method, Vec<f32>)>,
    /// Integrated gradients' convergence delta: the map's sum minus `s_t(x) - s_t(0)`.
    pub ig_delta: Option<f32>,
}

impl ImageMaps {
    /// The map of `method`, if computed.
    pub fn map(&self, method: Method) -> Option<&[f32]> {
        self.maps
            .iter()
            .find(|(m, _)| *m == method)
            .map(|(_, v)| v.as_slice())
    }
}

/// The maps of a batch of images, with each method's time for all of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    pub images: Vec<ImageMaps>,
    /// Seconds each method took for all the images, in the order asked.
    pub seconds: Vec<(Method, f64)>,
}

/// Why maps could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error(
        "unknown method '{0}' (known: saliency, grad, ixg, ig, smoothgrad, occlusion, gradcam)"
    )]
    UnknownMethod(String),
    #[error("target must be pred, true or a class 0-9, found '{0}'")]
    Target(String),
    #[error("{method} needs gradients, which the {model} model has not (occlusion works for every model)")]
    NotDifferentiable { method: Method, model: String },
    #[error("the {0} model gives probabilities only: use --of prob")]
    ProbOnly(String),
    #[error("gradcam needs a convolution, and this network has none")]
    NoConvolution,
    #[error("--target true needs labelled images (test:IDX or class:C)")]
    NoLabel,
    #[error("{0}")]
    Setting(String),
    #[error("the model failed: {0}")]
    Model(String),
}

impl From<crate::model::fused::FusedError> for ExplainError {
    fn from(e: crate::model::fused::FusedError) -> Self {
        Self::Model(e.to_string())
    }
}

/// Softmax of one row of scores, in f64 then rounded.
pub fn softmax(z: &[f32]) -> Vec<f32> {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f64> = z.iter().map(|v| f64::from(v - max).exp()).collect();
    let total: f64 = e.iter().sum();
    e.iter().map(|v| (v / total) as f32).collect()
}

/// The largest absolute value of a map (0 for an empty one).
pub fn max_abs(map: &[f32]) -> f32 {
    map.iter().fold(0.0, |m, v| m.max(v.abs()))
}
