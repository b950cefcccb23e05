//! What the layers learned: the first convolution's filters, every channel's activation map
//! for one image (strongest first), and what each channel of a convolution responds to, by
//! activation maximisation from noise (Lucent's channel objective) with the inversion's
//! image regularisers.

use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::ExplainError;
use crate::data::{PIXELS, SIDE};
use crate::inversion::regularise::{blur, tv_grad};
use crate::model::Network;

/// One channel's activation map (after the ReLU, before pooling).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelMap {
    pub channel: usize,
    /// Side of the square map.
    pub side: usize,
    pub values: Vec<f32>,
    /// Mean activation: the order maps are listed in.
    pub mean: f32,
}

/// A convolution's channels for one image, strongest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerMaps {
    /// `conv1`, `conv2`, ...
    pub layer: String,
    pub maps: Vec<ChannelMap>,
}

fn model(e: candle_core::Error) -> ExplainError {
    ExplainError::Model(e.to_string())
}

/// The first convolution's filters, each a `k * k` tile (row-major).
pub fn filters(net: &Network) -> Result<Vec<Vec<f32>>, ExplainError> {
    let Some(conv) = net.spec.convs.first() else {
        return Err(ExplainError::NoConvolution);
    };
    let tensors = net.named_tensors();
    let w = tensors
        .get("conv1.weight")
        .ok_or_else(|| ExplainError::Model("no conv1.weight".into()))?;
    // `[k * k * 1, filters]`: column f is filter f, row-major over the window.
    let rows = w.to_vec2::<f32>().map_err(model)?;
    let k = conv.kernel;
    Ok((0..conv.filters)
        .map(|f| (0..k * k).map(|i| rows[i][f]).collect())
        .collect())
}

/// Every channel's activation map of every convolution for one image (784 values in [0,1]).
pub fn activations(net: &Network, pixels: &[f32]) -> Result<Vec<LayerMaps>, ExplainError> {
    if net.spec.convs.is_empty() {
        return Err(ExplainError::NoConvolution);
    }
    if pixels.len() != PIXELS {
        return Err(ExplainError::Setting(format!(
            "an image has {PIXELS} pixels, found {}",
            pixels.len()
        )));
    }
    let x = Tensor::from_slice(pixels, (1, SIDE, SIDE, 1), &Device::Cpu).map_err(model)?;
    let outputs = net
        .conv_outputs(&x, net.spec.convs.len() - 1)
        .map_err(model)?;
    outputs
        .iter()
        .enumerate()
        .map(|(l, y)| {
            let (_, side, _, f) = y.dims4().map_err(model)?;
            let v = y
                .flatten_all()
                .and_then(|t| t.to_vec1::<f32>())
                .map_err(model)?;
            let mut maps: Vec<ChannelMap> = (0..f)
                .map(|c| {
                    let values: Vec<f32> =
                        v.iter().skip(c).step_by(f).map(|a| a.max(0.0)).collect();
                    let mean = values.iter().sum::<f32>() / values.len().max(1) as f32;
                    ChannelMap {
                        channel: c,
                        side,
                        values,
                        mean,
                    }
                })
                .collect();
            maps.sort_by(|a, b| b.mean.total_cmp(&a.mean).then(a.channel.cmp(&b.channel)));
            Ok(LayerMaps {
                layer: format!("conv{}", l + 1),
                maps,
            })
        })
        .collect()
}

/// Settings of [`maximise`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MaximiseOptions {
    pub steps: usize,
    /// Length (L2, in pixels in [0,1]) of each normalised step.
    pub lr: f32,
    pub seed: u64,
    /// Weight of the total-variation penalty, and a Gaussian blur of `blur` pixels every
    /// `blur_every` steps (the inversion's regularisers).
    pub tv: f32,
    pub blur: f32,
    pub blur_every: usize,
}

impl Default for MaximiseOptions {
    fn default() -> Self {
        Self {
            steps: 128,
            lr: 0.5,
            seed: 0,
            tv: 0.05,
            blur: 0.5,
            blur_every: 4,
        }
    }
}

