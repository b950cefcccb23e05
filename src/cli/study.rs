//! What `classgen ablate` and `classgen sweep` share: a study's cells as independent tasks
//! (`--cells`, `--cell I`, `--status`), Slurm job arrays (`--slurm`), and the whole study run
//! here with progress bars and its table.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use classgen::ablation::{RunResult, VariantRow};
use classgen::config::Config;
use classgen::jobs::ablate::{self as job, AblationEvent, AblationResult, CellEnd, Study};
use classgen::jobs::study::{study_dir, study_key, CellStatus};
use classgen::model::train::TrainEvent;
use classgen::runs::{DataIdentity, RunStore};

use super::console::{self, note, out};

/// Flags for a study's cells and for Slurm.
#[derive(Debug, Default, Args)]
pub struct StudyArgs {
    /// Print how many cells (training runs) the study has and what each one is, and exit.
    #[arg(long, conflicts_with_all = ["cell", "status", "slurm"])]
    cells: bool,
    /// Run exactly cell I into the study's run directory and exit: 0 when it is done (trained
    /// now or earlier) or another process holds it, non-zero when it failed.
    #[arg(long, value_name = "I", conflicts_with_all = ["status", "slurm"])]
    cell: Option<usize>,
    /// Print where each cell stands (done, running, failed, missing; the Slurm job and task
    /// when known) and the table of the finished cells, and exit.
    #[arg(long, conflicts_with = "slurm")]
    status: bool,
    /// Write the study's sbatch script (a job array, one task per cell) into its run directory
    /// and submit it with sbatch, printing the job id.
    #[arg(long)]
    slurm: bool,
    /// Slurm partition.
    #[arg(long, requires = "slurm", value_name = "P")]
    partition: Option<String>,
    /// GPUs per array task.
    #[arg(long, requires = "slurm", value_name = "N")]
    gpus_per_task: Option<usize>,
    /// CPUs per array task (each task's threads).
    #[arg(long, requires = "slurm", value_name = "N")]
    cpus_per_task: Option<usize>,
    /// Time limit per task, as Slurm writes it (e.g. 30:00).
    #[arg(long, requires = "slurm", value_name = "T")]
    time: Option<String>,
    /// Most array tasks running at once (the array's %K).
    #[arg(long, requires = "slurm", value_name = "K")]
    max_running: Option<usize>,
    /// With --slurm: print the script instead of submitting it.
    #[arg(long, requires = "slurm")]
    dry_run: bool,
}

/// Flags `--slurm` strips from the command line it hands to each task (with a value or not).
const SLURM_FLAGS: [(&str, bool); 7] = [
    ("--slurm", false),
    ("--dry-run", false),
    ("--partition", true),
    ("--gpus-per-task", true),
    ("--cpus-per-task", true),
    ("--time", true),
    ("--max-running", true),
];

/// Runs `study` as the flags ask: list its cells, run one, say where it stands, submit it to
/// Slurm, or run it whole here.
pub fn run(
    study: Study,
    args: &StudyArgs,
    plot: &super::plot::PlotArgs,
    config: &Config,
    json: bool,
) -> anyhow::Result<()> {
    if args.cells {
        out!("{} cells", study.cells.len());
        for (i, cell) in study.cells.iter().enumerate() {
            out!(
                "{i:>4}  {:<28} {:<10} {:>9} params  lr {} batch {} epochs {} {}",
                cell.describe(),
                cell.arch.name,
                cell.arch.params(),
                cell.recipe.learning_rate,
                cell.recipe.batch_size,
                cell.recipe.epochs,
                format!("{:?}", cell.recipe.schedule).to_lowercase()
            );
        }
        return Ok(());
    }
    let store = RunStore::new(&config.paths.runs);
    if args.slurm {
        let data = super::load_data(config)?;
        return slurm(&study, args, &store, &DataIdentity::of(&data));
    }
    if args.status {
        let data = super::load_data(config)?;
        return status(&study, &store, &DataIdentity::of(&data));
    }
    let data = super::load_data(config)?;
    if let Some(index) = args.cell {
        let cell = study
            .cells
            .get(index)
            .map(|c| c.describe())
            .unwrap_or_default();
        let job = job::spawn_cell(study, index, data, &store, console::cancel_flag())?;
        super::announce(job.run());
        follow(&job);
        let ran = job.join()?;
        let table = &ran.table;
        let done = table.cells - table.missing.len();
        match ran.end {
            CellEnd::Trained(r) => note!(
                "cell {index} ({cell}): {:.2}%; {done} of {} cells done",
                r.test_accuracy * 100.0,
                table.cells
            ),
            CellEnd::AlreadyDone(r) => note!(
                "cell {index} ({cell}): already done ({:.2}%); {done} of {} cells done",
                r.test_accuracy * 100.0,
                table.cells
            ),
            CellEnd::Held(holder) => {
                note!("cell {index} ({cell}): running in another process ({holder}); left to it")
            }
            CellEnd::Stopped => {
                if console::interrupted().is_none() {
                    anyhow::bail!("cell {index} ({cell}) stopped before its end");
                }
                note!("cell {index} ({cell}): stopped; run it again to train it")
            }
        }
        return Ok(());
    }
    let job = job::spawn(study, data, &store, console::cancel_flag())?;
    super::announce(job.run());
    follow(&job);
    let result = job.join()?;
    plot.write(&[classgen::text::figures::ablation(&result.rows)])?;
    print_result(&result, json);
    Ok(())
}

