//! A study through a real Slurm: `classgen ablate --slurm` on a one-node cluster
//! (scripts/slurm-local.sh start), its array waited for with a deadline, and its table equal to
//! the same study run here, to the last digit. Without a Slurm cluster the test says so and
//! skips, unless CLASSGEN_REQUIRE_SLURM=1 (as .ci/run sets it), where it fails.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use classgen::data::source::load_sample;
use classgen::jobs::ablate::AblationResult;

fn classgen(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_classgen"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Why there is no Slurm cluster to submit to, if there is none.
fn no_slurm() -> Option<String> {
    match Command::new("sinfo").args(["-h", "-o", "%t"]).output() {
        Err(e) => Some(format!("sinfo: {e}")),
        Ok(out) if !out.status.success() => Some(format!("sinfo: {}", text(&out.stderr).trim())),
        Ok(out) => {
            let states = text(&out.stdout);
            let up = states
                .lines()
                .any(|s| ["idle", "mix", "alloc"].contains(&s.trim()));
            (!up).then(|| format!("no node up (sinfo: {})", states.trim()))
        }
    }
}

/// A directory with `data/`: part of the bundled sample as IDX files.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let sample = load_sample().unwrap();
    sample.train.head(1024).write(&data, "train").unwrap();
    sample.test.head(200).write(&data, "t10k").unwrap();
    dir
}

const STUDY: [&str; 9] = [
    "ablate",
    "--variants",
    "seed,tiny",
    "--seeds",
    "2",
    "--epochs",
    "1",
    "--data-dir",
    "data",
];

/// Everything in a table but the times.
fn numbers(t: &AblationResult) -> String {
    let mut t = t.clone();
    for r in &mut t.rows {
        r.seconds_per_epoch = 0.0;
        r.inference_images_per_second = 0.0;
    }
    for r in &mut t.runs {
        r.seconds_per_epoch = 0.0;
        r.inference_images_per_second = 0.0;
        r.threads = 0;
        r.runs_at_once = 0;
        for m in &mut r.history {
            m.seconds = 0.0;
            m.eval_seconds = 0.0;
            m.images_per_second = 0.0;
        }
    }
    serde_json::to_string_pretty(&(t.rows, t.runs, t.seeds, t.missing)).unwrap()
}

#[test]
fn a_study_through_slurm_gives_the_table_of_the_study_run_here() {
    if let Some(why) = no_slurm() {
        if std::env::var("CLASSGEN_REQUIRE_SLURM").as_deref() == Ok("1") {
            panic!("CLASSGEN_REQUIRE_SLURM=1 but there is no Slurm cluster: {why}");
        }
        eprintln!("skipped: no Slurm cluster ({why}); scripts/slurm-local.sh start makes one");
        return;
    }
    let ws = workspace();
    let with = |more: &[&'static str]| -> Vec<&str> { [&STUDY[..], more].concat() };

    let dry = classgen(
        ws.path(),
        &with(&["--slurm", "--max-running", "2", "--dry-run"]),
    );
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    let script = text(&dry.stdout);
    assert!(script.contains("#SBATCH --array=0-3%2"), "{script}");
    assert!(
        script.contains("--cell \"$SLURM_ARRAY_TASK_ID\""),
        "{script}"
    );

    let submitted = classgen(
        ws.path(),
        &with(&["--slurm", "--cpus-per-task", "1", "--max-running", "2"]),
    );
    assert!(submitted.status.success(), "{}", text(&submitted.stderr));
    let job = text(&submitted.stdout).trim().to_string();
    assert!(
        !job.is_empty() && job.chars().all(|c| c.is_ascii_digit()),
        "job id: {job:?}"
    );

    // Wait for the array to leave the queue, polling with a deadline.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let queue = Command::new("squeue")
            .args(["-h", "-j", &job, "-o", "%i %t"])
            .output()
            .unwrap();
        if text(&queue.stdout).trim().is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the array is still queued after 600 s: {}",
            text(&queue.stdout)
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    let status = classgen(ws.path(), &with(&["--status"]));
    let says = text(&status.stdout);
    let logs: Vec<String> = std::fs::read_dir(ws.path().join("runs"))
        .unwrap()
        .flat_map(|d| {
            std::fs::read_dir(d.unwrap().path().join("slurm"))
                .into_iter()
                .flatten()
        })
        .map(|f| std::fs::read_to_string(f.unwrap().path()).unwrap_or_default())
        .collect();
    assert!(
        says.contains("4 done, 0 running, 0 failed, 0 missing"),
        "{says}\nlogs:\n{}",
        logs.join("\n---\n")
    );
    let slurm_table = classgen(ws.path(), &with(&["--json"]));
    assert!(
        slurm_table.status.success(),
        "{}",
        text(&slurm_table.stderr)
    );
    assert!(text(&slurm_table.stderr).contains("4 already done"));
    let slurm_table: AblationResult = serde_json::from_slice(&slurm_table.stdout).unwrap();
    // Every cell ran in a Slurm task of this job.
    let tasks: Vec<String> = (0..4)
        .map(|i| {
            let dir = ws.path().join("runs");
            let study = std::fs::read_dir(&dir)
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .path();
            std::fs::read_to_string(study.join("cells").join(i.to_string()).join("task.json"))
                .unwrap()
        })
        .collect();
    for (i, task) in tasks.iter().enumerate() {
        let task: serde_json::Value = serde_json::from_str(task).unwrap();
        assert_eq!(task["slurm_job"], job.as_str(), "{task}");
        assert_eq!(task["slurm_task"], i.to_string(), "{task}");
    }

    let here = workspace();
    let local = classgen(here.path(), &with(&["--runs-at-once", "2", "--json"]));
    assert!(local.status.success(), "{}", text(&local.stderr));
    let local: AblationResult = serde_json::from_slice(&local.stdout).unwrap();
    assert_eq!(local.runs.len(), 4);
    assert_eq!(numbers(&slurm_table), numbers(&local));
}
