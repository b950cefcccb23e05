//! An [`ArchSpec`] built into candle variables, with the forward pass.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};

use super::arch::ArchSpec;
use super::ops;
use crate::data::SIDE;

/// A built network: its spec and its weights as named candle variables.
pub struct Network {
    pub spec: ArchSpec,
    /// `(name, variable)` in layer order: `conv1.weight`, `conv1.bias`, ..., `out.bias`.
    vars: Vec<(String, Var)>,
    device: Device,
}

impl Network {
    /// A freshly initialised network: Glorot-uniform weights (Keras' default), zero biases.
    pub fn new(spec: &ArchSpec, seed: u64, device: &Device) -> candle_core::Result<Self> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut vars = Vec::new();
        for (layer, spec_conv) in spec
            .layers()
            .iter()
            .zip(spec.convs.iter().map(Some).chain(std::iter::repeat(None)))
        {
            let (rows, cols) = layer.weight;
            // A conv's fans count its receptive field on both sides, as Keras does.
            let (fan_in, fan_out) = match spec_conv {
                Some(c) => (rows, cols * c.kernel * c.kernel),
                None => (rows, cols),
            };
            let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
            let weights: Vec<f32> = (0..rows * cols)
                .map(|_| rng.random_range(-limit..limit))
                .collect();
            vars.push((
                format!("{}.weight", layer.name),
                Var::from_vec(weights, (rows, cols), device)?,
            ));
            vars.push((
                format!("{}.bias", layer.name),
                Var::zeros(layer.bias, DType::F32, device)?,
            ));
        }
        Ok(Self {
            spec: spec.clone(),
            vars,
            device: device.clone(),
        })
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The trainable variables in layer order.
    pub fn vars(&self) -> impl Iterator<Item = &Var> {
        self.vars.iter().map(|(_, v)| v)
    }

    /// Named weights, for saving.
    pub fn named_tensors(&self) -> HashMap<String, Tensor> {
        self.vars
            .iter()
            .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
            .collect()
    }

    /// Overwrites the weights with tensors from a safetensors file; shapes must match the spec.
    pub fn load_weights(&mut self, path: &Path) -> anyhow::Result<()> {
        let tensors = read_safetensors(path, &self.device)?;
        self.set_weights(&tensors, path)
    }

    /// Overwrites the weights with `tensors` (read from `path`, which errors name); shapes must
    /// match the spec.
    pub fn set_weights(
        &mut self,
        tensors: &HashMap<String, Tensor>,
        path: &Path,
    ) -> anyhow::Result<()> {
        for (name, var) in &self.vars {
            let t = tensors.get(name).ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: no tensor '{name}' (is it a checkpoint of architecture '{}'?)",
                    path.display(),
                    self.spec.name
                )
            })?;
            if t.dims() != var.dims() {
                anyhow::bail!(
                    "{}: tensor '{name}' has shape {:?}, architecture '{}' needs {:?}",
                    path.display(),
                    t.dims(),
                    self.spec.name,
                    var.dims()
                );
            }
            var.set(t)?;
        }
        Ok(())
    }

    /// Logits `[n, 10]` for images `[n, 28, 28, 1]` with pixels in [0,1].
    pub fn forward(&self, images: &Tensor) -> candle_core::Result<Tensor> {
        self.forward_with(images, false)
    }

    /// [`Network::forward`] with the weights held constant: gradients reach only the input
    /// (inversion, attacks), and evaluation records no graph for the weights.
    pub fn forward_frozen(&self, images: &Tensor) -> candle_core::Result<Tensor> {
        self.forward_with(images, true)
    }

    /// The output of each convolution before its ReLU (`[n, oh, ow, filters]`) for images
    /// `[n, 28, 28, 1]`, up to and including block `last`, with the weights held constant:
    /// what a layer's channels respond to, and a gradient from there to the pixels.
    pub fn conv_outputs(&self, images: &Tensor, last: usize) -> candle_core::Result<Vec<Tensor>> {
        let mut x = images.clone();
        let mut out = Vec::new();
        for (l, conv) in self.spec.convs.iter().enumerate().take(last + 1) {
            let (w, b) = match (self.vars.get(2 * l), self.vars.get(2 * l + 1)) {
                (Some(w), Some(b)) => (w.1.as_tensor().detach(), b.1.as_tensor().detach()),
                _ => return Err(candle_core::Error::Msg("missing parameter".into())),
            };
            let y;
            (y, x) = conv_block(&x, &w, &b, conv)?;
            out.push(y);
        }
        Ok(out)
    }

    /// The hidden dense layer's output before its ReLU (`[n, units]`; `None` without one) for
    /// images `[n, 28, 28, 1]`, with the weights held constant.
    pub fn hidden_output(&self, images: &Tensor) -> candle_core::Result<Option<Tensor>> {
        if self.spec.dense.is_none() {
            return Ok(None);
        }
        let convs = self.spec.convs.len();
        let mut x = images.clone();
        if convs > 0 {
            let y = self.conv_outputs(images, convs - 1)?;
            let last = &self.spec.convs[convs - 1];
            let y = y
                .last()
                .ok_or_else(|| candle_core::Error::Msg("no layer".into()))?;
            x = if last.pool {
                ops::relu_max_pool2(y)?
            } else {
                ops::relu(y)?
            };
        }
        let n = x.dim(0)?;
        let x = x.reshape((n, ()))?;
        let (w, b) = match (self.vars.get(2 * convs), self.vars.get(2 * convs + 1)) {
            (Some(w), Some(b)) => (w.1.as_tensor().detach(), b.1.as_tensor().detach()),
            _ => return Err(candle_core::Error::Msg("missing parameter".into())),
        };
        Ok(Some(x.matmul(&w)?.broadcast_add(&b)?))
    }

    fn forward_with(&self, images: &Tensor, frozen: bool) -> candle_core::Result<Tensor> {
        let mut x = images.clone();
        let mut params = self.vars.iter().map(|(_, v)| {
            if frozen {
                v.as_tensor().detach()
            } else {
                v.as_tensor().clone()
            }
        });
        let mut next = || {
            params
                .next()
                .ok_or_else(|| candle_core::Error::Msg("missing parameter".into()))
        };
        for conv in &self.spec.convs {
            let (w, b) = (next()?, next()?);
            x = conv_block(&x, &w, &b, conv)?.1;
        }
        let n = x.dim(0)?;
        let mut x = x.reshape((n, ()))?;
        if self.spec.dense.is_some() {
            let (w, b) = (next()?, next()?);
            x = ops::relu(&x.matmul(&w)?.broadcast_add(&b)?)?;
        }
        let (w, b) = (next()?, next()?);
        x.matmul(&w)?.broadcast_add(&b)
    }

    /// Class probabilities `[n, 10]` for `n` images of u8 pixels, computed in batches (on the
    /// CPU, the fused engine's fixed chunks instead, so `batch` does not change the result).
    pub fn predict_proba(&self, pixels: &[u8], batch: usize) -> candle_core::Result<Vec<f32>> {
        if self.device.is_cpu() {
            let engine = super::fused::Engine::inference(self).map_err(candle_core::Error::wrap);
            return engine?
                .predict_proba(pixels)
                .map_err(candle_core::Error::wrap);
        }
        let per = SIDE * SIDE;
        let mut out = Vec::with_capacity(pixels.len() / per * 10);
        for chunk in pixels.chunks(batch.max(1) * per) {
            let x = images_tensor(chunk, &self.device)?;
            let probs = candle_nn::ops::softmax_last_dim(&self.forward_frozen(&x)?)?;
            out.extend(probs.flatten_all()?.to_vec1::<f32>()?);
        }
        Ok(out)
    }
}

