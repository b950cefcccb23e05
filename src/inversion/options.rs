//! What a gradient inversion optimises and how it steps.

use serde::{Deserialize, Serialize};

/// The loss a gradient inversion minimises for target class `t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    /// `-p_t(x)`: its gradient vanishes (about `p_t`) on an image confidently of another class.
    Naive,
    /// `-log(p_t(x) + 1e-10)`.
    Log,
    /// `-z_t(x)`, the target's logit.
    Logit,
}

impl Objective {
    /// Short name, as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Naive => "naive",
            Self::Log => "log",
            Self::Logit => "logit",
        }
    }

    /// Gradient of the loss with respect to the logits, given the probabilities.
    pub fn dlogits(self, probs: &[f64], target: usize) -> Vec<f64> {
        let p_t = probs[target];
        // d p_t / d z_j = p_t (delta_tj - p_j).
        let dp = |j: usize| p_t * (f64::from(u8::from(j == target)) - probs[j]);
        match self {
            Self::Naive => (0..probs.len()).map(|j| -dp(j)).collect(),
            Self::Log => (0..probs.len()).map(|j| -dp(j) / (p_t + 1e-10)).collect(),
            Self::Logit => (0..probs.len())
                .map(|j| -f64::from(u8::from(j == target)))
                .collect(),
        }
    }
}

/// How the gradient turns into a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum StepKind {
    /// `x -= lr * g`.
    Raw,
    /// `x -= lr * g / (||g|| + 1e-10)`: a step of length `lr` whatever the gradient's size.
    #[value(alias = "normalised")]
    #[serde(alias = "normalised")]
    Normalized,
}

impl StepKind {
    /// Short name, as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Normalized => "normalized",
        }
    }
}

/// Optional regularisers that make inversions from noise look like digits. Weights apply to a
/// unit step (after normalisation), so they mean the same for either step kind.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Regularisers {
    /// Weight of the squared total variation (smoothness).
    pub tv: f32,
    /// Weight of the squared L2 norm (pulls pixels towards 0, the background).
    pub l2: f32,
    /// Standard deviation, in pixels, of a Gaussian blur applied every `blur_every` steps (0: off).
    pub blur: f32,
    /// Blur every this many steps.
    pub blur_every: usize,
    /// Shift the image randomly by up to this many pixels before each gradient (0: off).
    pub jitter: usize,
}

impl Default for Regularisers {
    fn default() -> Self {
        Self {
            tv: 0.0,
            l2: 0.0,
            blur: 0.0,
            blur_every: 4,
            jitter: 0,
        }
    }
}

impl Regularisers {
    /// Settings that turn inversions from noise into digit-like prototypes on 28x28 MNIST
    /// (tuned with `classgen invert --grid --from noise`; the default of `[invert.prototype.reg]`).
    pub fn prototype() -> Self {
        Self {
            tv: 0.01,
            l2: 0.03,
            blur: 0.5,
            blur_every: 4,
            jitter: 1,
        }
    }

