//! Adam (Kingma & Ba), with state that can be saved and restored so a resumed run is exact.

use std::collections::HashMap;

use candle_core::{CpuStorage, InplaceOp2, InplaceOp3, Layout, Tensor, Var};

/// Adam without weight decay; epsilon defaults to Keras' 1e-7.
pub struct Adam {
    vars: Vec<Var>,
    first: Vec<Tensor>,
    second: Vec<Tensor>,
    /// Updates applied so far.
    pub step: u64,
    pub beta1: f64,
    pub beta2: f64,
    pub epsilon: f64,
}

impl Adam {
    /// Adam over `vars` with zeroed moments.
    pub fn new(vars: Vec<Var>) -> candle_core::Result<Self> {
        let zeros = |v: &Var| v.as_tensor().zeros_like();
        Ok(Self {
            first: vars.iter().map(zeros).collect::<candle_core::Result<_>>()?,
            second: vars.iter().map(zeros).collect::<candle_core::Result<_>>()?,
            vars,
            step: 0,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
        })
    }

    /// One update with learning rate `lr` from the gradients of `loss`.
    pub fn backward_step(&mut self, loss: &Tensor, lr: f64) -> candle_core::Result<()> {
        let grads = loss.backward()?;
        self.step += 1;
        let t = self.step as i32;
        let scale_m = 1.0 / (1.0 - self.beta1.powi(t));
        let scale_v = 1.0 / (1.0 - self.beta2.powi(t));
        for ((var, m), v) in self.vars.iter().zip(&mut self.first).zip(&mut self.second) {
            let Some(g) = grads.get(var) else { continue };
            // Detached, or each moment would keep the whole history of graphs alive.
            let g = g.detach();
            let g = &g;
            if var.device().is_cpu() {
                // Three in-place passes instead of a dozen allocating tensor ops.
                m.inplace_op2(&g.contiguous()?, &MovingAverage::of_gradient(self.beta1))?;
                v.inplace_op2(&g.contiguous()?, &MovingAverage::of_square(self.beta2))?;
                let apply = ApplyMoments {
                    lr: (lr * scale_m) as f32,
                    scale_v: scale_v as f32,
                    epsilon: self.epsilon as f32,
                };
                var.as_tensor().inplace_op3(m, v, &apply)?;
                continue;
            }
            *m = ((&*m * self.beta1)? + (g * (1.0 - self.beta1))?)?.detach();
            *v = ((&*v * self.beta2)? + (g.sqr()? * (1.0 - self.beta2))?)?.detach();
            let update = ((&*m * (lr * scale_m))? / ((&*v * scale_v)?.sqrt()? + self.epsilon)?)?;
            var.set(&var.as_tensor().sub(&update)?)?;
        }
        Ok(())
    }

    /// A copy of the moments as named tensors (`m.<i>`, `v.<i>`), for a checkpoint.
    pub fn state(&self) -> candle_core::Result<HashMap<String, Tensor>> {
        let m = self
            .first
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("m.{i}"), t.copy()));
        let v = self
            .second
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("v.{i}"), t.copy()));
        // Copies: the CPU step updates the moments in place.
        m.chain(v).map(|(name, t)| t.map(|t| (name, t))).collect()
    }

    /// Restores moments saved by [`Adam::state`] and the step count.
    pub fn restore(&mut self, state: &HashMap<String, Tensor>, step: u64) -> Result<(), String> {
        for (prefix, slots) in [("m", &mut self.first), ("v", &mut self.second)] {
            for (i, slot) in slots.iter_mut().enumerate() {
                let t = state
                    .get(&format!("{prefix}.{i}"))
                    .ok_or_else(|| format!("optimizer state has no '{prefix}.{i}'"))?;
                if t.dims() != slot.dims() {
                    return Err(format!(
                        "optimizer state '{prefix}.{i}' has the wrong shape"
                    ));
                }
                // A private copy: the CPU step updates the moments in place.
                *slot = t
                    .to_device(slot.device())
                    .and_then(|t| t.copy())
                    .map_err(|e| e.to_string())?;
            }
        }
        self.step = step;
        Ok(())
    }
}