/// One conv block on `x`: the convolution's output before its ReLU, and the block's output
/// (ReLU, then 2x2 max-pool when the block pools).
fn conv_block(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    conv: &super::arch::ConvSpec,
) -> candle_core::Result<(Tensor, Tensor)> {
    let w_aug = Tensor::cat(&[w, &b.unsqueeze(0)?], 0)?;
    let y = ops::conv2d(x, &w_aug, conv.kernel)?;
    let out = if conv.pool {
        ops::relu_max_pool2(&y)?
    } else {
        ops::relu(&y)?
    };
    Ok((y, out))
}

/// `[n, 28, 28, 1]` f32 tensor in [0,1] from u8 pixels.
pub fn images_tensor(pixels: &[u8], device: &Device) -> candle_core::Result<Tensor> {
    let n = pixels.len() / (SIDE * SIDE);
    let data: Vec<f32> = pixels.iter().map(|&p| p as f32 / 255.0).collect();
    Tensor::from_vec(data, (n, SIDE, SIDE, 1), device)
}

/// Reads a `.safetensors` file (at most [`crate::limits::MAX_SAFETENSORS_BYTES`]) onto
/// `device`; every error names the file, with its cause once.
pub fn read_safetensors(path: &Path, device: &Device) -> anyhow::Result<HashMap<String, Tensor>> {
    let bytes = crate::userfile::read_file(path, crate::limits::MAX_SAFETENSORS_BYTES)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    decode_safetensors(&bytes, path, device)
}

/// [`read_safetensors`] for a file's bytes; `path` names them in errors.
pub fn decode_safetensors(
    bytes: &[u8],
    path: &Path,
    device: &Device,
) -> anyhow::Result<HashMap<String, Tensor>> {
    candle_core::safetensors::load_buffer(bytes, device)
        .map_err(|e| anyhow::anyhow!("{}: not a readable safetensors file: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safetensors_errors_name_the_file_with_the_cause_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        let cases: [(&[u8], &str); 3] = [
            (&u64::MAX.to_le_bytes(), "header too large"),
            (b"\x04\0\0\0\0\0\0\0{{{{", "invalid JSON in header"),
            (b"abc", "header too small"),
        ];
        for (bytes, cause) in cases {
            std::fs::write(&path, bytes).unwrap();
            let err = read_safetensors(&path, &Device::Cpu).unwrap_err();
            let shown = format!("{err:#}");
            assert!(
                shown.starts_with(&format!("{}: ", path.display())),
                "{shown}"
            );
            assert_eq!(shown.matches(cause).count(), 1, "{shown}");
        }
        let mut net = Network::new(&ArchSpec::seed(), 0, &Device::Cpu).unwrap();
        let err = format!("{:#}", net.load_weights(dir.path()).unwrap_err());
        assert!(err.contains("is a directory, not a regular file"), "{err}");
    }
}
