//! A study's cells on disk, shared by every process that works on it: the ablation and the
//! training sweeps are lists of cells (one training run each), kept in one run directory keyed
//! by the data and every cell's full definition (architecture layers included).
//!
//! Layout of a study directory: `cells/<i>/result.json` (a finished cell), `cells/<i>/task.json`
//! (who runs or ran it: PID, host, Slurm job and task, state), `cells/<i>/lock` (the claim: held
//! with `flock` by the one process training the cell), `result.json` (the table of the finished
//! cells, rewritten under `cells/table.lock` as each finishes) and `slurm/` (scripts and logs).

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ablation::{RunResult, VariantRow};
use crate::config::{Config, ConfigError, Schedule, TrainConfig};
use crate::model::ArchSpec;
use crate::runs::lock::RunLock;
use crate::runs::{read_json, write_json, DataIdentity, RunError};

/// One cell of a study: one training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// The row the cell belongs to: the variant, or a sweep's settings other than the seed.
    pub label: String,
    pub arch: ArchSpec,
    /// The whole recipe: its `arch` is `arch.name`, its `seed` the cell's seed.
    pub recipe: TrainConfig,
}

impl Cell {
    /// `label seed N`.
    pub fn describe(&self) -> String {
        format!("{} seed {}", self.label, self.recipe.seed)
    }
}

/// A study: its cells in table order, and the row the others are compared with.
#[derive(Debug, Clone, PartialEq)]
pub struct Study {
    pub cells: Vec<Cell>,
    /// Label of the baseline row (Welch's test of every other row against it).
    pub baseline: String,
    /// The recipe the cells start from (recorded in the table).
    pub recipe: TrainConfig,
    /// Cells trained side by side on the CPU by one process.
    pub runs_at_once: usize,
}

impl Study {
    /// The row labels in table order.
    pub fn labels(&self) -> Vec<String> {
        let mut labels: Vec<String> = Vec::new();
        for c in &self.cells {
            if !labels.contains(&c.label) {
                labels.push(c.label.clone());
            }
        }
        labels
    }

    /// The seeds in cell order, each once.
    pub fn seeds(&self) -> Vec<u64> {
        let mut seeds: Vec<u64> = Vec::new();
        for c in &self.cells {
            if !seeds.contains(&c.recipe.seed) {
                seeds.push(c.recipe.seed);
            }
        }
        seeds
    }
}

/// FNV-1a, for a short stable key of the settings.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// The key of a study: its data and every cell's label, architecture (its layers, not only its
/// name) and recipe (without threads and device, which do not change the numbers). The same
/// study always gets the same key, so running it again reuses what is done, and a redefined
/// architecture is a new study.
pub fn study_key(data: &DataIdentity, study: &Study) -> String {
    let cells: Vec<(String, String, String)> = study
        .cells
        .iter()
        .map(|c| {
            let mut recipe = c.recipe.clone();
            recipe.threads = 0;
            recipe.device.clear();
            (
                c.label.clone(),
                serde_json::to_string(&c.arch).unwrap_or_default(),
                serde_json::to_string(&recipe).unwrap_or_default(),
            )
        })
        .collect();
    let key = format!(
        "{}|{}|{}|{}|{}",
        data.dataset,
        data.source,
        data.train_images,
        data.test_images,
        serde_json::to_string(&cells).unwrap_or_default()
    );
    format!("{}-{:08x}", data.dataset, fnv1a(key.as_bytes()) as u32)
}

/// The study's table, as its `result.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AblationResult {
    pub data: DataIdentity,
    pub recipe: TrainConfig,
    pub seeds: Vec<u64>,
    /// One row per label with results, in plan order.
    pub rows: Vec<VariantRow>,
    /// Every finished cell, in plan order.
    pub runs: Vec<RunResult>,
    /// How many cells the study has, and those not finished (`label seed N`).
    #[serde(default)]
    pub cells: usize,
    #[serde(default)]
    pub missing: Vec<String>,
}

/// Who runs or ran a cell (`cells/<i>/task.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellTask {
    pub pid: u32,
    pub host: String,
    /// `SLURM_ARRAY_JOB_ID` and `SLURM_ARRAY_TASK_ID` when run by a Slurm array.
    pub slurm_job: Option<String>,
    pub slurm_task: Option<String>,
    /// Seconds since the Unix epoch when the process took the cell.
    pub started: u64,
    pub state: TaskState,
}

/// Where a cell's process got to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TaskState {
    Running,
    Done,
    Stopped,
    Failed { message: String },
}

