//! Architectures as data: the seed CNN and every variant are [`ArchSpec`]s, not code.

use serde::{Deserialize, Serialize};

use crate::data::{CLASSES, SIDE};
use crate::limits::{MAX_BATCH_FLOATS, MAX_CONVS, MAX_DENSE, MAX_FILTERS, MAX_PARAMS};

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
    #[serde(default)]
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

    /// The built-in variants of the ablation study, with a description; the study's own come
    /// first, additions (not in the study) are marked as such.
    pub fn builtins() -> Vec<(ArchSpec, &'static str)> {
        let spec = |name: &str, convs, dense| ArchSpec {
            name: name.into(),
            convs,
            dense,
        };
        vec![
            (Self::seed(), "the study's network"),
            (
                spec("no-conv2", vec![conv(32, true)], Some(128)),
                "without the second convolution",
            ),
            (
                spec("no-pool1", vec![conv(32, false), conv(64, true)], Some(128)),
                "without the middle max-pool",
            ),
            (
                spec("dense64", vec![conv(32, true), conv(64, true)], Some(64)),
                "dense 64 instead of 128",
            ),
            (
                spec("narrow", vec![conv(16, true), conv(32, true)], Some(128)),
                "fewer filters (16, 32): the study's model 3",
            ),
            (
                spec("no-dense", vec![conv(32, true), conv(64, true)], None),
                "without the dense 128: the study's model 4",
            ),
            (
                spec("wide", vec![conv(64, true), conv(128, true)], Some(128)),
                "addition: twice the filters (64, 128)",
            ),
            (
                spec("tiny", vec![conv(8, true), conv(16, true)], Some(32)),
                "addition: 8 and 16 filters, dense 32",
            ),
        ]
    }

    /// A built-in architecture by name, or one of `custom` (from config.toml).
    pub fn by_name(name: &str, custom: &[ArchSpec]) -> Result<ArchSpec, String> {
        let builtins = Self::builtins();
        builtins
            .iter()
            .map(|(s, _)| s)
            .chain(custom)
            .find(|s| s.name == name)
            .cloned()
            .ok_or_else(|| {
                let known: Vec<&str> = builtins
                    .iter()
                    .map(|(s, _)| s.name.as_str())
                    .chain(custom.iter().map(|s| s.name.as_str()))
                    .collect();
                format!(
                    "unknown architecture '{name}' (known: {})",
                    known.join(", ")
                )
            })
    }

    /// Checks the spec produces a non-empty feature map within the bounds of [`crate::limits`]
    /// (convolutions, filters, dense width, parameters); the error says why not.
    pub fn validate(&self) -> Result<(), String> {
        if self.convs.len() > MAX_CONVS {
            return Err(format!(
                "{}: {} convolutions, at most {MAX_CONVS}",
                self.name,
                self.convs.len()
            ));
        }
        let mut side = SIDE;
        for (i, c) in self.convs.iter().enumerate() {
            if c.filters > MAX_FILTERS {
                return Err(format!(
                    "{}: conv {} has {} filters, at most {MAX_FILTERS}",
                    self.name,
                    i + 1,
                    c.filters
                ));
            }
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
        match self.dense {
            Some(0) => return Err(format!("{}: dense width must be at least 1", self.name)),
            Some(d) if d > MAX_DENSE => {
                return Err(format!(
                    "{}: dense width {d}, at most {MAX_DENSE}",
                    self.name
                ))
            }
            _ => {}
        }
        let params = self.params();
        if params > MAX_PARAMS {
            return Err(format!(
                "{}: {params} parameters, at most {MAX_PARAMS}",
                self.name
            ));
        }
        Ok(())
    }

    /// Activations (f32) one image holds in a forward pass: the input and every layer's
    /// output (each convolution before and after its pool). Call on a validated spec.
    pub fn activations(&self) -> usize {
        let mut side = SIDE;
        let mut total = SIDE * SIDE;
        for c in &self.convs {
            side = side + 1 - c.kernel;
            total += side * side * c.filters;
            if c.pool {
                side /= 2;
                total += side * side * c.filters;
            }
        }
        total + self.dense.unwrap_or(0) + CLASSES
    }

    /// The largest batch whose activations stay within [`MAX_BATCH_FLOATS`] (at least 1).
    pub fn max_batch(&self) -> usize {
        (MAX_BATCH_FLOATS / self.activations()).max(1)
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
    fn builtin_variants_have_pinned_parameter_counts() {
        let counts: Vec<(String, usize)> = ArchSpec::builtins()
            .into_iter()
            .map(|(s, _)| (s.name.clone(), s.params()))
            .collect();
        let expected = [
            ("seed", 225_034),
            ("no-conv2", 693_962),
            ("no-pool1", 1_199_882),
            ("dense64", 121_930),
            ("narrow", 108_618),
            ("no-dense", 34_826),
            ("wide", 485_514),
            ("tiny", 14_410),
        ];
        for ((name, count), (e_name, e_count)) in counts.iter().zip(expected) {
            assert_eq!((name.as_str(), *count), (e_name, e_count));
        }
        for (spec, _) in ArchSpec::builtins() {
            spec.validate().unwrap();
        }
    }

    #[test]
    fn unknown_architecture_lists_the_known_ones() {
        let err = ArchSpec::by_name("huge", &[]).unwrap_err();
        assert!(err.contains("huge") && err.contains("no-dense"), "{err}");
    }

    #[test]
    fn every_arch_bound_is_checked() {
        let spec = |convs: Vec<ConvSpec>, dense| ArchSpec {
            name: "big".into(),
            convs,
            dense,
        };
        let wide = |filters| ConvSpec {
            filters,
            kernel: 1,
            pool: false,
        };
        let cases = [
            (spec(vec![wide(1); MAX_CONVS + 1], None), "9 convolutions"),
            (spec(vec![wide(MAX_FILTERS + 1)], None), "1025 filters"),
            (spec(vec![], Some(1_000_000_000)), "dense width 1000000000"),
            (spec(vec![wide(64)], Some(MAX_DENSE)), "parameters, at most"),
        ];
        for (spec, what) in cases {
            let err = spec.validate().unwrap_err();
            assert!(err.contains("big") && err.contains(what), "{err}");
        }
        let at_bounds = spec(vec![wide(MAX_FILTERS), conv(MAX_FILTERS, true)], None);
        at_bounds.validate().unwrap();
        assert!(at_bounds.max_batch() * at_bounds.activations() <= MAX_BATCH_FLOATS);
    }

    #[test]
    fn activations_count_every_layer_output() {
        // 784 input, 26x26x32 conv, 13x13x32 pool, 11x11x64 conv, 5x5x64 pool, 128, 10.
        assert_eq!(
            ArchSpec::seed().activations(),
            784 + 21_632 + 5_408 + 7_744 + 1_600 + 128 + 10
        );
        for (spec, _) in ArchSpec::builtins() {
            assert!(
                spec.max_batch() >= crate::limits::MAX_EVAL_BATCH,
                "{}",
                spec.name
            );
        }
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
