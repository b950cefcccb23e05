//! The fused CPU engine: forward, backward and Adam for any [`ArchSpec`] (conv blocks, an
//! optional hidden dense layer, the output layer) in the project's own kernels, over buffers
//! allocated once, on rayon's global pool.
//!
//! A batch is cut into chunks of [`CHUNK`] images. Each chunk runs its whole forward and
//! backward pass on one thread (im2col + GEMM convolutions, fused bias/ReLU/max-pool, dense
//! layers, softmax cross-entropy), leaving its share of the conv gradients in its own buffers.
//! Then each block of parameters is finished on one thread: its gradient summed over the
//! chunks in chunk order (dense weights as one accumulating GEMM per chunk), and Adam applied
//! to it. The pieces of work are fixed, never sized by the thread count, so a seed gives
//! bit-identical weights on any number of threads.
//!
//! The semantics are those of [`Network::forward`] with candle's autograd and
//! [`Adam::backward_step`]: same weight layout (`conv1.weight` `[k*k*c, filters]`, bias
//! apart), ReLU with gradient 0 at 0, 2x2 max-pool (floor) routing to the first positive
//! maximum, mean cross-entropy over the batch, and Adam operation for operation (flushing
//! subnormal moments, the same step counter). [`Engine::trainer`] and [`Engine::sync_to`]
//! convert from and to a [`Network`] and its [`Adam`], so checkpoints keep their format and a
//! run can be saved and resumed exactly at any batch. candle's graph stays the path for other
//! devices, and the reference the tests hold this one to.

mod adam;
mod explain;
mod gemm;
mod infer;
mod kernels;
mod plan;
mod simd;
mod sparse;
mod step;
#[cfg(test)]
mod tests;
mod winograd;
mod workspace;

use std::collections::HashMap;

use candle_core::Tensor;

use super::adam::Adam;
use super::network::Network;
pub use explain::Seed;
use plan::Plan;
use workspace::{Mode, Workspace};

/// Images per piece of work: a batch is split into chunks of this many, each on one thread.
/// Fixed (never derived from the thread count), so results do not depend on it.
pub const CHUNK: usize = 16;

/// Why the fused engine could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum FusedError {
    #[error("architecture '{0}': {1}")]
    Arch(String, String),
    #[error("network tensor {index} has {found} values, the architecture needs {expected}")]
    Shape {
        index: usize,
        found: usize,
        expected: usize,
    },
    #[error(
        "{images} pixel values do not make {labels} images of {} pixels",
        crate::data::PIXELS
    )]
    Images { images: usize, labels: usize },
    #[error("a batch of {found} images exceeds the {capacity} this engine was built for")]
    Batch { found: usize, capacity: usize },
    #[error("label {0} is not a class (0-9)")]
    Label(u8),
    #[error("this engine was built for {built}, not {asked}")]
    Mode {
        built: &'static str,
        asked: &'static str,
    },
    #[error("optimizer state: {0}")]
    Optimizer(String),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// One parameter tensor: values, Adam's moments and the gradient of the step in progress
/// (empty when the engine does not train), and for the weights of a pooling conv block whose
/// input gradient is needed, their transpose `[filters, patch]` (else empty).
#[derive(Debug, Clone)]
struct Param {
    w: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
    g: Vec<f32>,
    t: Vec<f32>,
    /// For conv weights computed by Winograd's method, their transform (else empty).
    u: Vec<f32>,
}

/// The parameters in the [`Network`]'s variable order.
type Params = [Param];

/// Adam's settings and progress, as in [`Adam`].
#[derive(Debug, Clone, Copy)]
struct AdamState {
    step: u64,
    beta1: f64,
    beta2: f64,
    epsilon: f64,
}

/// A network's weights with preallocated buffers for training ([`Engine::trainer`]),
/// inference ([`Engine::inference`]) or input gradients ([`Engine::inverter`]).
#[derive(Debug)]
pub struct Engine {
    plan: Plan,
    params: Vec<Param>,
    mode: Mode,
    /// One workspace per chunk of a training batch, or per chunk in flight in inference.
    chunks: Vec<Workspace>,
    /// Pixels of each workspace's chunk as floats (inference from bytes).
    inputs: Vec<Vec<f32>>,
    adam: AdamState,
}

impl Engine {
    /// An engine that trains `net` with `adam`'s moments and settings, in batches of up to
    /// `batch` images. [`Engine::sync_to`] writes the result back.
    pub fn trainer(net: &Network, adam: &Adam, batch: usize) -> Result<Self, FusedError> {
        let mut engine = Self::build(net, Mode::Train, batch.max(1).div_ceil(CHUNK), batch)?;
        let state = adam.state()?;
        for (i, p) in engine.params.iter_mut().enumerate() {
            for (prefix, slot) in [("m", &mut p.m), ("v", &mut p.v)] {
                let t = state
                    .get(&format!("{prefix}.{i}"))
                    .ok_or_else(|| FusedError::Optimizer(format!("no '{prefix}.{i}'")))?;
                let values = t.flatten_all()?.to_vec1::<f32>()?;
                if values.len() != p.w.len() {
                    return Err(FusedError::Optimizer(format!(
                        "'{prefix}.{i}' has the wrong shape"
                    )));
                }
                *slot = values;
            }
            p.g = vec![0.0; p.w.len()];
        }
        engine.adam = AdamState {
            step: adam.step,
            beta1: adam.beta1,
            beta2: adam.beta2,
            epsilon: adam.epsilon,
        };
        Ok(engine)
    }