/// Zero for subnormal values. Moments decay geometrically, and once subnormal every operation
/// on them takes a slow microcode path: without this, a long run's later epochs slowed down by
/// up to half, the most in variants with many rarely used weights.
fn flush_subnormal(x: f32) -> f32 {
    if x.abs() < f32::MIN_POSITIVE {
        0.0
    } else {
        x
    }
}

/// `avg = beta * avg + (1 - beta) * f(g)` in place, with `f` the identity or the square; results
/// too small to be normal floats are flushed to zero (see [`flush_subnormal`]).
struct MovingAverage {
    beta: f32,
    /// `1 - beta`, computed in f64 (0.001 rather than f32's 0.000999987).
    rest: f32,
    square: bool,
}

impl MovingAverage {
    fn of_gradient(beta: f64) -> Self {
        Self {
            beta: beta as f32,
            rest: (1.0 - beta) as f32,
            square: false,
        }
    }

    fn of_square(beta: f64) -> Self {
        Self {
            beta: beta as f32,
            rest: (1.0 - beta) as f32,
            square: true,
        }
    }
}

impl InplaceOp2 for MovingAverage {
    fn name(&self) -> &'static str {
        "adam-moving-average"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<()> {
        let avg = contiguous_mut(s1, l1)?;
        let g = contiguous(s2, l2, avg.len())?;
        let (beta, rest) = (self.beta, self.rest);
        // Gradients too small to matter are dropped before they can underflow.
        let (cutoff, f): (f32, fn(f32) -> f32) = if self.square {
            (1e-17, |g| g * g)
        } else {
            (1e-30, |g| g)
        };
        for (a, &g) in avg.iter_mut().zip(g) {
            let g = if g.abs() < cutoff { 0.0 } else { f(g) };
            *a = flush_subnormal(beta * *a + rest * g);
        }
        Ok(())
    }
}

/// `w -= lr * m / (sqrt(v * scale_v) + epsilon)` in place (`lr` includes m's bias correction).
struct ApplyMoments {
    lr: f32,
    scale_v: f32,
    epsilon: f32,
}

impl InplaceOp3 for ApplyMoments {
    fn name(&self) -> &'static str {
        "adam-apply"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<()> {
        let w = contiguous_mut(s1, l1)?;
        let (m, v) = (contiguous(s2, l2, w.len())?, contiguous(s3, l3, w.len())?);
        for ((w, &m), &v) in w.iter_mut().zip(m).zip(v) {
            *w -= self.lr * (m / ((v * self.scale_v).sqrt() + self.epsilon));
        }
        Ok(())
    }
}

/// The f32 values of a contiguous tensor, for writing in place.
fn contiguous_mut<'a>(
    storage: &'a mut CpuStorage,
    layout: &Layout,
) -> candle_core::Result<&'a mut [f32]> {
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("adam: expected a contiguous tensor".into()))?;
    match storage {
        CpuStorage::F32(values) => Ok(&mut values[start..end]),
        _ => Err(candle_core::Error::Msg("adam: expected f32 values".into())),
    }
}

/// The f32 values of a contiguous tensor of `len` elements.
fn contiguous<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
    len: usize,
) -> candle_core::Result<&'a [f32]> {
    let values = super::ops::contiguous_f32(storage, layout)?;
    if values.len() != len {
        candle_core::bail!("adam: operands differ in shape");
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn first_step_moves_each_weight_by_the_learning_rate_against_its_gradient() {
        // loss = sum(w * c): the gradient is c, and Adam's first step is lr * c / (|c| + eps).
        let w = Var::new(&[1f32, -2.0, 0.5], &Device::Cpu).unwrap();
        let c = Tensor::new(&[3f32, -0.5, 1e-20], &Device::Cpu).unwrap();
        let mut adam = Adam::new(vec![w.clone()]).unwrap();
        let loss = w.as_tensor().mul(&c).unwrap().sum_all().unwrap();
        adam.backward_step(&loss, 0.01).unwrap();
        let got = w.as_tensor().to_vec1::<f32>().unwrap();
        let want = [1.0 - 0.01, -2.0 + 0.01, 0.5];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{got:?} vs {want:?}");
        }
        // The negligible gradient left no subnormal trace in the moments.
        let v = adam.second[0].to_vec1::<f32>().unwrap();
        assert_eq!(v[2], 0.0);
        assert!((v[0] - 0.001 * 9.0).abs() < 1e-9, "{v:?}");
    }
}
