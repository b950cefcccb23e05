//! `classgen eval`: a training run's loss and accuracy on the test split of its own data (or of
//! the same data from another source).

use clap::Args;

use classgen::config::Config;
use classgen::jobs::models::CnnModel;
use classgen::jobs::train::check_same_data;
use classgen::model::train::evaluate;
use classgen::runs::{DataIdentity, RunKind, RunStore};

use super::console::{note, out};
use super::DataArgs;

/// Flags of `classgen eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The training run: its directory or its name under the runs directory.
    #[arg(value_name = "RUN")]
    run: String,
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
    let store = RunStore::new(&config.paths.runs);
    let info = store.find(&args.run)?.expect_kind(RunKind::Train)?;
    let data = if args.data.given() {
        let data = super::load_data(config)?;
        check_same_data(&info, &DataIdentity::of(&data))?;
        data
    } else {
        super::load_recorded(config, &info.record.data)?
    };
    if data.test.is_empty() {
        anyhow::bail!(
            "{}: the test split has no images, so nothing can be evaluated",
            data.origin
        );
    }
    let device = classgen::device::open(&config.train.device)?;
    let cnn = CnnModel::load(info, &device)?;
    note!("model: {}", cnn.describe());
    let started = std::time::Instant::now();
    let (loss, accuracy) = evaluate(&cnn.network, &data.test, config.train.eval_batch)?;
    let seconds = started.elapsed().as_secs_f64();
    let meta = &cnn.meta;
    if args.json {
        let json = serde_json::json!({
            "run": cnn.run.name, "run_dir": cnn.run.dir, "arch": meta.arch.name,
            "params": meta.params, "epochs": meta.progress.position.epoch,
            "data": DataIdentity::of(&data), "test_loss": loss, "test_accuracy": accuracy,
            "seconds": seconds,
        });
        out!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        out!(
            "{}: {} ({} parameters), epoch {}: test loss {loss:.4}, accuracy {:.2}% on {} images ({seconds:.2} s)",
            cnn.run.name,
            meta.arch.name,
            meta.params,
            meta.progress.position.epoch,
            accuracy * 100.0,
            data.test.len()
        );
    }
    Ok(())
}
