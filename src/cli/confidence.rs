//! `classgen confidence`: m(x) histograms as braille charts, and the quantile / calibration
//! table, for the CNN and the baselines on the test split. Probabilities saved by the latest
//! matching `classgen baselines` run are reused; missing models are fitted.

use anyhow::Context;
use clap::{Args, ValueEnum};

use classgen::analysis::confidence::{report, ConfidenceReport};
use classgen::baselines::BaselineKind;
use classgen::classifier::Classifier;
use classgen::config::Config;

use super::baselines::{fit_timed, latest_cnn, latest_result, saved_probs};
use super::DataArgs;

/// A model `classgen confidence` can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ModelArg {
    Cnn,
    Logreg,
    Knn,
    Tree,
    Forest,
    Svm,
}

impl ModelArg {
    fn baseline(self) -> Option<BaselineKind> {
        match self {
            Self::Cnn => None,
            Self::Logreg => Some(BaselineKind::Logreg),
            Self::Knn => Some(BaselineKind::Knn),
            Self::Tree => Some(BaselineKind::Tree),
            Self::Forest => Some(BaselineKind::Forest),
            Self::Svm => Some(BaselineKind::Svm),
        }
    }

    fn name(self) -> &'static str {
        self.baseline().map_or("cnn", BaselineKind::name)
    }
}

/// Flags of `classgen confidence`.
#[derive(Debug, Args)]
pub struct ConfidenceArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Models, comma-separated (default: cnn and the configured baselines).
    #[arg(long, value_enum, value_delimiter = ',')]
    models: Option<Vec<ModelArg>>,
    /// Neighbours that vote in k-NN.
    #[arg(long)]
    k: Option<usize>,
    /// Histogram bins over [0,1].
    #[arg(long)]
    bins: Option<usize>,
    /// Log-scale histogram heights (ln(1 + count)): most mass sits near 1.
    #[arg(long)]
    log: bool,
    /// Print the reports as JSON on stdout.
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
    let data = super::load_data(config, None)?.dataset;
    let test = &data.test;
    let models = args.models.clone().unwrap_or_else(|| {
        std::iter::once(ModelArg::Cnn)
            .chain(config.baselines.models.iter().map(|&b| match b {
                BaselineKind::Logreg => ModelArg::Logreg,
                BaselineKind::Knn => ModelArg::Knn,
                BaselineKind::Tree => ModelArg::Tree,
                BaselineKind::Forest => ModelArg::Forest,
                BaselineKind::Svm => ModelArg::Svm,
            }))
            .collect()
    });
    let saved = latest_result(&config.paths.runs, &data);
    let b = &config.baselines;
    let mut reports: Vec<(String, ConfidenceReport)> = Vec::new();
    for model in models {
        let reusable = saved
            .as_ref()
            .filter(|(_, r)| model != ModelArg::Knn || r.k == b.k);
        let probs = match reusable.and_then(|(dir, _)| saved_probs(dir, model.name(), test.len())) {
            Some(p) => p,
            None => match model.baseline() {
                Some(kind) => {
                    eprintln!("fitting {kind} (no saved probabilities; `classgen baselines` keeps them) ...");
                    fit_timed(kind, &data, config)?
                        .0
                        .predict_proba(&test.images)?
                }
                None => match latest_cnn(config)? {
                    Some((cnn, _, _)) => cnn.predict_proba(&test.images)?,
                    None => {
                        eprintln!(
                            "skipping cnn: no train checkpoint under {}",
                            config.paths.runs.display()
                        );
                        continue;
                    }
                },
            },
        };
        let name = match model {
            ModelArg::Knn => format!("knn k={}", b.k),
            _ => model.name().to_string(),
        };
        reports.push((
            name,
            report(&probs, &test.labels, b.histogram_bins, b.ece_bins),
        ));
    }
    if args.json {
        let json = serde_json::to_string_pretty(&reports).context("encoding the reports")?;
        println!("{json}");
        return Ok(());
    }
    for (name, r) in &reports {
        let scale = if args.log { "ln(1 + count)" } else { "count" };
        println!(
            "{name}: m(x) histogram, {} bins over [0,1], height = {scale}",
            r.all.histogram.len()
        );
        for line in braille_bars(&r.all.histogram, args.log, 8) {
            println!("  {line}");
        }
        println!();
    }
    print_table(&reports);
    Ok(())
}