/// Prints the table (or its JSON) and what is missing from it.
fn print_result(result: &AblationResult, json: bool) {
    if json {
        match serde_json::to_string_pretty(result) {
            Ok(text) => out!("{text}"),
            Err(e) => note!("error: the table as JSON: {e}"),
        }
        return;
    }
    print_table(
        &result.rows,
        result.rows.first().map(|r| r.variant.as_str()),
    );
    if !result.runs.is_empty() {
        out!("{}", timing_note(&result.runs));
    }
    if !result.missing.is_empty() {
        out!(
            "missing: {} of {} cells not finished: {}",
            result.missing.len(),
            result.cells,
            result.missing.join(", ")
        );
    }
}

/// Prints a study's events on stderr (progress bars on a terminal) until it ends.
fn follow<R>(job: &classgen::jobs::Job<AblationEvent, R>) {
    let bars = MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr());
    let mut in_flight: HashMap<(String, u64), ProgressBar> = HashMap::new();
    let interactive = console::interactive();
    for event in job.events().iter() {
        match event {
            AblationEvent::Planned(plan) => note!(
                "study: {} ({})",
                plan.dir.display(),
                classgen::text::results::study_plan(&plan)
            ),
            AblationEvent::Reused(r) => note!(
                "  {} seed {}: {:.2}% (saved earlier)",
                r.variant,
                r.seed,
                r.test_accuracy * 100.0
            ),
            AblationEvent::RunStarted { variant, seed } => {
                if !interactive {
                    note!("  {variant} seed {seed}: training");
                }
            }
            AblationEvent::Train {
                variant,
                seed,
                progress:
                    TrainEvent::Batch {
                        epoch,
                        batch,
                        batches,
                        loss,
                        ..
                    },
            } if interactive => {
                let key = (variant, seed);
                let b = in_flight.entry(key.clone()).or_insert_with(|| {
                    let b = bars.add(ProgressBar::new(batches as u64));
                    b.set_style(
                        ProgressStyle::with_template("  {prefix} [{bar:25}] {pos}/{len} {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_bar())
                            .progress_chars("=> "),
                    );
                    b
                });
                b.set_prefix(format!("{} seed {} epoch {epoch}", key.0, key.1));
                b.set_position(batch as u64);
                b.set_message(format!("loss {loss:.4}"));
            }
            AblationEvent::Train { .. } => {}
            AblationEvent::RunFinished(r) => {
                if let Some(b) = in_flight.remove(&(r.variant.clone(), r.seed)) {
                    b.finish_and_clear();
                    bars.remove(&b);
                }
                bars.suspend(|| {
                    note!(
                        "  {} seed {}: {:.2}% ({:.1} s/epoch)",
                        r.variant,
                        r.seed,
                        r.test_accuracy * 100.0,
                        r.seconds_per_epoch
                    )
                });
            }
            AblationEvent::Cancelled => {
                for (_, b) in in_flight.drain() {
                    b.finish_and_clear();
                }
                note!("stopped; finished runs are saved. Run the same command again to continue.");
            }
            AblationEvent::Notice { message } => bars.suspend(|| note!("{message}")),
        }
    }
    for (_, b) in in_flight.drain() {
        b.finish_and_clear();
    }
}

