//! `classgen runs`: every run with its kind, data, model, state and age.

use clap::Args;

use classgen::config::Config;
use classgen::runs::{RunKind, RunStore};
use classgen::text::format;

use super::console::out;

/// Flags of `classgen runs`.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Only runs of this kind (train, ablate, baselines, confidence, robustness, invert,
    /// invert_grid, invert_sweep, prototypes, explain).
    #[arg(long)]
    kind: Option<String>,
    /// Print the runs as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Runs `classgen runs`.
pub fn run(args: RunsArgs, config: &Config) -> anyhow::Result<()> {
    let kind = match &args.kind {
        Some(name) => Some(
            RunKind::ALL
                .into_iter()
                .find(|k| k.name() == name.replace('_', "-"))
                .ok_or_else(|| {
                    let names: Vec<&str> = RunKind::ALL.iter().map(|k| k.name()).collect();
                    anyhow::anyhow!(
                        "--kind: unknown kind '{name}' (kinds: {})",
                        names.join(", ")
                    )
                })?,
        ),
        None => None,
    };
    let store = RunStore::new(&config.paths.runs);
    let listing = store.scan()?;
    let runs: Vec<_> = listing
        .runs
        .into_iter()
        .filter(|r| kind.is_none_or(|k| r.record.kind == k))
        .collect();
    // A damaged run's kind is unknown: it is listed whatever --kind says.
    let damaged = listing.damaged;
    if args.json {
        let mut json: Vec<serde_json::Value> = runs
            .iter()
            .map(|r| {
                serde_json::json!({
                    "name": r.name, "dir": r.dir, "state": r.state(), "record": r.record,
                })
            })
            .collect();
        json.extend(damaged.iter().map(|d| {
            serde_json::json!({
                "name": d.name, "dir": d.dir,
                "state": {"status": "damaged", "file": d.file, "cause": d.cause},
            })
        }));
        out!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(());
    }
    let now = classgen::runs::now();
    let mut rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            let rec = &r.record;
            let (arch, seed, epochs, accuracy) = match (&rec.cnn, &rec.model) {
                (Some(c), _) => (
                    c.arch.clone(),
                    c.seed.to_string(),
                    format!("{}/{}", c.epochs, c.epochs_planned),
                    c.test_accuracy,
                ),
                (None, Some(m)) => (
                    format!("{} ({})", m.arch, m.run),
                    m.seed.to_string(),
                    m.epochs.to_string(),
                    m.test_accuracy,
                ),
                (None, None) => ("-".into(), "-".into(), "-".into(), None),
            };
            vec![
                r.name.clone(),
                rec.kind.to_string(),
                format!(
                    "{} {} ({}/{})",
                    rec.data.dataset, rec.data.source, rec.data.train_images, rec.data.test_images
                ),
                arch,
                seed,
                epochs,
                accuracy.map_or("-".into(), format::percent),
                r.state().to_string(),
                format::age(now.saturating_sub(rec.created)),
            ]
        })
        .collect();
    rows.extend(damaged.iter().map(|d| {
        let mut row = vec![d.name.clone()];
        row.extend(std::iter::repeat_n("-".to_string(), 6));
        row.extend(["damaged".to_string(), "-".to_string()]);
        row
    }));
    if rows.is_empty() {
        out!("no runs under {}", store.root().display());
        return Ok(());
    }
    for line in format::table(
        &[
            "run", "kind", "data", "model", "seed", "epochs", "test acc", "state", "age",
        ],
        &rows,
        &[4, 5, 6, 8],
    ) {
        out!("{line}");
    }
    for d in &damaged {
        out!("{}: damaged: {}: {}", d.name, d.file.display(), d.cause);
    }
    Ok(())
}
