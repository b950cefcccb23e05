//! Accuracy under Gaussian noise (any classifier) and under L-infinity attacks on the CNN:
//! FGSM and PGD (Madry et al.'s MNIST setting: random start, signed steps, projection onto the
//! epsilon ball), untargeted and targeted. Gradients are taken with respect to the input only,
//! through [`Network::forward_frozen`], a whole batch at a time.

use candle_core::{Device, Tensor, Var};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::classifier::predictions;
use crate::data::{CLASSES, PIXELS, SIDE};
use crate::model::Network;

/// `pixels` plus Gaussian noise of standard deviation `sigma` (on the [0,1] scale), clipped to
/// [0,1] and rounded back to u8 pixels, so every classifier sees the same noisy images. The
/// noise depends only on `seed` (and the pixel's position).
pub fn add_noise(pixels: &[u8], sigma: f32, seed: u64) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    pixels
        .iter()
        .map(|&p| {
            let noisy = p as f64 / 255.0 + sigma as f64 * gaussian(&mut rng);
            (noisy.clamp(0.0, 1.0) * 255.0).round() as u8
        })
        .collect()
}

/// A standard normal draw (Box-Muller).
fn gaussian(rng: &mut StdRng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]: ln is finite
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The two attacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AttackKind {
    /// Fast gradient sign method: one step of `epsilon * sign(gradient)`.
    Fgsm,
    /// Projected gradient descent: random start in the ball, then signed steps, each projected
    /// back onto the ball and [0,1].
    Pgd,
}

impl AttackKind {
    /// Name as in tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::Fgsm => "fgsm",
            Self::Pgd => "pgd",
        }
    }
}

/// How to attack.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttackSettings {
    pub kind: AttackKind,
    /// Radius of the L-infinity ball (pixels in [0,1]).
    pub epsilon: f32,
    /// Aim at a class (drawn by [`targets`]) instead of away from the true one.
    pub targeted: bool,
    /// PGD steps and their length.
    pub steps: usize,
    pub step_size: f32,
    /// Seeds the targets and PGD's random start.
    pub seed: u64,
    /// Images per forward/backward pass.
    pub batch: usize,
}

/// What an attack achieved on a set of images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttackResult {
    pub attack: AttackKind,
    pub targeted: bool,
    pub epsilon: f32,
    pub images: usize,
    /// Accuracy on the clean images.
    pub clean_accuracy: f64,
    /// Accuracy on the attacked images.
    pub accuracy: f64,
    /// Untargeted: share of the clean-correct images the attack makes wrong. Targeted: share
    /// of all images classified as their target.
    pub success_rate: f64,
    /// Mean L2 and L-infinity norm of the perturbation (pixels in [0,1]).
    pub mean_l2: f64,
    pub mean_linf: f64,
}

/// A target class for each label, uniform among the nine other classes, seeded.
pub fn targets(labels: &[u8], seed: u64) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    labels
        .iter()
        .map(|&y| ((y as usize + rng.random_range(1..CLASSES)) % CLASSES) as u8)
        .collect()
}

/// One signed step: `x += step * sign(direction)` (a zero component does not move), then
/// projected onto `[x0 - epsilon, x0 + epsilon]` and [0,1].
pub fn signed_step(x: &mut [f32], x0: &[f32], direction: &[f32], step: f32, epsilon: f32) {
    for ((xi, &x0i), &d) in x.iter_mut().zip(x0).zip(direction) {
        let s = if d > 0.0 {
            step
        } else if d < 0.0 {
            -step
        } else {
            0.0
        };
        *xi = (*xi + s)
            .clamp(x0i - epsilon, x0i + epsilon)
            .clamp(0.0, 1.0);
    }
}

