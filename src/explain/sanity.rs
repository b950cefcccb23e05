//! The sanity check of Adebayo et al. (2018): the maps again after the network's weights are
//! randomised layer by layer from the top (cascading: out, then dense too, ...), and the
//! Spearman rank correlation of each with the trained network's map. A method whose map
//! still correlates once every layer is random shows the image, not the model: it is marked
//! as not explaining this model.

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::{explain_targets, ExplainError, Explainer, Method, Settings};
use crate::data::PIXELS;
use crate::model::Network;

/// A rank correlation at or above this with every layer random: the map survives
/// randomisation, so it does not explain the model.
pub const SURVIVES: f64 = 0.5;

/// A map maker under test: the maps (`n` rows of [`PIXELS`]) of images `xs` for `targets`.
pub type MapFn<'a> =
    dyn Fn(&mut Explainer, &[f32], &[usize]) -> Result<Vec<f32>, ExplainError> + 'a;

/// One method's correlations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SanityRow {
    pub method: String,
    /// Mean Spearman correlation with the trained map after each step of the cascade.
    pub correlations: Vec<f64>,
    /// Whether the map changed once every layer was random (the last correlation is below
    /// [`SURVIVES`]).
    pub explains: bool,
}

/// The sanity table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sanity {
    pub images: usize,
    /// Each step's description: the layers random so far (`out`, `out+dense`, ...).
    pub steps: Vec<String>,
    pub rows: Vec<SanityRow>,
}

/// A map maker of one of the built-in methods.
pub fn method(method: Method, settings: Settings) -> Box<MapFn<'static>> {
    Box::new(move |model, xs, targets| {
        let e = explain_targets(model, xs, targets, &[method], &settings)?;
        Ok(e.images
            .into_iter()
            .flat_map(|im| im.maps.into_iter().flat_map(|(_, m)| m))
            .collect())
    })
}

/// Ranks of `v` from 0, ties sharing their mean rank.
fn ranks(v: &[f32]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
            j += 1;
        }
        let mean = (i + j) as f64 / 2.0;
        for &k in &order[i..=j] {
            r[k] = mean;
        }
        i = j + 1;
    }
    r
}

/// Pearson correlation (0 when either side is constant).
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().max(1) as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        ab += (x - ma) * (y - mb);
        aa += (x - ma) * (x - ma);
        bb += (y - mb) * (y - mb);
    }
    if aa == 0.0 || bb == 0.0 {
        0.0
    } else {
        ab / (aa * bb).sqrt()
    }
}

/// Spearman's rank correlation of two maps.
pub fn spearman(a: &[f32], b: &[f32]) -> f64 {
    pearson(&ranks(a), &ranks(b))
}

/// A CPU copy of `net` with its top `random` layers replaced by a fresh initialisation
/// (seeded by `seed`; biases 0).
fn randomised(net: &Network, random: usize, seed: u64) -> anyhow::Result<Network> {
    let cpu = Device::Cpu;
    let copy = Network::new(&net.spec, 0, &cpu)?;
    let fresh = Network::new(&net.spec, seed, &cpu)?;
    let layers = net.spec.layers().len();
    for (i, ((dst, orig), new)) in copy.vars().zip(net.vars()).zip(fresh.vars()).enumerate() {
        let src: Tensor = if i / 2 >= layers - random {
            new.as_tensor().clone()
        } else {
            orig.as_tensor().to_device(&cpu)?
        };
        dst.set(&src)?;
    }
    Ok(copy)
}

/// The cascade over `net` for the images `xs` and their `targets`, per map maker
/// (`(name, maker)`). `cancelled` is polled between steps (the table then has the steps done).
pub fn check(
    net: &Network,
    xs: &[f32],
    targets: &[usize],
    makers: &[(String, Box<MapFn>)],
    seed: u64,
    cancelled: &dyn Fn() -> bool,
) -> anyhow::Result<Sanity> {
    let n = xs.len() / PIXELS;
    let mut trained = Explainer::cnn(net)?;
    let originals: Vec<Vec<f32>> = makers
        .iter()
        .map(|(_, f)| f(&mut trained, xs, targets))
        .collect::<Result<_, _>>()?;
    let names: Vec<String> = net
        .spec
        .layers()
        .into_iter()
        .map(|l| l.name)
        .rev()
        .collect();
    let mut steps = Vec::new();
    let mut rows: Vec<SanityRow> = makers
        .iter()
        .map(|(name, _)| SanityRow {
            method: name.clone(),
            correlations: Vec::new(),
            explains: false,
        })
        .collect();
    for k in 1..=names.len() {
        if cancelled() {
            break;
        }
        steps.push(names[..k].join("+"));
        let mut model = Explainer::cnn(&randomised(net, k, seed)?)?;
        for ((_, f), (row, original)) in makers.iter().zip(rows.iter_mut().zip(&originals)) {
            let maps = f(&mut model, xs, targets)?;
            let mean = original
                .chunks_exact(PIXELS)
                .zip(maps.chunks_exact(PIXELS))
                .map(|(a, b)| spearman(a, b))
                .sum::<f64>()
                / n.max(1) as f64;
            row.correlations.push(mean);
        }
    }
    for row in &mut rows {
        row.explains =
            steps.len() == names.len() && row.correlations.last().is_some_and(|&c| c < SURVIVES);
    }
    Ok(Sanity {
        images: n,
        steps,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_sees_ranks_only() {
        let a = [1.0, 2.0, 3.0, 4.0];
        assert!((spearman(&a, &[10.0, 20.0, 30.0, 400.0]) - 1.0).abs() < 1e-12);
        assert!((spearman(&a, &[4.0, 3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        assert_eq!(ranks(&[5.0, 1.0, 5.0]), vec![1.5, 0.0, 1.5]);
    }
}
