//! `classgen confidence`: m(x) histograms as braille charts with labelled axes, and the
//! quantile / calibration table, for the CNN and the baselines on the test split.

use clap::Args;

use classgen::config::Config;
use classgen::jobs::confidence::{
    self as job, ConfidenceEvent, ConfidencePlan, ModelConfidence, ModelName,
};
use classgen::runs::RunStore;
use classgen::text::{charts, format, results};

use super::console::{self, note, out};
use super::{DataArgs, NeedCnn};

/// Size of a histogram chart, in characters.
const CHART: (u16, u16) = (72, 16);

/// Flags of `classgen confidence`.
#[derive(Debug, Args)]
pub struct ConfidenceArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Models, comma-separated (default: cnn and the configured baselines).
    #[arg(long, value_enum, value_delimiter = ',')]
    models: Option<Vec<ModelName>>,
    /// Neighbours that vote in k-NN.
    #[arg(long)]
    k: Option<usize>,
    /// Histogram bins over [0,1].
    #[arg(long)]
    bins: Option<usize>,
    /// Log-scale histogram heights (ln(1 + count)): most mass sits near 1.
    #[arg(long)]
    log: bool,
    /// The CNN: a training run's directory or name (default: the newest finished one on the
    /// same data).
    #[arg(long, value_name = "RUN")]
    run: Option<String>,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Runs `classgen confidence`.
pub fn run(args: ConfidenceArgs, config: &mut Config) -> anyhow::Result<()> {
    args.data.apply(config);
    if let Some(k) = args.k {
        config.baselines.k = k;
    }
    if let Some(bins) = args.bins {
        config.baselines.histogram_bins = bins;
    }
    config.validate()?;
    classgen::runtime::set_threads(config.train.threads);
    let models = args.models.clone().unwrap_or_else(|| {
        std::iter::once(ModelName::Cnn)
            .chain(config.baselines.models.iter().map(|&b| ModelName::of(b)))
            .collect()
    });
    let need = if models.contains(&ModelName::Cnn) && args.models.is_some() {
        NeedCnn::Required
    } else {
        NeedCnn::Optional
    };
    let inputs = super::inputs(config, &args.data, args.run.as_deref(), need)?;
    let plan = ConfidencePlan {
        models,
        settings: config.baselines.clone(),
        cnn: inputs.cnn,
        eval_batch: config.train.eval_batch,
    };
    let store = RunStore::new(&config.paths.runs);
    let job = job::spawn(plan, inputs.data, &store, console::cancel_flag())?;
    super::announce(job.run());
    for event in job.events().iter() {
        match event {
            ConfidenceEvent::Planned { .. } => {}
            ConfidenceEvent::Computing { model } => {
                note!("{}: computing probabilities ...", model.name())
            }
            ConfidenceEvent::Analysed(m) => {
                note!("{}: done (probabilities: {})", m.label, m.source)
            }
            ConfidenceEvent::Notice { message } => note!("{message}"),
        }
    }
    let result = job.join()?;
    if args.json {
        out!("{}", serde_json::to_string_pretty(&result)?);
        return Ok(());
    }
    for m in &result.models {
        for line in histogram(m, args.log) {
            out!("{line}");
        }
    }
    for line in table(&result.models) {
        out!("{line}");
    }
    Ok(())
}

/// A model's m(x) histogram as a braille chart, and its counts per bin under it.
pub fn histogram(m: &ModelConfidence, log: bool) -> Vec<String> {
    let chart = results::histogram_chart(m, log, charts::PALETTE[0]);
    let mut lines = charts::render(CHART.0, CHART.1, &chart);
    let counts: Vec<String> = m
        .report
        .all
        .histogram
        .iter()
        .map(usize::to_string)
        .collect();
    lines.push(format!(
        "  images per bin ({} bins over [0,1]): {}",
        counts.len(),
        counts.join(" ")
    ));
    lines.push(String::new());
    lines
}

/// The table: accuracy, quantiles, share above 0.999, ECE, mean m(x) of right and wrong.
pub fn table(models: &[ModelConfidence]) -> Vec<String> {
    let rows: Vec<Vec<String>> = models.iter().map(results::confidence_cells).collect();
    format::table(
        &[
            "model", "accuracy", "Q.05", "Q.10", "Q.25", "Q.50", "Q.75", ">0.999", "ECE",
            "mean ok", "mean bad",
        ],
        &rows,
        &(1..11).collect::<Vec<_>>(),
    )
}