    /// Parses `tv=0.05,l2=0.01,blur=0.5,blur_every=4,jitter=1` (any subset, over `self`). A part
    /// may instead name a preset, which replaces what came before it: `off` (no regulariser)
    /// or `prototype` (the given `prototype` settings), e.g. `prototype,tv=0.1`.
    pub fn parse_over(mut self, spec: &str, prototype: &Self) -> Result<Self, String> {
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "off" => {
                    self = Self::default();
                    continue;
                }
                "prototype" => {
                    self = *prototype;
                    continue;
                }
                _ => {}
            }
            let (key, value) = part.split_once('=').ok_or_else(|| {
                format!("expected KEY=VALUE or a preset (off, prototype), found '{part}'")
            })?;
            let float = || {
                value
                    .parse::<f32>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= 0.0)
                    .ok_or_else(|| format!("{key}: expected a number >= 0, found '{value}'"))
            };
            let int = || {
                value
                    .parse::<usize>()
                    .map_err(|_| format!("{key}: expected a whole number, found '{value}'"))
            };
            match key {
                "tv" => self.tv = float()?,
                "l2" => self.l2 = float()?,
                "blur" => self.blur = float()?,
                "blur_every" => self.blur_every = int()?.max(1),
                "jitter" => self.jitter = int()?,
                _ => {
                    return Err(format!(
                        "unknown regulariser '{key}' (known: tv, l2, blur, blur_every, jitter)"
                    ))
                }
            }
        }
        Ok(self)
    }

    /// Whether any regulariser is on.
    pub fn any(&self) -> bool {
        self.tv > 0.0 || self.l2 > 0.0 || self.blur > 0.0 || self.jitter > 0
    }

    /// Compact description for file names, e.g. `tv0.05-blur0.5`; empty when none is on.
    pub fn tag(&self) -> String {
        let mut parts = Vec::new();
        if self.tv > 0.0 {
            parts.push(format!("tv{}", self.tv));
        }
        if self.l2 > 0.0 {
            parts.push(format!("l2{}", self.l2));
        }
        if self.blur > 0.0 {
            parts.push(format!("blur{}x{}", self.blur, self.blur_every));
        }
        if self.jitter > 0 {
            parts.push(format!("jit{}", self.jitter));
        }
        parts.join("-")
    }
}

/// Every setting of one gradient inversion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GradientOptions {
    /// Target class, 0-9.
    pub target: usize,
    pub objective: Objective,
    pub step: StepKind,
    /// Learning rate (for a normalised step: the step's length in pixel units).
    pub lr: f32,
    /// Stop after this many updates.
    pub max_steps: usize,
    /// Stop once `p_target >= threshold`.
    pub threshold: f32,
    /// Stop once the gradient norm falls below this (0: never).
    pub epsilon: f32,
    pub reg: Regularisers,
    /// Seed for jitter.
    pub seed: u64,
}

impl Default for GradientOptions {
    fn default() -> Self {
        Self {
            target: 0,
            objective: Objective::Log,
            step: StepKind::Normalized,
            lr: 0.1,
            max_steps: 500,
            threshold: 0.99,
            epsilon: 0.0,
            reg: Regularisers::default(),
            seed: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_and_naive_gradients_differ_by_the_factor_one_over_p() {
        let probs = [0.5, 0.25, 0.25];
        let naive = Objective::Naive.dlogits(&probs, 1);
        let log = Objective::Log.dlogits(&probs, 1);
        for (n, l) in naive.iter().zip(&log) {
            assert!((n / 0.25 - l).abs() < 1e-6, "{n} {l}");
        }
        // Raising p_t means lowering the loss: the target logit's gradient is negative.
        assert!(naive[1] < 0.0 && log[1] < 0.0);
        assert_eq!(Objective::Logit.dlogits(&probs, 2), vec![0.0, 0.0, -1.0]);
    }

    #[test]
    fn regulariser_specs_parse_and_errors_name_the_key() {
        let none = Regularisers::default();
        let proto = Regularisers::prototype();
        let r = none
            .parse_over("tv=0.1, jitter=2,blur=0.5", &proto)
            .unwrap();
        assert_eq!((r.tv, r.jitter, r.blur), (0.1, 2, 0.5));
        assert!(none
            .parse_over("tvv=1", &proto)
            .unwrap_err()
            .contains("tvv"));
        assert!(none.parse_over("tv=-1", &proto).unwrap_err().contains("tv"));
        assert!(none
            .parse_over("smooth", &proto)
            .unwrap_err()
            .contains("prototype"));
    }

    #[test]
    fn presets_replace_what_came_before_and_keys_override_them() {
        let proto = Regularisers::prototype();
        let r = Regularisers::default()
            .parse_over("tv=9,prototype,l2=0.5", &proto)
            .unwrap();
        assert_eq!(r, Regularisers { l2: 0.5, ..proto });
        assert!(!proto.parse_over("off", &proto).unwrap().any());
    }
}