    /// An engine that classifies with `net`'s weights (a copy), a few chunks at a time.
    pub fn inference(net: &Network) -> Result<Self, FusedError> {
        let lanes = 2 * rayon::current_num_threads().max(1);
        Self::build(net, Mode::Infer, lanes, CHUNK)
    }

    /// An engine for one image at a time: its logits and their gradient with respect to the
    /// pixels, with `net`'s weights (a copy) held constant.
    pub fn inverter(net: &Network) -> Result<Self, FusedError> {
        Self::build(net, Mode::InputGradient, 1, 1)
    }

    /// Copies `net`'s weights and allocates `lanes` workspaces for chunks of up to
    /// `min(CHUNK, images)` images.
    fn build(net: &Network, mode: Mode, lanes: usize, images: usize) -> Result<Self, FusedError> {
        let plan = Plan::new(&net.spec).map_err(|e| FusedError::Arch(net.spec.name.clone(), e))?;
        let lens = plan.tensor_lens();
        let mut params = Vec::with_capacity(lens.len());
        for (index, (var, &expected)) in net.vars().zip(&lens).enumerate() {
            let w = var.as_tensor().flatten_all()?.to_vec1::<f32>()?;
            if w.len() != expected {
                return Err(FusedError::Shape {
                    index,
                    found: w.len(),
                    expected,
                });
            }
            params.push(Param {
                w,
                m: Vec::new(),
                v: Vec::new(),
                g: Vec::new(),
                t: Vec::new(),
                u: Vec::new(),
            });
        }
        if params.len() != lens.len() {
            return Err(FusedError::Shape {
                index: params.len(),
                found: 0,
                expected: lens[params.len()],
            });
        }
        // Transposed weights for the sparse input gradient of pooling blocks.
        for (l, g) in plan.convs.iter().enumerate() {
            let needed = match mode {
                Mode::Infer => false,
                Mode::InputGradient => true,
                Mode::Train => l > 0,
            };
            if needed && workspace::sparse_block(g) {
                params[plan.conv_tensor(l)].t = vec![0.0; g.patch() * g.f];
            }
            if workspace::winograd_block(g, mode) {
                params[plan.conv_tensor(l)].u = vec![0.0; winograd::weights_len(g)];
            }
        }
        let capacity = images.clamp(1, CHUNK);
        let chunks = (0..lanes.max(1))
            .map(|_| Workspace::new(&plan, capacity, mode))
            .collect();
        let inputs = if mode == Mode::Infer {
            vec![vec![0.0; capacity * crate::data::PIXELS]; lanes.max(1)]
        } else {
            Vec::new()
        };
        let mut engine = Self {
            plan,
            params,
            mode,
            chunks,
            inputs,
            adam: AdamState {
                step: 0,
                beta1: 0.9,
                beta2: 0.999,
                epsilon: 1e-7,
            },
        };
        engine.prepare_weights();
        Ok(engine)
    }

    /// Refreshes the transposed and transformed copies of the weights that have them.
    fn prepare_weights(&mut self) {
        for (l, g) in self.plan.convs.iter().enumerate() {
            let p = &mut self.params[self.plan.conv_tensor(l)];
            if !p.t.is_empty() {
                sparse::transpose(&p.w, g.patch(), g.f, &mut p.t);
            }
            if !p.u.is_empty() {
                winograd::transform_weights(g, &p.w, &mut p.u);
            }
        }
    }

    /// Fails unless the engine was built for `mode`.
    fn expect_mode(&self, mode: Mode) -> Result<(), FusedError> {
        let name = |m: Mode| match m {
            Mode::Infer => "inference",
            Mode::InputGradient => "input gradients",
            Mode::Train => "training",
        };
        if self.mode == mode {
            Ok(())
        } else {
            Err(FusedError::Mode {
                built: name(self.mode),
                asked: name(mode),
            })
        }
    }

    /// Adam updates applied so far.
    pub fn adam_step(&self) -> u64 {
        self.adam.step
    }

    /// Writes the weights into `net`'s variables and, for a trainer, the moments and step
    /// count into `adam`: the two then continue exactly where the engine stands.
    pub fn sync_to(&self, net: &Network, adam: &mut Adam) -> Result<(), FusedError> {
        for (var, p) in net.vars().zip(&self.params) {
            var.set(&Tensor::from_slice(&p.w, var.shape(), var.device())?)?;
        }
        if self.mode != Mode::Train {
            return Ok(());
        }
        let mut state = HashMap::new();
        for (i, (var, p)) in net.vars().zip(&self.params).enumerate() {
            for (prefix, values) in [("m", &p.m), ("v", &p.v)] {
                let t = Tensor::from_slice(values, var.shape(), var.device())?;
                state.insert(format!("{prefix}.{i}"), t);
            }
        }
        adam.restore(&state, self.adam.step)
            .map_err(FusedError::Optimizer)
    }
}
