//! The explain job's look inside the CNN: the grids of what its layers learned (conv1's
//! filters, each image's activation maps, the last convolution's channels and the dense units
//! maximised) and each
//! image's look-alike training images, for `classgen explain --layers --lookalikes K`.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};

use super::explain::{ExplainEvent, Explained};
use super::Reporter;
use crate::data::Dataset;
use crate::explain::layers::{self, MaximiseOptions, Unit};
use crate::explain::lookalike::{self, FeatureIndex, Neighbour};
use crate::model::Network;
use crate::snapshot;
use crate::text::plot::tiles::{self, Tile, TileGrid};

/// Tiles per row of the layer grids.
const PER_ROW: usize = 16;

/// The grids written by `--layers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerGrids {
    pub filters: PathBuf,
    /// One per explained image: its channels of every convolution, strongest first.
    pub activations: Vec<PathBuf>,
    /// The last convolution's channels and the hidden dense layer's units, each maximised
    /// from noise: the layer (`conv2`, `dense`) and its grid (none left when cancelled).
    pub maximised: Vec<(String, PathBuf)>,
}

/// One image's look-alike training images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lookalikes {
    pub tag: String,
    /// Nearest in the CNN's penultimate features, then in pixels; nearest first.
    pub features: Vec<Neighbour>,
    pub pixels: Vec<Neighbour>,
}

/// Rows of at most [`PER_ROW`] tiles, labelled by `label(first, last)` (1-based).
fn rows<'a>(
    tiles: Vec<Tile<'a>>,
    label: impl Fn(usize, usize) -> String,
) -> Vec<(String, Vec<Tile<'a>>)> {
    tiles
        .chunks(PER_ROW)
        .enumerate()
        .map(|(r, row)| {
            let first = r * PER_ROW + 1;
            (label(first, first + row.len() - 1), row.to_vec())
        })
        .collect()
}

/// Column titles 1..=PER_ROW (the rank, or channel, within a row).
fn columns(n: usize) -> Vec<String> {
    (1..=n.min(PER_ROW)).map(|i| i.to_string()).collect()
}

fn write(dir: &Path, name: &str, grid: &TileGrid) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
    snapshot::write_png_bytes(dir, name, &tiles::png(grid)?)
}

/// Writes the layer grids for `images` under `dir`, names starting with `run`.
pub fn write_layers(
    net: &Network,
    images: &[Explained],
    dir: &Path,
    run: &str,
    reporter: &Reporter<ExplainEvent>,
    cancel: &AtomicBool,
) -> anyhow::Result<LayerGrids> {
    let filters = layers::filters(net)?;
    let k = net.spec.convs.first().map_or(0, |c| c.kernel);
    let grid = TileGrid {
        columns: columns(filters.len()),
        rows: rows(filters.iter().map(|f| Tile::Signed(f)).collect(), |a, b| {
            format!("conv1 {a}-{b}")
        }),
    };
    let filters = write(
        dir,
        &snapshot::file_name(&[run, &format!("conv1-filters-{k}x{k}")]),
        &grid,
    )?;
    let mut activations = Vec::new();
    for im in images {
        let maps = layers::activations(net, &im.pixels)?;
        let mut grid = TileGrid {
            columns: columns(maps.iter().map(|l| l.maps.len()).max().unwrap_or(0)),
            rows: Vec::new(),
        };
        for layer in &maps {
            // Each map on its own scale, white at 0 to red (the mean orders them).
            grid.rows.extend(rows(
                layer.maps.iter().map(|m| Tile::Signed(&m.values)).collect(),
                |a, b| format!("{} {a}-{b}", layer.layer),
            ));
        }
        activations.push(write(
            dir,
            &snapshot::file_name(&[run, &im.tag, "activations"]),
            &grid,
        )?);
    }
    let mut units = vec![Unit::Conv(net.spec.convs.len().saturating_sub(1))];
    if net.spec.dense.is_some() {
        units.push(Unit::Dense);
    }
    let mut maximised = Vec::new();
    for unit in units {
        let name = unit.name();
        let count = match unit {
            Unit::Conv(l) => net.spec.convs.get(l).map_or(0, |c| c.filters),
            Unit::Dense => net.spec.dense.unwrap_or(0),
        };
        reporter.emit(ExplainEvent::Stage {
            name: format!("maximising every unit of {name}"),
            images: count,
        });
        let found = layers::maximise(
            net,
            unit,
            &MaximiseOptions::default(),
            cancel,
            &mut |_, _| {},
        )?;
        if cancel.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
        let grid = TileGrid {
            columns: columns(found.len()),
            rows: rows(found.iter().map(|p| Tile::Grey(p)).collect(), |a, b| {
                format!("{name} {a}-{b}")
            }),
        };
        let png = write(dir, &snapshot::file_name(&[run, &name, "maximised"]), &grid)?;
        maximised.push((name, png));
    }
    Ok(LayerGrids {
        filters,
        activations,
        maximised,
    })
}

/// The `k` look-alike training images of each image; `None` when cancelled.
pub fn lookalikes(
    net: &Network,
    data: &Dataset,
    images: &[Explained],
    k: usize,
    cancel: &AtomicBool,
) -> anyhow::Result<Option<Vec<Lookalikes>>> {
    let Some(mut index) = FeatureIndex::build(net, &data.train, cancel)? else {
        return Ok(None);
    };
    images
        .iter()
        .map(|im| {
            Ok(Lookalikes {
                tag: im.tag.clone(),
                features: index.nearest(&im.pixels, k)?,
                pixels: lookalike::pixel_nearest(&data.train, &im.pixels, k),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()
        .map(Some)
}
