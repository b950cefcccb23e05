//! `classgen gpu-check`: a GPU against the CPU, agreement then speed, as one Markdown report
//! (what `scripts/gpu-check.sh` runs on a GPU machine).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use classgen::data::source::{load_dir, load_sample};
use classgen::data::DatasetKind;
use classgen::device::DeviceSpec;
use classgen::gpucheck::{self, Plan};

use super::console::{note, out};

/// Flags of `classgen gpu-check`.
#[derive(Debug, Args)]
pub struct GpuCheckArgs {
    /// The GPU to compare with the CPU: cuda or cuda:N.
    #[arg(long, default_value = "cuda:0")]
    device: String,
    /// Full MNIST (the four IDX files) for the speed figures; without it they are measured on
    /// the bundled sample and scaled. The agreement checks always use the sample.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Write the Markdown report to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
}

/// Runs `classgen gpu-check`.
pub fn run(args: GpuCheckArgs) -> anyhow::Result<()> {
    if classgen::device::parse(&args.device).map_err(anyhow::Error::msg)? == DeviceSpec::Cpu {
        anyhow::bail!("--device cpu: gpu-check compares the CPU with a GPU; name one (cuda:N)");
    }
    let device = classgen::device::open(&args.device).context("gpu-check: no GPU to check")?;
    let sample = load_sample().context("loading the bundled sample")?;
    let full = match &args.data_dir {
        Some(dir) => Some(load_dir(dir, DatasetKind::Mnist)?),
        None => None,
    };
    let plan = Plan::new(&device, &sample, full.as_ref().unwrap_or(&sample));
    note!("gpu-check: cpu vs {}", classgen::device::describe(&device));
    let report = gpucheck::run(&plan, &|line| note!("{line}"))?;
    let text = report.markdown(&args.device);
    match &args.report {
        Some(path) => {
            classgen::fsutil::write_atomic(path, text.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            note!("report: {}", path.display());
        }
        None => out!("{text}"),
    }
    match report.failed() {
        0 => Ok(()),
        failed => anyhow::bail!(
            "{failed} of {} agreement checks out of tolerance (see the report)",
            report.checks.len()
        ),
    }
}