/// Sum over images of the L2 and of the L-infinity norms of `x - x0`.
pub fn perturbation_norms(x: &[f32], x0: &[f32]) -> (f64, f64) {
    x.chunks_exact(PIXELS)
        .zip(x0.chunks_exact(PIXELS))
        .fold((0.0, 0.0), |(l2, linf), (a, b)| {
            let (mut sq, mut top) = (0.0f64, 0.0f64);
            for (&p, &q) in a.iter().zip(b) {
                let d = (p - q).abs() as f64;
                sq += d * d;
                top = top.max(d);
            }
            (l2 + sq.sqrt(), linf + top)
        })
}

/// Gradient of the summed cross-entropy towards `classes` with respect to the images `x`
/// (`n * PIXELS` in [0,1]), weights held constant.
fn input_gradient(
    net: &Network,
    x: &[f32],
    classes: &[u8],
    device: &Device,
) -> candle_core::Result<Vec<f32>> {
    let n = classes.len();
    let input = Var::from_tensor(&Tensor::from_slice(x, (n, SIDE, SIDE, 1), device)?)?;
    let logits = net.forward_frozen(input.as_tensor())?;
    let y: Vec<u32> = classes.iter().map(|&c| c as u32).collect();
    let y = Tensor::from_vec(y, n, device)?;
    // Summed, not averaged: only the sign is used, and each image's gradient is its own.
    let loss = (candle_nn::loss::cross_entropy(&logits, &y)? * n as f64)?;
    let grads = loss.backward()?;
    let grad = grads
        .get(input.as_tensor())
        .ok_or_else(|| candle_core::Error::Msg("no gradient reached the input".into()))?;
    grad.flatten_all()?.to_vec1()
}

/// Predicted classes of images `x` (`n * PIXELS` in [0,1]).
fn predict(net: &Network, x: &[f32], device: &Device) -> candle_core::Result<Vec<u8>> {
    let n = x.len() / PIXELS;
    let input = Tensor::from_slice(x, (n, SIDE, SIDE, 1), device)?;
    let logits = net.forward_frozen(&input)?;
    Ok(predictions(&logits.flatten_all()?.to_vec1::<f32>()?))
}

