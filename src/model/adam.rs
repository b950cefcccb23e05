//! Adam (Kingma & Ba), with state that can be saved and restored so a resumed run is exact.

use std::collections::HashMap;

use candle_core::{Tensor, Var};

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
            *m = ((&*m * self.beta1)? + (g * (1.0 - self.beta1))?)?.detach();
            *v = ((&*v * self.beta2)? + (g.sqr()? * (1.0 - self.beta2))?)?.detach();
            let update = ((&*m * (lr * scale_m))? / ((&*v * scale_v)?.sqrt()? + self.epsilon)?)?;
            var.set(&var.as_tensor().sub(&update)?)?;
        }
        Ok(())
    }

    /// The moments as named tensors (`m.<i>`, `v.<i>`), for a checkpoint.
    pub fn state(&self) -> HashMap<String, Tensor> {
        let m = self
            .first
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("m.{i}"), t.clone()));
        let v = self
            .second
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("v.{i}"), t.clone()));
        m.chain(v).collect()
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
                *slot = t.to_device(slot.device()).map_err(|e| e.to_string())?;
            }
        }
        self.step = step;
        Ok(())
    }
}