/// What [`maximise`] excites: the channels of a convolution, or the units of the hidden
/// dense layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Convolution `l` (0-based): each channel's mean output.
    Conv(usize),
    /// The hidden dense layer: each unit's output.
    Dense,
}

impl Unit {
    /// `conv2`, `dense`.
    pub fn name(self) -> String {
        match self {
            Self::Conv(l) => format!("conv{}", l + 1),
            Self::Dense => "dense".into(),
        }
    }
}

/// The output of `unit`'s layer before its ReLU for `x`: `[n, positions, channels]`.
fn unit_output(net: &Network, unit: Unit, x: &Tensor) -> candle_core::Result<Tensor> {
    match unit {
        Unit::Conv(l) => {
            let y = net
                .conv_outputs(x, l)?
                .pop()
                .ok_or_else(|| candle_core::Error::Msg("no layer".into()))?;
            let (n, h, w, f) = y.dims4()?;
            y.reshape((n, h * w, f))
        }
        Unit::Dense => {
            let y = net
                .hidden_output(x)?
                .ok_or_else(|| candle_core::Error::Msg("no hidden dense layer".into()))?;
            let (n, u) = y.dims2()?;
            y.reshape((n, 1, u))
        }
    }
}

/// For each channel (or unit) of `unit`'s layer, an image that excites it: gradient ascent
/// from seeded noise on its mean output before the ReLU (so that a channel silent on the noise
/// still has a gradient), all of them as one batch, each step normalised, the total variation
/// penalised, blurred now and then, pixels kept in [0,1]. `progress(done, steps)` after each
/// step; a cancel ends it with the images so far.
pub fn maximise(
    net: &Network,
    unit: Unit,
    o: &MaximiseOptions,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<Vec<f32>>, ExplainError> {
    let f = match unit {
        Unit::Conv(l) => net.spec.convs.get(l).map(|c| c.filters),
        Unit::Dense => net.spec.dense,
    };
    let Some(f) = f else {
        return Err(ExplainError::Setting(format!(
            "{} does not exist in this network",
            unit.name()
        )));
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(o.seed);
    let mut images: Vec<Vec<f32>> = (0..f)
        .map(|_| {
            (0..PIXELS)
                .map(|_| 0.4 + 0.2 * rng.random::<f32>())
                .collect()
        })
        .collect();
    // Image i's objective reads channel i only.
    let mut mask = vec![0f32; f * f];
    for i in 0..f {
        mask[i * f + i] = 1.0;
    }
    let mask = Tensor::from_vec(mask, (f, 1, f), &Device::Cpu).map_err(model)?;
    for step in 0..o.steps {
        if cancel.load(Ordering::Relaxed) {
            break;
        }
        let flat: Vec<f32> = images.concat();
        let x = Var::from_vec(flat, (f, SIDE, SIDE, 1), &Device::Cpu).map_err(model)?;
        let grads = unit_output(net, unit, x.as_tensor())
            .and_then(|y| y.broadcast_mul(&mask)?.mean(1)?.sum_all()?.backward())
            .map_err(model)?;
        let g = grads
            .get(x.as_tensor())
            .ok_or_else(|| ExplainError::Model("no gradient reached the pixels".into()))?
            .flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(model)?;
        for (image, g) in images.iter_mut().zip(g.chunks_exact(PIXELS)) {
            let tv = tv_grad(image);
            let dir: Vec<f32> = g.iter().zip(&tv).map(|(g, t)| g - o.tv * t).collect();
            let norm = dir.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            for (p, d) in image.iter_mut().zip(&dir) {
                *p = (*p + o.lr * d / norm).clamp(0.0, 1.0);
            }
            if o.blur_every > 0 && (step + 1) % o.blur_every == 0 {
                *image = blur(image, o.blur);
            }
        }
        progress(step + 1, o.steps);
    }
    Ok(images)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ArchSpec;

    fn net() -> Network {
        Network::new(&ArchSpec::seed(), 5, &Device::Cpu).unwrap()
    }

    /// Mean pre-ReLU output of channel `c` of `layer` on `image`.
    fn response(net: &Network, layer: usize, image: &[f32], c: usize) -> f32 {
        let x = Tensor::from_slice(image, (1, SIDE, SIDE, 1), &Device::Cpu).unwrap();
        let y = net.conv_outputs(&x, layer).unwrap().pop().unwrap();
        let f = y.dims4().unwrap().3;
        let v = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let values: Vec<f32> = v.iter().skip(c).step_by(f).copied().collect();
        values.iter().sum::<f32>() / values.len() as f32
    }

    #[test]
    fn filters_are_the_first_convolution_s_weights_as_tiles() {
        let net = net();
        let tiles = filters(&net).unwrap();
        assert_eq!(tiles.len(), 32);
        assert!(tiles.iter().all(|t| t.len() == 9));
        let w = net.named_tensors()["conv1.weight"]
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(tiles[5][7], w[7][5]);
    }

    #[test]
    fn activation_maps_are_each_channel_strongest_first() {
        let net = net();
        let image: Vec<f32> = (0..PIXELS)
            .map(|i| ((i * 37) % 101) as f32 / 100.0)
            .collect();
        let layers = activations(&net, &image).unwrap();
        assert_eq!(layers.len(), 2);
        assert_eq!((layers[0].maps.len(), layers[0].maps[0].side), (32, 26));
        assert_eq!((layers[1].maps.len(), layers[1].maps[0].side), (64, 11));
        for l in &layers {
            assert!(l.maps.windows(2).all(|w| w[0].mean >= w[1].mean));
            assert!(l.maps.iter().all(|m| m.values.iter().all(|v| *v >= 0.0)));
        }
        let top = &layers[0].maps[0];
        let mean = response(&net, 0, &image, top.channel);
        // After the ReLU the mean is at least the pre-ReLU mean.
        assert!(top.mean >= mean - 1e-6);
    }

    /// Each image excites its own channel more than the noise it started from did, and more
    /// than the other channels' images do on average.
    #[test]
    fn maximisation_finds_an_image_for_each_channel() {
        let net = net();
        let o = MaximiseOptions {
            steps: 24,
            ..MaximiseOptions::default()
        };
        let mut calls = 0;
        let images = maximise(
            &net,
            Unit::Conv(0),
            &o,
            &AtomicBool::new(false),
            &mut |_, _| calls += 1,
        )
        .unwrap();
        assert_eq!((images.len(), calls), (32, 24));
        let start: Vec<f32> = vec![0.5; PIXELS];
        let mut wins = 0;
        for c in 0..32 {
            let own = response(&net, 0, &images[c], c);
            let others: f32 = (0..32)
                .filter(|&j| j != c)
                .map(|j| response(&net, 0, &images[j], c))
                .sum::<f32>()
                / 31.0;
            assert!(own > response(&net, 0, &start, c), "channel {c}");
            wins += usize::from(own > others);
        }
        assert!(wins >= 30, "{wins} of 32 channels prefer their own image");
        // Deterministic by seed; a cancel stops at once.
        let again = maximise(
            &net,
            Unit::Conv(0),
            &o,
            &AtomicBool::new(false),
            &mut |_, _| {},
        )
        .unwrap();
        assert_eq!(images, again);
        let mut steps = 0;
        maximise(
            &net,
            Unit::Conv(1),
            &o,
            &AtomicBool::new(true),
            &mut |_, _| steps += 1,
        )
        .unwrap();
        assert_eq!(steps, 0);
        assert!(maximise(
            &net,
            Unit::Conv(2),
            &o,
            &AtomicBool::new(false),
            &mut |_, _| {}
        )
        .is_err());
        // The dense units: each image raises its own unit above where the noise had it.
        let units = maximise(
            &net,
            Unit::Dense,
            &o,
            &AtomicBool::new(false),
            &mut |_, _| {},
        )
        .unwrap();
        assert_eq!(units.len(), 128);
        let hidden = |image: &[f32]| {
            let x = Tensor::from_slice(image, (1, SIDE, SIDE, 1), &Device::Cpu).unwrap();
            let y = net.hidden_output(&x).unwrap().unwrap();
            y.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        };
        let noise = hidden(&start);
        let raised = (0..128)
            .filter(|&u| hidden(&units[u])[u] > noise[u])
            .count();
        assert!(raised >= 120, "{raised} of 128 units raised");
    }
}
