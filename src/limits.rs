//! Upper bounds on every size that drives an allocation, in one place: config keys, flags,
//! architectures (also those a checkpoint carries) and the files classgen reads. Each is checked
//! before anything is allocated from it; `config.toml` and the README document them.

/// `config.toml` (or `--config FILE`): 1 MiB.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// An IDX file, raw on disk or once decompressed: 1 GiB (MNIST's train images are 47 MB).
pub const MAX_IDX_BYTES: u64 = 1 << 30;
/// A parquet file downloaded from the Hub: 1 GiB (MNIST's train file is about 16 MB).
pub const MAX_DOWNLOAD_BYTES: u64 = 1 << 30;
/// Largest image read, in pixels (64 megapixels, e.g. 8000x8000), checked from the header before
/// anything is decoded.
pub const MAX_PIXELS: u64 = 64_000_000;
/// Rows of a downloaded parquet file (as many 28x28 images as fit in [`MAX_IDX_BYTES`]).
pub const MAX_PARQUET_ROWS: u64 = MAX_IDX_BYTES / crate::data::PIXELS as u64;
/// A `.safetensors` file (weights or Adam's moments of a [`MAX_PARAMS`] network fit): 1 GiB.
pub const MAX_SAFETENSORS_BYTES: u64 = 1 << 30;

/// `data.hub_timeout_secs`: seconds without progress before a Hub request fails.
pub const MAX_HUB_TIMEOUT_SECS: u64 = 3600;

/// `train.epochs` and `ablation.epochs` (`--epochs`).
pub const MAX_EPOCHS: usize = 10_000;
/// `ablation.seeds` (`--seeds`): runs per variant.
pub const MAX_SEEDS: usize = 100;
/// Most ablation runs trained at the same time (`ablation.runs_at_once`).
pub const MAX_RUNS_AT_ONCE: usize = 64;

/// `train.batch_size` and `robustness.batch`: images per forward and backward pass.
pub const MAX_BATCH: usize = 4096;
/// `train.eval_batch`: images per forward pass when evaluating (MNIST's test split).
pub const MAX_EVAL_BATCH: usize = 10_000;
/// Activations (f32) one batch may hold: 2^30, 4 GiB; the backward pass about doubles it.
/// [`crate::model::ArchSpec::max_batch`] turns this into a batch size per architecture.
pub const MAX_BATCH_FLOATS: usize = 1 << 30;

/// Convolution blocks of an architecture.
pub const MAX_CONVS: usize = 8;
/// Filters of one convolution.
pub const MAX_FILTERS: usize = 1024;
/// Width of the hidden dense layer.
pub const MAX_DENSE: usize = 16_384;
/// Trainable parameters of an architecture (200 MB of f32 weights; training holds about four
/// times that with the gradients and Adam's two moments).
pub const MAX_PARAMS: usize = 50_000_000;

/// `baselines.histogram_bins`, `baselines.ece_bins` (`confidence --bins`).
pub const MAX_BINS: usize = 1000;
/// `baselines.k` (`--k`): neighbours that vote in k-NN.
pub const MAX_K: usize = 1000;
/// `baselines.forest_trees`.
pub const MAX_TREES: usize = 1000;
/// `baselines.max_depth` (0 = grow until pure).
pub const MAX_DEPTH: usize = 1000;
/// `baselines.svm_train_images` (0 = all): MNIST's training split; each class pair holds a
/// kernel matrix of m² floats for its m images.
pub const MAX_SVM_IMAGES: usize = 60_000;

/// `robustness.sigmas` and `robustness.epsilons`: one noisy copy of the test images per level.
pub const MAX_LEVELS: usize = 16;

/// `invert.max_steps`, `invert.prototype.max_steps`, `invert.knn.max_steps`: every step's
/// image is kept for the trajectory strip and GIF.
pub const MAX_INVERT_STEPS: usize = 100_000;
/// `invert.strip`: images in a trajectory strip.
pub const MAX_STRIP: usize = 32;
/// `invert.gif_frames`: images in a trajectory GIF.
pub const MAX_GIF_FRAMES: usize = 256;
/// `invert.prototype.starts`: noise starts per target.
pub const MAX_STARTS: usize = 100;

/// Most worker threads (`train.threads`, `invert.threads`): the CPUs this process may use
/// (1 if the system cannot tell).
pub fn max_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Checks `value` is in `1..=max`; the message says the range and what was found.
pub fn check_range(value: usize, max: usize) -> Result<(), String> {
    if (1..=max).contains(&value) {
        Ok(())
    } else {
        Err(format!("must be 1..={max}, found {value}"))
    }
}

/// Checks `value` is a finite number above 0.
pub fn check_positive<T: Into<f64> + std::fmt::Display + Copy>(value: T) -> Result<(), String> {
    let v: f64 = value.into();
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(format!("must be a positive number, found {value}"))
    }
}

/// Checks `value` is in `0..=max`, 0 meaning `zero` (e.g. "all"); the message says so.
pub fn check_max(value: usize, max: usize, zero: &str) -> Result<(), String> {
    if value <= max {
        Ok(())
    } else {
        Err(format!("must be 0..={max} (0 = {zero}), found {value}"))
    }
}

/// Checks a thread count: 0 (every core) up to [`max_threads`].
pub fn check_threads(value: usize) -> Result<(), String> {
    let cpus = max_threads();
    if value <= cpus {
        Ok(())
    } else {
        Err(format!(
            "must be 0..={cpus} (0 = every core; this machine has {cpus} CPUs for classgen), found {value}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_name_the_bound_and_the_value() {
        assert!(check_range(1, 4).is_ok() && check_range(4, 4).is_ok());
        assert_eq!(check_range(0, 4).unwrap_err(), "must be 1..=4, found 0");
        assert_eq!(check_range(5, 4).unwrap_err(), "must be 1..=4, found 5");
        assert!(check_max(0, 4, "all").is_ok());
        assert!(check_max(5, 4, "all").unwrap_err().contains("0 = all"));
    }

    #[test]
    fn threads_are_bounded_by_the_cpus() {
        let cpus = max_threads();
        assert!(check_threads(0).is_ok() && check_threads(cpus).is_ok());
        let err = check_threads(cpus + 1).unwrap_err();
        assert!(err.contains(&format!("{cpus} CPUs")), "{err}");
    }
}
