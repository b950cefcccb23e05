//! A real `classgen train` process killed at seeded random points (SIGKILL) or stopped with
//! SIGTERM: resuming always works, loses at most one epoch, and leaves no corrupt file.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use classgen::data::source::load_sample;
use classgen::model::checkpoint;
use rand::{Rng, SeedableRng};

const EPOCHS: &str = "3";

/// Writes a 2,048 / 300 subset of the bundled sample as IDX files.
fn write_data(dir: &Path) {
    let sample = load_sample().unwrap();
    sample.train.head(2048).write(dir, "train").unwrap();
    sample.test.head(300).write(dir, "t10k").unwrap();
}

fn train(cwd: &Path, data: &Path, resume: bool) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_classgen"));
    cmd.current_dir(cwd)
        .args([
            "train",
            "--epochs",
            EPOCHS,
            "--threads",
            "1",
            "--seed",
            "3",
            "--data-dir",
        ])
        .arg(data)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if resume {
        cmd.arg("--resume");
    }
    cmd.spawn().unwrap()
}

/// Reads the child's output until its `n`-th batch line (or its end); returns what it read.
fn wait_for_batch_lines(child: &mut Child, n: usize) -> String {
    let stderr = child.stderr.take().unwrap();
    let (mut seen, mut text) = (0, String::new());
    let mut lines = BufReader::new(stderr).lines();
    while seen < n {
        match lines.next() {
            Some(Ok(line)) => {
                seen += line.contains(" batch ") as usize;
                text.push_str(&line);
                text.push('\n');
            }
            _ => break,
        }
    }
    // Keep draining in the background so the child never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    text
}

/// Every file in the run directory is whole: the checkpoint loads and each log line parses.
fn assert_run_is_whole(run: &Path) -> checkpoint::CheckpointMeta {
    let (_, meta) = checkpoint::load_network(run, &candle_core::Device::Cpu).unwrap();
    let log = std::fs::read_to_string(run.join(classgen::jobs::train::EVENTS)).unwrap();
    for line in log.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("bad log line {line:?}: {e}"));
    }
    meta
}

fn latest(cwd: &Path, output: &str) -> std::path::PathBuf {
    checkpoint::latest_run(&cwd.join("runs"), "train")
        .unwrap_or_else(|| panic!("no checkpoint; the process printed:\n{output}"))
}

#[test]
fn killed_training_resumes_and_loses_at_most_one_epoch() {
    let data = tempfile::tempdir().unwrap();
    write_data(data.path());
    let mut rng = rand::rngs::StdRng::seed_from_u64(2026);
    for _ in 0..3 {
        let cwd = tempfile::tempdir().unwrap();
        let mut child = train(cwd.path(), data.path(), false);
        let kill_at = rng.random_range(1..25);
        let output = wait_for_batch_lines(&mut child, kill_at);
        child.kill().unwrap(); // SIGKILL: no chance to save
        child.wait().unwrap();
        let run = latest(cwd.path(), &output);
        let before = assert_run_is_whole(&run);
        // At most one epoch lost: the checkpoint is at most one epoch behind the progress seen.
        // Ten progress lines per 16-batch epoch: floor(kill_at / 10) epochs had finished.
        assert!(
            before.position.epoch + 1 >= kill_at / 10,
            "killed at line {kill_at}, checkpoint {:?}",
            before.position
        );

        let mut resumed = train(cwd.path(), data.path(), true);
        wait_for_batch_lines(&mut resumed, usize::MAX);
        assert!(resumed.wait().unwrap().success());
        let after = assert_run_is_whole(&run);
        assert_eq!(after.position.epoch, 3);
        assert_eq!(after.history.len(), 3, "one metrics row per epoch");
    }
}

#[test]
fn sigterm_checkpoints_mid_epoch_then_exits_cleanly() {
    let data = tempfile::tempdir().unwrap();
    write_data(data.path());
    let cwd = tempfile::tempdir().unwrap();
    let mut child = train(cwd.path(), data.path(), false);
    let output = wait_for_batch_lines(&mut child, 14);
    // SAFETY: plain kill(2) on our own child's pid.
    let sent = unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(sent, 0);
    let status = child.wait().unwrap();
    assert!(status.success(), "SIGTERM should stop cleanly: {status:?}");
    let run = latest(cwd.path(), &output);
    let meta = assert_run_is_whole(&run);
    assert!(meta.position.epoch < 3, "{:?}", meta.position);

    let mut resumed = train(cwd.path(), data.path(), true);
    wait_for_batch_lines(&mut resumed, usize::MAX);
    assert!(resumed.wait().unwrap().success());
    assert_eq!(assert_run_is_whole(&run).position.epoch, 3);
}
