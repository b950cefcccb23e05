//! Data for the benchmarks: full MNIST from `CLASSGEN_BENCH_DATA` or `../shared/data/mnist` when
//! present (development machines), else the bundled sample.

use std::path::PathBuf;

use classgen::data::source::{load_dir, load_sample};
use classgen::data::{Dataset, DatasetKind};

/// The benchmark data set, saying which one it is.
pub fn bench_data() -> anyhow::Result<Dataset> {
    let dir = std::env::var_os("CLASSGEN_BENCH_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../shared/data/mnist"));
    match load_dir(&dir, DatasetKind::Mnist) {
        Ok(d) => Ok(d),
        Err(_) => {
            eprintln!(
                "(full MNIST not found at {}: using the bundled sample)",
                dir.display()
            );
            Ok(load_sample()?)
        }
    }
}
