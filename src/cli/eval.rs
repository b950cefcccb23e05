//! `classgen eval`: a saved checkpoint's loss and accuracy on the test split.

use std::path::PathBuf;

use clap::Args;

use classgen::config::Config;
use classgen::model::{checkpoint, train::evaluate};

use super::DataArgs;

/// Flags of `classgen eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The run directory holding the checkpoint.
    run: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// cpu, cuda or cuda:N.
    #[arg(long)]
    device: Option<String>,
    /// Print JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Runs `classgen eval`.
pub fn run(args: EvalArgs, config: &mut Config) -> anyhow::Result<()> {
    args.data.apply(config);
    if let Some(d) = &args.device {
        config.train.device = d.clone();
    }
    config.validate()?;
    let device = classgen::device::open(&config.train.device)?;
    let (net, meta) = checkpoint::load_network(&args.run, &device)?;
    let data = super::load_data(config, Some(meta.dataset))?.dataset;
    let started = std::time::Instant::now();
    let (loss, accuracy) = evaluate(&net, &data.test, config.train.eval_batch)?;
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        let out = serde_json::json!({
            "run_dir": args.run, "arch": meta.arch.name, "params": meta.params,
            "dataset": meta.dataset, "test_images": data.test.len(),
            "test_loss": loss, "test_accuracy": accuracy, "seconds": seconds,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{}: {} ({} parameters), epoch {}: test loss {loss:.4}, accuracy {:.2}% on {} images ({seconds:.2} s)",
            args.run.display(),
            meta.arch.name,
            meta.params,
            meta.position.epoch,
            accuracy * 100.0,
            data.test.len()
        );
    }
    Ok(())
}