/// Attacks `net` on u8 images with their labels; deterministic given `settings.seed`.
pub fn attack(
    net: &Network,
    pixels: &[u8],
    labels: &[u8],
    settings: &AttackSettings,
) -> candle_core::Result<AttackResult> {
    let device = net.device().clone();
    let n = labels.len();
    let goals = targets(labels, settings.seed);
    let mut rng = StdRng::seed_from_u64(settings.seed ^ 0x5EED_0FA7_7AC4);
    let (eps, batch) = (settings.epsilon, settings.batch.max(1));
    let (mut clean_right, mut adv_right, mut successes) = (0usize, 0usize, 0usize);
    let (mut l2, mut linf) = (0.0, 0.0);
    for start in (0..n).step_by(batch) {
        let end = (start + batch).min(n);
        let x0: Vec<f32> = pixels[start * PIXELS..end * PIXELS]
            .iter()
            .map(|&p| p as f32 / 255.0)
            .collect();
        let (truth, goal) = (&labels[start..end], &goals[start..end]);
        // Untargeted: climb the loss of the true class; targeted: descend that of the target.
        let (classes, sign) = if settings.targeted {
            (goal, -1.0f32)
        } else {
            (truth, 1.0)
        };
        let direction = |x: &[f32]| -> candle_core::Result<Vec<f32>> {
            let g = input_gradient(net, x, classes, &device)?;
            Ok(g.into_iter().map(|v| sign * v).collect())
        };
        let x = match settings.kind {
            AttackKind::Fgsm => {
                let mut x = x0.clone();
                signed_step(&mut x, &x0, &direction(&x0)?, eps, eps);
                x
            }
            AttackKind::Pgd => {
                let mut x: Vec<f32> = x0
                    .iter()
                    .map(|&p| (p + rng.random_range(-eps..=eps)).clamp(0.0, 1.0))
                    .collect();
                for _ in 0..settings.steps {
                    let d = direction(&x)?;
                    signed_step(&mut x, &x0, &d, settings.step_size, eps);
                }
                x
            }
        };
        let before = predict(net, &x0, &device)?;
        let after = predict(net, &x, &device)?;
        for i in 0..truth.len() {
            let was_right = before[i] == truth[i];
            clean_right += usize::from(was_right);
            adv_right += usize::from(after[i] == truth[i]);
            successes += usize::from(if settings.targeted {
                after[i] == goal[i]
            } else {
                was_right && after[i] != truth[i]
            });
        }
        let (a, b) = perturbation_norms(&x, &x0);
        l2 += a;
        linf += b;
    }
    let share = |count: usize, of: usize| {
        if of == 0 {
            0.0
        } else {
            count as f64 / of as f64
        }
    };
    Ok(AttackResult {
        attack: settings.kind,
        targeted: settings.targeted,
        epsilon: eps,
        images: n,
        clean_accuracy: share(clean_right, n),
        accuracy: share(adv_right, n),
        success_rate: share(successes, if settings.targeted { n } else { clean_right }),
        mean_l2: if n == 0 { 0.0 } else { l2 / n as f64 },
        mean_linf: if n == 0 { 0.0 } else { linf / n as f64 },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_seeded_clipped_and_zero_sigma_is_identity() {
        let pixels: Vec<u8> = (0..2 * PIXELS).map(|i| (i % 256) as u8).collect();
        assert_eq!(add_noise(&pixels, 0.0, 1), pixels);
        let a = add_noise(&pixels, 0.3, 1);
        assert_eq!(a, add_noise(&pixels, 0.3, 1));
        assert_ne!(a, add_noise(&pixels, 0.3, 2));
        // Black pixels are clipped at 0: about half of them stay black.
        let noisy = add_noise(&[0; 2000], 0.5, 4);
        let black = noisy.iter().filter(|&&p| p == 0).count();
        assert!((900..1100).contains(&black), "{black} of 2000 stayed black");
        // The noise has about the requested spread (mid-grey pixels, rarely clipped).
        let grey = vec![128u8; 20_000];
        let noisy = add_noise(&grey, 0.1, 9);
        let var = noisy
            .iter()
            .map(|&p| (p as f64 / 255.0 - 128.0 / 255.0).powi(2))
            .sum::<f64>()
            / grey.len() as f64;
        assert!((var.sqrt() - 0.1).abs() < 0.005, "std {}", var.sqrt());
    }

    #[test]
    fn targets_differ_from_labels_and_cover_the_other_classes() {
        let labels = vec![3u8; 2000];
        let t = targets(&labels, 5);
        assert!(t.iter().all(|&c| c != 3 && (c as usize) < CLASSES));
        for c in (0..CLASSES as u8).filter(|&c| c != 3) {
            assert!(t.contains(&c), "class {c} never drawn");
        }
    }

    #[test]
    fn signed_steps_stay_in_the_ball_and_in_range() {
        let x0 = [0.5, 0.0, 1.0, 0.5];
        let mut x = x0;
        for _ in 0..10 {
            signed_step(&mut x, &x0, &[1.0, -1.0, 1.0, 0.0], 0.04, 0.1);
        }
        assert!((x[0] - 0.6).abs() < 1e-6, "{x:?}");
        assert_eq!(x[1], 0.0);
        assert_eq!(x[2], 1.0);
        assert_eq!(x[3], 0.5);
        let mut a = vec![0.0f32; 2 * PIXELS];
        a[0] = 0.3;
        a[PIXELS] = 0.4;
        a[PIXELS + 1] = 0.3;
        let (l2, linf) = perturbation_norms(&a, &vec![0.0; 2 * PIXELS]);
        assert!((l2 - (0.3 + 0.5)).abs() < 1e-6);
        assert!((linf - 0.7).abs() < 1e-6);
    }
}