impl CellTask {
    /// This process, now, running.
    pub fn this_process() -> Self {
        let env = |k| std::env::var(k).ok().filter(|v: &String| !v.is_empty());
        let host = env("SLURMD_NODENAME")
            .or_else(|| {
                std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .ok()
                    .map(|h| h.trim().to_string())
            })
            .unwrap_or_default();
        Self {
            pid: std::process::id(),
            host,
            slurm_job: env("SLURM_ARRAY_JOB_ID"),
            slurm_task: env("SLURM_ARRAY_TASK_ID"),
            started: crate::runs::now(),
            state: TaskState::Running,
        }
    }

    /// `PID 12 on vm, Slurm job 7 task 3`.
    pub fn describe(&self) -> String {
        let mut text = format!("PID {}", self.pid);
        if !self.host.is_empty() {
            text.push_str(&format!(" on {}", self.host));
        }
        if let Some(job) = &self.slurm_job {
            text.push_str(&format!(", Slurm job {job}"));
            if let Some(task) = &self.slurm_task {
                text.push_str(&format!(" task {task}"));
            }
        }
        text
    }
}

/// How many cells of the study in `dir` some process holds the claim of now (training them).
pub fn cells_held(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("cells")).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .filter(|e| RunLock::is_held(&e.path()))
            .count()
    })
}

/// Where a cell stands.
#[derive(Debug, Clone, PartialEq)]
pub enum CellStatus {
    Done(Box<RunResult>),
    /// A process holds the cell's claim now.
    Running(Option<CellTask>),
    /// Its last process failed (and none holds it now).
    Failed(CellTask),
    /// Never started, or stopped or killed before the end.
    Missing(Option<CellTask>),
}

impl CellStatus {
    /// `done`, `running`, `failed` or `missing`.
    pub fn word(&self) -> &'static str {
        match self {
            Self::Done(_) => "done",
            Self::Running(_) => "running",
            Self::Failed(_) => "failed",
            Self::Missing(_) => "missing",
        }
    }
}

/// A study directory and its cells' files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudyDir {
    pub dir: PathBuf,
}

/// Files inside a cell's directory.
const CELL_RESULT: &str = "result.json";
const CELL_TASK: &str = "task.json";

impl StudyDir {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory of cell `i`.
    pub fn cell(&self, i: usize) -> PathBuf {
        self.dir.join("cells").join(i.to_string())
    }

    /// Cell `i`'s result, if it finished.
    pub fn result(&self, i: usize) -> Option<RunResult> {
        read_json(&self.cell(i).join(CELL_RESULT)).ok()
    }

    /// Saves cell `i`'s result (atomically).
    pub fn save_result(&self, i: usize, result: &RunResult) -> Result<(), RunError> {
        write_json(&self.cell(i).join(CELL_RESULT), result)
    }

    /// Cell `i`'s last task record, if any.
    pub fn task(&self, i: usize) -> Option<CellTask> {
        read_json(&self.cell(i).join(CELL_TASK)).ok()
    }

    /// Records who runs cell `i` and how it stands.
    pub fn save_task(&self, i: usize, task: &CellTask) -> Result<(), RunError> {
        write_json(&self.cell(i).join(CELL_TASK), task)
    }

