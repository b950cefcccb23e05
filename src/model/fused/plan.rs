//! The geometry of an [`ArchSpec`] as the fused kernels see it: every conv block's input, output
//! and pooled sides, every dense layer's widths, and where each parameter tensor sits.

use crate::data::{CLASSES, SIDE};
use crate::model::ArchSpec;

/// One conv block on `[h, w, c]` images (NHWC): a `k`x`k` valid convolution to `f` filters,
/// bias, ReLU, and optionally a 2x2 max-pool (floor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ConvGeom {
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub k: usize,
    pub f: usize,
    pub pool: bool,
}

impl ConvGeom {
    /// Sides of the convolution's output.
    pub fn out(&self) -> (usize, usize) {
        (self.h + 1 - self.k, self.w + 1 - self.k)
    }

    /// Sides after the optional pool: the block's activation.
    pub fn act(&self) -> (usize, usize) {
        let (oh, ow) = self.out();
        if self.pool {
            (oh / 2, ow / 2)
        } else {
            (oh, ow)
        }
    }

    /// Length of one patch (a row of the im2col matrix, and of the weight matrix's rows).
    pub fn patch(&self) -> usize {
        self.k * self.k * self.c
    }

    /// Values of one input image.
    pub fn in_len(&self) -> usize {
        self.h * self.w * self.c
    }

    /// Output positions of one image.
    pub fn positions(&self) -> usize {
        let (oh, ow) = self.out();
        oh * ow
    }

    /// Values of one image's convolution output.
    pub fn z_len(&self) -> usize {
        self.positions() * self.f
    }

    /// Values of one image's activation (pooled when the block pools).
    pub fn act_len(&self) -> usize {
        let (ah, aw) = self.act();
        ah * aw * self.f
    }
}

/// One dense layer `inputs -> outputs`, ReLU after it unless it is the output layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct DenseGeom {
    pub inputs: usize,
    pub outputs: usize,
    pub relu: bool,
}

/// Every layer of a network, in order; parameter tensors are numbered as the [`Network`]'s
/// variables: weight then bias of each conv block, of the hidden dense layer, of the output.
///
/// [`Network`]: crate::model::Network
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Plan {
    pub convs: Vec<ConvGeom>,
    pub dense: Vec<DenseGeom>,
}

impl Plan {
    /// The plan of `spec`; the error says why the spec does not fit a 28x28 image.
    pub fn new(spec: &ArchSpec) -> Result<Self, String> {
        spec.validate()?;
        let (mut h, mut w, mut c) = (SIDE, SIDE, 1);
        let mut convs = Vec::with_capacity(spec.convs.len());
        for conv in &spec.convs {
            let g = ConvGeom {
                h,
                w,
                c,
                k: conv.kernel,
                f: conv.filters,
                pool: conv.pool,
            };
            (h, w) = g.act();
            c = g.f;
            convs.push(g);
        }
        let mut width = h * w * c;
        let mut dense = Vec::with_capacity(2);
        if let Some(d) = spec.dense {
            dense.push(DenseGeom {
                inputs: width,
                outputs: d,
                relu: true,
            });
            width = d;
        }
        dense.push(DenseGeom {
            inputs: width,
            outputs: CLASSES,
            relu: false,
        });
        Ok(Self { convs, dense })
    }

    /// Element counts of the parameter tensors in the [`Network`]'s order.
    ///
    /// [`Network`]: crate::model::Network
    pub fn tensor_lens(&self) -> Vec<usize> {
        let conv = self.convs.iter().map(|g| (g.patch() * g.f, g.f));
        let dense = self.dense.iter().map(|d| (d.inputs * d.outputs, d.outputs));
        conv.chain(dense).flat_map(|(w, b)| [w, b]).collect()
    }

    /// Index of conv block `l`'s weight tensor (its bias follows).
    pub fn conv_tensor(&self, l: usize) -> usize {
        2 * l
    }

    /// Index of dense layer `j`'s weight tensor (its bias follows).
    pub fn dense_tensor(&self, j: usize) -> usize {
        2 * (self.convs.len() + j)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_counts_the_parameters_of_every_builtin_variant() {
        for (spec, _) in ArchSpec::builtins() {
            let plan = Plan::new(&spec).unwrap();
            let lens = plan.tensor_lens();
            let expected: Vec<usize> = spec
                .layers()
                .iter()
                .flat_map(|l| [l.weight.0 * l.weight.1, l.bias])
                .collect();
            assert_eq!(lens, expected, "{}", spec.name);
        }
        let seed = Plan::new(&ArchSpec::seed()).unwrap();
        assert_eq!(seed.dense[0].inputs, 1600);
        assert_eq!(seed.convs[1].out(), (11, 11));
        assert_eq!(seed.convs[1].act(), (5, 5));
    }
}