/// `--status`: every cell's state, then the table of the finished ones.
fn status(study: &Study, store: &RunStore, data: &DataIdentity) -> anyhow::Result<()> {
    let dir = study_dir(store.root(), data, study);
    out!("study: {} ({} cells)", dir.dir.display(), study.cells.len());
    let states = dir.status(study);
    let mut counts: Vec<(&str, usize)> = ["done", "running", "failed", "missing"]
        .iter()
        .map(|w| (*w, 0))
        .collect();
    for (i, (cell, state)) in study.cells.iter().zip(&states).enumerate() {
        if let Some(c) = counts.iter_mut().find(|(w, _)| *w == state.word()) {
            c.1 += 1;
        }
        let detail = match state {
            CellStatus::Done(r) => format!("{:.2}%", r.test_accuracy * 100.0),
            CellStatus::Running(task) => task.as_ref().map(|t| t.describe()).unwrap_or_default(),
            CellStatus::Failed(task) => match &task.state {
                classgen::jobs::study::TaskState::Failed { message } => {
                    format!("{} ({})", message, task.describe())
                }
                _ => task.describe(),
            },
            CellStatus::Missing(Some(task)) => format!("last: {}", task.describe()),
            CellStatus::Missing(None) => String::new(),
        };
        out!(
            "{i:>4}  {:<8} {:<28} {detail}",
            state.word(),
            cell.describe()
        );
    }
    out!(
        "{}",
        counts
            .iter()
            .map(|(w, n)| format!("{n} {w}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let table = dir.table(study, data);
    if !table.runs.is_empty() {
        print_table(&table.rows, Some(study.baseline.as_str()));
    }
    Ok(())
}

/// Quotes `s` for a POSIX shell.
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The command line each array task runs: this one without the Slurm flags, plus `--cell`.
fn task_args(args: &[OsString]) -> anyhow::Result<Vec<String>> {
    let mut kept = Vec::new();
    let mut skip_value = false;
    for arg in args {
        let arg = arg
            .to_str()
            .with_context(|| format!("--slurm: the argument {arg:?} is not UTF-8"))?;
        if skip_value {
            skip_value = false;
            continue;
        }
        let name = arg.split('=').next().unwrap_or(arg);
        match SLURM_FLAGS.iter().find(|(flag, _)| *flag == name) {
            Some((_, takes_value)) => skip_value = *takes_value && !arg.contains('='),
            None => kept.push(arg.to_string()),
        }
    }
    Ok(kept)
}

/// The sbatch script of a study of `cells` cells in `dir`.
fn sbatch_script(
    args: &StudyArgs,
    cells: usize,
    key: &str,
    dir: &Path,
    cwd: &Path,
    command: &[String],
) -> String {
    let mut array = format!("0-{}", cells.saturating_sub(1));
    if let Some(k) = args.max_running {
        array.push_str(&format!("%{k}"));
    }
    let log_dir = dir.join("slurm");
    let mut lines = vec![
        "#!/bin/bash".to_string(),
        format!("# classgen study {key}: {cells} cells, one array task each (written by --slurm)."),
        format!("#SBATCH --job-name=classgen-{key}"),
        format!("#SBATCH --array={array}"),
        format!("#SBATCH --output={}/cell-%a.log", log_dir.display()),
        format!("#SBATCH --chdir={}", cwd.display()),
    ];
    if let Some(p) = &args.partition {
        lines.push(format!("#SBATCH --partition={p}"));
    }
    if let Some(n) = args.cpus_per_task {
        lines.push(format!("#SBATCH --cpus-per-task={n}"));
    }
    if let Some(n) = args.gpus_per_task {
        lines.push(format!("#SBATCH --gpus-per-task={n}"));
    }
    if let Some(t) = &args.time {
        lines.push(format!("#SBATCH --time={t}"));
    }
    lines.push("# Each task's maths threads: the CPUs Slurm gave it.".to_string());
    lines.push(
        r#"if [ -n "${SLURM_CPUS_PER_TASK:-}" ]; then export RAYON_NUM_THREADS="$SLURM_CPUS_PER_TASK"; fi"#
            .to_string(),
    );
    let quoted: Vec<String> = command.iter().map(|a| shell_quote(a)).collect();
    lines.push(format!(
        r#"exec {} --cell "$SLURM_ARRAY_TASK_ID""#,
        quoted.join(" ")
    ));
    lines.join("\n") + "\n"
}

/// `--slurm`: writes the study's sbatch script into its run directory and submits it.
fn slurm(
    study: &Study,
    args: &StudyArgs,
    store: &RunStore,
    data: &DataIdentity,
) -> anyhow::Result<()> {
    for (flag, value) in [
        ("--cpus-per-task", args.cpus_per_task),
        ("--gpus-per-task", args.gpus_per_task),
        ("--max-running", args.max_running),
    ] {
        if value == Some(0) {
            anyhow::bail!("{flag}: expected at least 1, found 0");
        }
    }
    let key = study_key(data, study);
    let dir = study_dir(store.root(), data, study);
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let cwd = std::env::current_dir().context("--slurm: the working directory")?;
    let exe: PathBuf = std::env::current_exe().context("--slurm: this program's path")?;
    let argv: Vec<OsString> = std::env::args_os().skip(1).collect();
    let mut command = vec![exe.display().to_string()];
    command.extend(task_args(&argv)?);
    let script = sbatch_script(
        args,
        study.cells.len(),
        &key,
        &absolute(&dir.dir),
        &cwd,
        &command,
    );
    if args.dry_run {
        out!("{}", script.trim_end());
        return Ok(());
    }
    let slurm_dir = dir.slurm_dir();
    std::fs::create_dir_all(&slurm_dir)
        .with_context(|| format!("creating {}", slurm_dir.display()))?;
    let path = slurm_dir.join("study.sbatch");
    classgen::fsutil::write_atomic(&path, script.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    let output = std::process::Command::new("sbatch")
        .arg("--parsable")
        .arg(&path)
        .output()
        .map_err(|e| {
            anyhow::anyhow!(
                "sbatch: {e} (is Slurm installed? the script is {})",
                path.display()
            )
        })?;
    if !output.status.success() {
        anyhow::bail!(
            "sbatch {} failed ({}): {}",
            path.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let job_id = stdout
        .trim()
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    note!(
        "script: {}; logs: {}/cell-<I>.log",
        path.display(),
        slurm_dir.display()
    );
    note!("follow it with the same command and --status instead of --slurm");
    out!("{job_id}");
    Ok(())
}

/// Prints the table; `baseline` names the row the others are compared with.
fn print_table(rows: &[VariantRow], baseline: Option<&str>) {
    let width = rows
        .iter()
        .map(|r| r.variant.chars().count())
        .max()
        .unwrap_or(0)
        .max(10);
    out!(
        "{:<width$} {:>9}  {:>16}  {:>15}  {:>7}  {:>9}  {:>7}  {:>7}  verdict",
        "variant",
        "params",
        "accuracy %",
        "(min, max)",
        "s/epoch",
        "infer/s",
        "delta",
        "p"
    );
    for r in rows {
        let a = &r.accuracy;
        out!(
            "{:<width$} {:>9}  {:>7.2} ± {:<6.2}  ({:>5.2}, {:>5.2})  {:>7.1}  {:>9.0}  {:>7}  {:>7}  {}",
            r.variant,
            r.params,
            a.mean * 100.0,
            a.std * 100.0,
            a.min * 100.0,
            a.max * 100.0,
            r.seconds_per_epoch,
            r.inference_images_per_second,
            r.delta.map_or("-".into(), |d| format!("{:+.2}", d * 100.0)),
            r.welch.map_or("-".into(), |w| format!("{:.3}", w.p)),
            r.verdict
        );
    }
    let baseline = rows
        .iter()
        .find(|r| r.verdict == "baseline")
        .map(|r| r.variant.as_str())
        .or(baseline)
        .unwrap_or("the baseline");
    out!(
        "accuracy: mean ± std over seeds; delta vs {baseline} in points; p: Welch's t-test (two-sided)."
    );
}

/// How the table's times were taken, from its runs.
fn timing_note(runs: &[RunResult]) -> String {
    let mut ways: Vec<(usize, usize)> = runs.iter().map(|r| (r.threads, r.runs_at_once)).collect();
    ways.sort_unstable();
    ways.dedup();
    match ways.as_slice() {
        [(threads, at_once)] if *threads > 0 => {
            let threads = format!("{threads} thread{}", if *threads == 1 { "" } else { "s" });
            if *at_once > 1 {
                format!("s/epoch, infer/s: each run on {threads}, {at_once} runs training at once.")
            } else {
                // One at a time in this process; a cell run as its own task (`--cell`, a
                // Slurm array) may have had other tasks beside it.
                format!("s/epoch, infer/s: each run on {threads}, one at a time in its process.")
            }
        }
        _ => "s/epoch, infer/s: runs timed in different ways (each run's threads and runs_at_once are in result.json).".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_task_command_drops_the_slurm_flags_and_keeps_the_rest() {
        let argv: Vec<OsString> = [
            "ablate",
            "--slurm",
            "--partition",
            "gpu",
            "--variants",
            "seed,tiny",
            "--time=10:00",
            "--max-running",
            "2",
            "--dry-run",
            "--seeds",
            "2",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        assert_eq!(
            task_args(&argv).unwrap(),
            ["ablate", "--variants", "seed,tiny", "--seeds", "2"]
        );
        let args = StudyArgs {
            slurm: true,
            max_running: Some(2),
            cpus_per_task: Some(1),
            ..StudyArgs::default()
        };
        let command = ["/bin/classgen".to_string(), "it's".to_string()];
        let script = sbatch_script(
            &args,
            4,
            "k",
            Path::new("/r/ablate-k"),
            Path::new("/w"),
            &command,
        );
        assert!(script.contains("#SBATCH --array=0-3%2\n"), "{script}");
        assert!(script.contains("#SBATCH --output=/r/ablate-k/slurm/cell-%a.log\n"));
        assert!(script.contains("#SBATCH --cpus-per-task=1\n"));
        assert!(!script.contains("--partition"));
        assert!(
            script.ends_with("exec /bin/classgen 'it'\\''s' --cell \"$SLURM_ARRAY_TASK_ID\"\n"),
            "{script}"
        );
    }
}