fn print_table(reports: &[(String, ConfidenceReport)]) {
    println!(
        "{:<11} {:>7} {:>6} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>9} {:>9}",
        "model",
        "acc",
        "mean",
        "Q.05",
        "Q.10",
        "Q.25",
        "Q.50",
        "Q.75",
        ">0.999",
        "ECE",
        "mean ok",
        "mean bad"
    );
    for (name, r) in reports {
        let q: Vec<String> = r
            .all
            .quantiles
            .iter()
            .map(|(_, v)| format!("{v:>7.4}"))
            .collect();
        println!(
            "{:<11} {:>6.2}% {:>6.4} {} {:>6.1}% {:>7.4} {:>9.4} {:>9.4}",
            name,
            100.0 * r.accuracy,
            r.all.mean_confidence,
            q.join(" "),
            100.0 * r.all.above_0999,
            r.ece,
            r.correct.mean_confidence,
            r.wrong.mean_confidence,
        );
    }
}

/// A bar chart of `counts` in braille, `rows` characters high: each bin is two characters
/// wide (three dot columns of bar, one of gap), each character four dots high.
fn braille_bars(counts: &[usize], log: bool, rows: usize) -> Vec<String> {
    let value = |c: usize| if log { (c as f64).ln_1p() } else { c as f64 };
    let top = counts.iter().map(|&c| value(c)).fold(0.0, f64::max);
    let dots = rows * 4;
    let heights: Vec<usize> = counts
        .iter()
        .map(|&c| {
            let h = if top > 0.0 {
                value(c) / top * dots as f64
            } else {
                0.0
            };
            // Any non-empty bin shows at least one dot.
            (h.round() as usize).max(usize::from(c > 0))
        })
        .collect();
    // Dot (column, row-in-cell) bits of a braille cell, column-major, top to bottom.
    const BITS: [[u32; 4]; 2] = [[0x01, 0x02, 0x04, 0x40], [0x08, 0x10, 0x20, 0x80]];
    (0..rows)
        .map(|row| {
            let mut line = String::new();
            for &h in &heights {
                for cell in 0..2 {
                    let mut bits = 0;
                    for (col, column_bits) in BITS.iter().enumerate() {
                        let x = cell * 2 + col;
                        for (y, bit) in column_bits.iter().enumerate() {
                            let level = dots - (row * 4 + y); // 1-based height of this dot
                            if x < 3 && level <= h {
                                bits |= bit;
                            }
                        }
                    }
                    line.push(char::from_u32(0x2800 + bits).unwrap_or(' '));
                }
            }
            line
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braille_bars_fill_from_the_bottom() {
        // One bin at full height (4 dots in 1 row) and one at half height (2 dots).
        let lines = braille_bars(&[4, 2], false, 1);
        // Full bar: first cell all 8 dots, second cell left column only (x = 2 < 3).
        let full = char::from_u32(0x28FF).unwrap();
        let left = char::from_u32(0x2800 + 0x01 + 0x02 + 0x04 + 0x40).unwrap();
        let chars: Vec<char> = lines[0].chars().collect();
        assert_eq!(chars[0], full);
        assert_eq!(chars[1], left);
        // Half bar: bottom two dots of each column.
        let half = char::from_u32(0x2800 + 0x04 + 0x40 + 0x20 + 0x80).unwrap();
        assert_eq!(chars[2], half);
        assert!(braille_bars(&[0, 0], true, 2)[1]
            .chars()
            .all(|c| c == '\u{2800}'));
    }
}