    /// Claims cell `i` for this process: an exclusive `flock` on its `lock` file, released when
    /// the claim is dropped or the process dies. Two processes, on one machine or on two sharing
    /// a filesystem with working `flock`, never both hold it.
    pub fn claim(&self, i: usize) -> Result<RunLock, crate::runs::lock::LockError> {
        let dir = self.cell(i);
        std::fs::create_dir_all(&dir).map_err(|source| crate::runs::lock::LockError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        RunLock::acquire(&dir)
    }

    /// Where every cell of `study` stands.
    pub fn status(&self, study: &Study) -> Vec<CellStatus> {
        (0..study.cells.len())
            .map(|i| {
                if let Some(r) = self.result(i) {
                    return CellStatus::Done(Box::new(r));
                }
                let task = self.task(i);
                if RunLock::is_held(&self.cell(i)) {
                    return CellStatus::Running(task);
                }
                match task {
                    Some(t) if matches!(t.state, TaskState::Failed { .. }) => CellStatus::Failed(t),
                    t => CellStatus::Missing(t),
                }
            })
            .collect()
    }

    /// The table of every finished cell of `study` on `data`.
    pub fn table(&self, study: &Study, data: &DataIdentity) -> AblationResult {
        let mut runs = Vec::new();
        let mut missing = Vec::new();
        for (i, cell) in study.cells.iter().enumerate() {
            match self.result(i) {
                Some(r) => runs.push(r),
                None => missing.push(cell.describe()),
            }
        }
        AblationResult {
            data: data.clone(),
            recipe: study.recipe.clone(),
            seeds: study.seeds(),
            rows: crate::ablation::table(&runs, &study.labels(), &study.baseline),
            runs,
            cells: study.cells.len(),
            missing,
        }
    }

    /// Assembles the table from the cells on disk and writes it as the study's `result.json`,
    /// holding `cells/table.lock` so that two processes finishing cells at once never write an
    /// older table over a newer one.
    pub fn write_table(
        &self,
        study: &Study,
        data: &DataIdentity,
    ) -> anyhow::Result<AblationResult> {
        let path = self.dir.join("cells").join("table.lock");
        std::fs::create_dir_all(self.dir.join("cells"))?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        // Held only while the table is read and written (milliseconds).
        file.lock()
            .map_err(|e| anyhow::anyhow!("{}: cannot lock: {e}", path.display()))?;
        let table = self.table(study, data);
        write_json(&self.dir.join(crate::runs::RESULT), &table)?;
        Ok(table)
    }

    /// The study's directory for Slurm scripts and logs.
    pub fn slurm_dir(&self) -> PathBuf {
        self.dir.join("slurm")
    }
}

/// The study directory of `study` on `data` under the runs directory `root`.
pub fn study_dir(root: &Path, data: &DataIdentity, study: &Study) -> StudyDir {
    StudyDir::new(root.join(format!(
        "{}-{}",
        crate::runs::RunKind::Ablate.name(),
        study_key(data, study)
    )))
}

/// The training sweep of `[sweep]` over `[train]`: every combination of its axes (an empty axis
/// keeps `[train]`'s value) with each seed. A row's label names the axes that vary
/// (`lr=0.003,batch=64`), or is the architecture when none does.
pub fn sweep(config: &Config) -> Result<Study, ConfigError> {
    let s = &config.sweep;
    let t = &config.train;
    let lrs: Vec<f64> = or(&s.learning_rates, t.learning_rate);
    let batches: Vec<usize> = or(&s.batch_sizes, t.batch_size);
    let epochs: Vec<usize> = or(&s.epochs, t.epochs);
    let archs: Vec<String> = or(&s.archs, t.arch.clone());
    let schedules: Vec<Schedule> = or(&s.schedules, t.schedule);
    let invalid = |key, message: String| ConfigError::Invalid { key, message };
    let mut cells = Vec::new();
    for &lr in &lrs {
        for &batch in &batches {
            for &epoch in &epochs {
                for name in &archs {
                    let arch = ArchSpec::by_name(name, &config.archs)
                        .map_err(|m| invalid("sweep.archs", m))?;
                    for &schedule in &schedules {
                        let mut parts = Vec::new();
                        if lrs.len() > 1 {
                            parts.push(format!("lr={lr}"));
                        }
                        if batches.len() > 1 {
                            parts.push(format!("batch={batch}"));
                        }
                        if epochs.len() > 1 {
                            parts.push(format!("epochs={epoch}"));
                        }
                        if archs.len() > 1 {
                            parts.push(format!("arch={name}"));
                        }
                        if schedules.len() > 1 {
                            parts.push(format!("schedule={}", schedule_name(schedule)));
                        }
                        let label = if parts.is_empty() {
                            name.clone()
                        } else {
                            parts.join(",")
                        };
                        for i in 0..s.seeds as u64 {
                            let recipe = TrainConfig {
                                arch: name.clone(),
                                epochs: epoch,
                                batch_size: batch,
                                learning_rate: lr,
                                schedule,
                                seed: t.seed.wrapping_add(i),
                                ..t.clone()
                            };
                            cells.push(Cell {
                                label: label.clone(),
                                arch: arch.clone(),
                                recipe,
                            });
                        }
                    }
                }
            }
        }
    }
    let mut study = Study {
        cells,
        baseline: String::new(),
        recipe: t.clone(),
        runs_at_once: s.runs_at_once,
    };
    let labels = study.labels();
    study.baseline = if s.baseline.is_empty() {
        labels.first().cloned().unwrap_or_default()
    } else if labels.contains(&s.baseline) {
        s.baseline.clone()
    } else {
        return Err(invalid(
            "sweep.baseline",
            format!(
                "no row '{}'; the rows are: {}",
                s.baseline,
                labels.join(" ")
            ),
        ));
    };
    Ok(study)
}

/// `values`, or `default` alone when there are none.
fn or<T: Clone>(values: &[T], default: T) -> Vec<T> {
    if values.is_empty() {
        vec![default]
    } else {
        values.to_vec()
    }
}

/// A schedule as config.toml writes it.
fn schedule_name(s: Schedule) -> &'static str {
    match s {
        Schedule::Constant => "constant",
        Schedule::Cosine => "cosine",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::DatasetKind;
    use crate::model::ConvSpec;
    use crate::runs::DataSource;

    fn data() -> DataIdentity {
        DataIdentity {
            dataset: DatasetKind::Mnist,
            source: DataSource::Sample,
            train_images: 10,
            test_images: 10,
        }
    }

    fn study(arch: ArchSpec) -> Study {
        let recipe = TrainConfig::default();
        Study {
            cells: vec![Cell {
                label: arch.name.clone(),
                arch,
                recipe: recipe.clone(),
            }],
            baseline: "seed".into(),
            recipe,
            runs_at_once: 1,
        }
    }

    #[test]
    fn the_key_covers_each_architectures_layers_not_only_its_name() {
        let mut arch = ArchSpec::by_name("tiny", &[]).unwrap();
        let before = study_key(&data(), &study(arch.clone()));
        assert_eq!(before, study_key(&data(), &study(arch.clone())));
        arch.convs.push(ConvSpec {
            ..arch.convs[0].clone()
        });
        assert_ne!(before, study_key(&data(), &study(arch)));
    }

    #[test]
    fn a_sweep_is_every_combination_with_each_seed_labelled_by_what_varies() {
        let mut config: Config = Config::default();
        config.sweep.learning_rates = vec![0.001, 0.003];
        config.sweep.archs = vec!["tiny".into(), "seed".into()];
        config.sweep.seeds = 2;
        config.sweep.baseline = "lr=0.003,arch=tiny".into();
        config.validate().unwrap();
        let study = sweep(&config).unwrap();
        assert_eq!(study.cells.len(), 8);
        assert_eq!(
            study.labels(),
            [
                "lr=0.001,arch=tiny",
                "lr=0.001,arch=seed",
                "lr=0.003,arch=tiny",
                "lr=0.003,arch=seed"
            ]
        );
        assert_eq!(study.baseline, "lr=0.003,arch=tiny");
        let c = &study.cells[5];
        assert_eq!(
            (
                c.recipe.learning_rate,
                c.recipe.arch.as_str(),
                c.recipe.seed
            ),
            (0.003, "tiny", 43)
        );
        config.sweep.baseline = "lr=1".into();
        let err = sweep(&config).unwrap_err().to_string();
        assert!(
            err.contains("sweep.baseline") && err.contains("no row 'lr=1'"),
            "{err}"
        );
        config.sweep.batch_sizes = vec![0];
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("'sweep.batch_sizes'"), "{err}");
    }

