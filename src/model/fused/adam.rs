//! Adam's update over a block of parameters, operation for operation as
//! [`crate::model::adam::Adam`] does it on the CPU, so both give bit-identical weights.

use super::simd::multiversion;

/// The per-step constants of an update.
#[derive(Debug, Clone, Copy)]
pub(super) struct AdamStep {
    pub beta1: f32,
    pub rest1: f32,
    pub beta2: f32,
    pub rest2: f32,
    /// Learning rate times the first moment's bias correction.
    pub lr: f32,
    /// The second moment's bias correction.
    pub scale_v: f32,
    pub epsilon: f32,
}

impl AdamStep {
    /// The constants of update number `step` (1-based) with learning rate `lr`.
    pub fn new(step: u64, lr: f64, beta1: f64, beta2: f64, epsilon: f64) -> Self {
        let t = step as i32;
        let scale_m = 1.0 / (1.0 - beta1.powi(t));
        let scale_v = 1.0 / (1.0 - beta2.powi(t));
        Self {
            beta1: beta1 as f32,
            rest1: (1.0 - beta1) as f32,
            beta2: beta2 as f32,
            rest2: (1.0 - beta2) as f32,
            lr: (lr * scale_m) as f32,
            scale_v: scale_v as f32,
            epsilon: epsilon as f32,
        }
    }
}

/// Zero for subnormal values (see `flush_subnormal` in [`crate::model::adam`]).
#[inline(always)]
fn flush(x: f32) -> f32 {
    if x.abs() < f32::MIN_POSITIVE {
        0.0
    } else {
        x
    }
}

multiversion! {
    /// Moves the moments `m`, `v` by the gradients `g` and the weights `w` by the moments.
    pub(super) fn update(w: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], s: &AdamStep) {
        for (((w, m), v), &g) in w.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
            // Gradients too small to matter are dropped before they can underflow.
            let g1 = if g.abs() < 1e-30 { 0.0 } else { g };
            *m = flush(s.beta1 * *m + s.rest1 * g1);
            let g2 = if g.abs() < 1e-17 { 0.0 } else { g * g };
            *v = flush(s.beta2 * *v + s.rest2 * g2);
            *w -= s.lr * (*m / ((*v * s.scale_v).sqrt() + s.epsilon));
        }
    }
}
