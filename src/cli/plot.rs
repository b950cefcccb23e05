//! `--plot FILE`: a command's charts written as a picture, next to what it prints.

use std::path::PathBuf;

use clap::Args;

use classgen::text::charts::Figure;
use classgen::text::plot::{self, Format};

use super::console::note;

/// The `--plot` flag of the commands that draw charts.
#[derive(Debug, Clone, Default, Args)]
pub struct PlotArgs {
    /// Also write the charts as a 1200x800 picture: PNG, or SVG when FILE ends in .svg (give
    /// the flag twice for both).
    #[arg(long = "plot", value_name = "FILE", value_parser = picture_file)]
    files: Vec<PathBuf>,
}

/// A `--plot` file name: it must end in .png or .svg.
fn picture_file(name: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(name);
    match Format::of(&path) {
        Some(_) => Ok(path),
        None => Err("expected a file name ending in .png or .svg".into()),
    }
}

impl PlotArgs {
    /// Writes `figures` (panels of one picture) to every `--plot` file, saying where.
    pub fn write(&self, figures: &[Figure]) -> anyhow::Result<()> {
        for path in &self.files {
            plot::write(path, figures, plot::SIZE)?;
            note!("plot: {}", path.display());
        }
        Ok(())
    }

    /// Whether a picture was asked for.
    pub fn wanted(&self) -> bool {
        !self.files.is_empty()
    }
}