    #[test]
    fn status_tells_done_running_failed_and_missing_cells_apart() {
        let root = tempfile::tempdir().unwrap();
        let tiny = ArchSpec::by_name("tiny", &[]).unwrap();
        let mut s = study(tiny);
        for seed in 1..4 {
            let mut cell = s.cells[0].clone();
            cell.recipe.seed = seed;
            s.cells.push(cell);
        }
        let dir = study_dir(root.path(), &data(), &s);
        let result = RunResult {
            variant: "tiny".into(),
            seed: 42,
            params: 1,
            test_accuracy: 0.5,
            seconds_per_epoch: 1.0,
            inference_images_per_second: 1.0,
            history: vec![],
            threads: 1,
            runs_at_once: 1,
        };
        dir.save_result(0, &result).unwrap();
        let _claim = dir.claim(1).unwrap();
        assert!(
            dir.claim(1).is_err(),
            "a claimed cell cannot be claimed again"
        );
        let mut task = CellTask::this_process();
        task.state = TaskState::Failed {
            message: "boom".into(),
        };
        dir.save_task(2, &task).unwrap();
        let words: Vec<&str> = dir.status(&s).iter().map(CellStatus::word).collect();
        assert_eq!(words, ["done", "running", "failed", "missing"]);
        let table = dir.write_table(&s, &data()).unwrap();
        assert_eq!(table.runs.len(), 1);
        assert_eq!(table.cells, 4);
        assert_eq!(table.missing, ["tiny seed 1", "tiny seed 2", "tiny seed 3"]);
        let saved: AblationResult = read_json(&dir.dir.join("result.json")).unwrap();
        assert_eq!(saved, table);
    }
}
