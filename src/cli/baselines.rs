//! `classgen baselines`: fit the classical models, score them and the CNN on the test split,
//! print one table; the job keeps the results (and each model's test probabilities) in its run.

use clap::Args;

use classgen::baselines::BaselineKind;
use classgen::config::Config;
use classgen::jobs::baselines::{self as job, BaselinesEvent, BaselinesPlan, Row};
use classgen::runs::RunStore;
use classgen::text::{format, results};

use super::console::{self, note, out};
use super::{DataArgs, NeedCnn};

/// Flags of `classgen baselines`.
#[derive(Debug, Args)]
pub struct BaselinesArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Models to fit, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',')]
    models: Option<Vec<BaselineKind>>,
    /// Neighbours that vote in k-NN.
    #[arg(long)]
    k: Option<usize>,
    /// The CNN of the cnn row: a training run's directory or name (default: the newest
    /// finished one on the same data).
    #[arg(long, value_name = "RUN")]
    run: Option<String>,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Runs `classgen baselines`.
pub fn run(args: BaselinesArgs, config: &mut Config) -> anyhow::Result<()> {
    args.data.apply(config);
    if let Some(models) = &args.models {
        config.baselines.models = models.clone();
    }
    if let Some(k) = args.k {
        config.baselines.k = k;
    }
    config.validate()?;
    classgen::runtime::set_threads(config.train.threads);
    let inputs = super::inputs(config, &args.data, args.run.as_deref(), NeedCnn::Optional)?;
    let store = RunStore::new(&config.paths.runs);
    let plan = BaselinesPlan {
        models: config.baselines.models.clone(),
        settings: config.baselines.clone(),
        cnn: inputs.cnn,
        eval_batch: config.train.eval_batch,
        carry: None,
    };
    let job = job::spawn(plan, inputs.data, &store, console::cancel_flag())?;
    super::announce(job.run());
    for event in job.events().iter() {
        match event {
            BaselinesEvent::Planned { models } => note!("scoring {}", models.join(", ")),
            BaselinesEvent::Fitting {
                model,
                train_images,
            } => note!("fitting {model} on {train_images} images ..."),
            BaselinesEvent::Predicting { .. } | BaselinesEvent::Carried(_) => {}
            BaselinesEvent::Scored(row) => {
                note!("{}: accuracy {}", row.model, format::percent(row.accuracy))
            }
            BaselinesEvent::Notice { message } => note!("{message}"),
        }
    }
    let result = job.join()?;
    if args.json {
        out!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        for line in table(&result.rows) {
            out!("{line}");
        }
        if !result.complete {
            note!("stopped before every model was scored; the rows so far are saved");
        }
    }
    Ok(())
}

/// The table of rows: model, accuracy, fit and predict seconds, size, note.
pub fn table(rows: &[Row]) -> Vec<String> {
    let cells: Vec<Vec<String>> = rows.iter().map(results::baseline_cells).collect();
    format::table(
        &["model", "accuracy", "fit s", "predict s", "size", "note"],
        &cells,
        &[1, 2, 3, 4],
    )
}
