//! Architectures as data: the seed CNN and every variant are [`ArchSpec`]s, not code.

use serde::{Deserialize, Serialize};

use crate::data::{CLASSES, SIDE};

/// One convolution block: `filters` 3x3 (or `kernel`) filters, ReLU, optional 2x2 max-pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvSpec {
    pub filters: usize,
    #[serde(default = "default_kernel")]
    pub kernel: usize,
    #[serde(default = "default_true")]
    pub pool: bool,
}

fn default_kernel() -> usize {
    3
}

fn default_true() -> bool {
    true
}

/// A CNN: conv blocks, flatten, an optional ReLU dense layer, then a dense layer to the classes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchSpec {
    pub name: String,
    pub convs: Vec<ConvSpec>,
    /// Width of the hidden dense layer; `None` goes straight from the flatten to the classes.
    pub dense: Option<usize>,
}

/// Shape of a tensor through the network, and the parameter count of each layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerShape {
    pub name: String,
    /// Rows and columns of a weight matrix (bias included as its own count).
    pub weight: (usize, usize),
    pub bias: usize,
}

impl ArchSpec {
    /// The study's network: Conv 32, pool, Conv 64, pool, dense 128, dense 10 (225,034 parameters).
    pub fn seed() -> Self {
        Self {
            name: "seed".into(),
            convs: vec![conv(32, true), conv(64, true)],
            dense: Some(128),
        }
    }

    /// Checks the spec produces a non-empty feature map; the error says why not.
    pub fn validate(&self) -> Result<(), String> {
        let mut side = SIDE;
        for (i, c) in self.convs.iter().enumerate() {
            if c.filters == 0 || c.kernel == 0 || c.kernel > side {
                return Err(format!(
                    "{}: conv {} ({} filters, kernel {}) does not fit a {side}x{side} input",
                    self.name,
                    i + 1,
                    c.filters,
                    c.kernel
                ));
            }
            side = side + 1 - c.kernel;
            if c.pool {
                side /= 2;
            }
            if side == 0 {
                return Err(format!("{}: conv {} leaves no pixels", self.name, i + 1));
            }
        }
        if self.dense == Some(0) {
            return Err(format!("{}: dense width must be at least 1", self.name));
        }
        Ok(())
    }

    /// Every weight layer in order, with its shape.
    pub fn layers(&self) -> Vec<LayerShape> {
        let mut side = SIDE;
        let mut channels = 1;
        let mut layers = Vec::new();
        for (i, c) in self.convs.iter().enumerate() {
            layers.push(LayerShape {
                name: format!("conv{}", i + 1),
                weight: (c.kernel * c.kernel * channels, c.filters),
                bias: c.filters,
            });
            channels = c.filters;
            side = side + 1 - c.kernel;
            if c.pool {
                side /= 2;
            }
        }
        let mut width = side * side * channels;
        if let Some(d) = self.dense {
            layers.push(LayerShape {
                name: "dense".into(),
                weight: (width, d),
                bias: d,
            });
            width = d;
        }
        layers.push(LayerShape {
            name: "out".into(),
            weight: (width, CLASSES),
            bias: CLASSES,
        });
        layers
    }

    /// Number of trainable parameters.
    pub fn params(&self) -> usize {
        self.layers()
            .iter()
            .map(|l| l.weight.0 * l.weight.1 + l.bias)
            .sum()
    }
}

/// A conv block of `filters` 3x3 filters.
pub fn conv(filters: usize, pool: bool) -> ConvSpec {
    ConvSpec {
        filters,
        kernel: 3,
        pool,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_network_has_225_034_parameters() {
        assert_eq!(ArchSpec::seed().params(), 225_034);
        let flatten = ArchSpec::seed().layers()[2].weight.0;
        assert_eq!(flatten, 1600);
    }

    #[test]
    fn a_spec_that_shrinks_to_nothing_is_rejected() {
        let spec = ArchSpec {
            name: "tiny".into(),
            convs: vec![conv(8, true); 5],
            dense: None,
        };
        assert!(spec.validate().unwrap_err().contains("tiny"));
    }
}
