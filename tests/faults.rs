//! Faults injected into a real `classgen train` process on a subset of the bundled sample:
//! SIGKILL at seeded points and between the steps of a checkpoint save, SIGTERM, closed pipes,
//! a file-size limit that makes a save fail (a full disk), two writers of one run, a tampered
//! checkpoint. After each, resuming ends with the same weights, bit for bit, as an uninterrupted
//! run of the same seed.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use classgen::data::source::load_sample;
use classgen::runs::checkpoint;
use classgen::runs::{RunInfo, RunKind, RunState, RunStore, EVENTS};
use rand::{Rng, SeedableRng};

const EPOCHS: &str = "2";

/// Writes a 1,024 / 200 subset of the bundled sample as IDX files.
fn write_data(dir: &Path) {
    let sample = load_sample().unwrap();
    sample.train.head(1024).write(dir, "train").unwrap();
    sample.test.head(200).write(dir, "t10k").unwrap();
}

/// `classgen train` of the tiny net on `data` in `cwd` (16 batches of 64 per epoch), with
/// `extra` arguments; stdin piped (the pause hook waits on it), stderr piped.
fn command(cwd: &Path, data: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_classgen"));
    cmd.current_dir(cwd)
        .args(["train", "--threads", "1"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if !extra.contains(&"--resume") {
        if !extra.contains(&"--epochs") {
            cmd.args(["--epochs", EPOCHS]);
        }
        cmd.args([
            "--arch",
            "tiny",
            "--batch-size",
            "64",
            "--seed",
            "3",
            "--schedule",
            "constant",
            "--augment-shift",
            "1",
            "--data-dir",
        ])
        .arg(data);
    }
    cmd
}

/// A running `classgen train` and what it has said on stderr so far.
struct Proc {
    child: Child,
    lines: std::io::Lines<BufReader<std::process::ChildStderr>>,
    text: String,
    batches: usize,
}

impl Proc {
    fn start(mut cmd: Command) -> Self {
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        Self {
            child,
            lines: BufReader::new(stderr).lines(),
            text: String::new(),
            batches: 0,
        }
    }

    /// Reads stderr until a line `stop` accepts (given the batch lines so far) or its end.
    fn until(&mut self, stop: impl Fn(&str, usize) -> bool) -> &str {
        for line in self.lines.by_ref() {
            let Ok(line) = line else { break };
            self.batches += usize::from(line.contains(" batch "));
            self.text.push_str(&line);
            self.text.push('\n');
            if stop(&line, self.batches) {
                break;
            }
        }
        &self.text
    }

    /// Lets it run to the end; the exit code and all of stderr.
    fn finish(mut self) -> (i32, String) {
        drop(self.child.stdin.take());
        self.until(|_, _| false);
        let status = self.child.wait().unwrap();
        (status.code().unwrap_or(-1), self.text)
    }

    /// SIGKILL: no chance to save. Returns what it said.
    fn kill(mut self) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.text
    }
}

fn spawn(cwd: &Path, data: &Path, extra: &[&str]) -> Proc {
    Proc::start(command(cwd, data, extra))
}

/// The only training run under `cwd/runs`.
fn the_run(cwd: &Path, output: &str) -> RunInfo {
    RunStore::new(cwd.join("runs"))
        .newest(RunKind::Train, |_| true)
        .unwrap_or_else(|| panic!("no run; the process printed:\n{output}"))
}

/// Every file of the run is whole: the checkpoint loads and each log line parses.
fn assert_whole(run: &Path) -> checkpoint::CheckpointMeta {
    let (_, _, meta) = checkpoint::load_for_resume(run, &candle_core::Device::Cpu).unwrap();
    let log = std::fs::read_to_string(run.join(EVENTS)).unwrap();
    for line in log.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("bad log line {line:?}: {e}"));
    }
    meta
}

/// The weights of the run's committed checkpoint.
fn weights(run: &Path) -> Vec<(String, Vec<f32>)> {
    let (net, _) = checkpoint::load_network(run, &candle_core::Device::Cpu).unwrap();
    let mut named: Vec<_> = net
        .named_tensors()
        .into_iter()
        .map(|(n, t)| (n, t.flatten_all().unwrap().to_vec1::<f32>().unwrap()))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
}

/// A workspace with the data and the weights of an uninterrupted run.
struct Bench {
    data: tempfile::TempDir,
    reference: Vec<(String, Vec<f32>)>,
    _reference_dir: tempfile::TempDir,
}

impl Bench {
    fn new() -> Self {
        let data = tempfile::tempdir().unwrap();
        write_data(data.path());
        let cwd = tempfile::tempdir().unwrap();
        let (code, out) = spawn(cwd.path(), data.path(), &[]).finish();
        assert_eq!(code, 0, "{out}");
        let reference = weights(&the_run(cwd.path(), &out).dir);
        Self {
            data,
            reference,
            _reference_dir: cwd,
        }
    }

    /// Resumes the run in `cwd` to the end and checks it equals the uninterrupted run.
    fn resume_matches(&self, cwd: &Path) {
        let (code, out) = spawn(cwd, self.data.path(), &["--resume"]).finish();
        assert_eq!(code, 0, "resume failed:\n{out}");
        let run = the_run(cwd, &out);
        assert_eq!(run.state(), RunState::Finished);
        let meta = assert_whole(&run.dir);
        assert_eq!(meta.progress.position.epoch, 2);
        assert_eq!(meta.progress.history.len(), 2, "one metrics row per epoch");
        assert!(
            weights(&run.dir) == self.reference,
            "the resumed run's weights differ from the uninterrupted run's"
        );
    }
}

#[test]
fn killed_or_stopped_training_resumes_to_the_uninterrupted_weights() {
    let bench = Bench::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(2026);
    // SIGKILL after a seeded number of progress lines (ten per epoch).
    for _ in 0..2 {
        let cwd = tempfile::tempdir().unwrap();
        let mut child = spawn(cwd.path(), bench.data.path(), &[]);
        let kill_at = rng.random_range(1..18);
        child.until(|_, batches| batches >= kill_at);
        let out = child.kill();
        let run = the_run(cwd.path(), &out);
        assert_eq!(run.state(), RunState::Interrupted);
        let before = assert_whole(&run.dir);
        assert!(
            before.progress.position.epoch + 1 >= kill_at / 10,
            "killed at line {kill_at}, checkpoint {:?}",
            before.progress.position
        );
        bench.resume_matches(cwd.path());
    }
    // SIGKILL between every two steps of the save after the first epoch (generation 2).
    for step in ["weights", "optimizer", "generation", "meta"] {
        let cwd = tempfile::tempdir().unwrap();
        let mut cmd = command(cwd.path(), bench.data.path(), &[]);
        cmd.env("CLASSGEN_TEST_PAUSE_SAVE", format!("{step}@2"));
        let mut child = Proc::start(cmd);
        child.until(|line, _| line.contains("paused after"));
        let out = child.kill();
        assert!(out.contains(&format!("paused after {step}@2")), "{out}");
        let run = the_run(cwd.path(), &out);
        let meta = assert_whole(&run.dir);
        let expected = if step == "meta" { 2 } else { 1 };
        assert_eq!(meta.generation, expected, "killed after {step}");
        bench.resume_matches(cwd.path());
    }
    // SIGTERM mid-epoch: a checkpoint at the batch, then exit status 143.
    let cwd = tempfile::tempdir().unwrap();
    let mut child = spawn(cwd.path(), bench.data.path(), &[]);
    child.until(|_, batches| batches >= 14);
    // SAFETY: plain kill(2) on our own child's pid.
    assert_eq!(
        unsafe { libc::kill(child.child.id() as i32, libc::SIGTERM) },
        0
    );
    let (code, out) = child.finish();
    assert_eq!(code, 143, "{out}");
    assert!(out.contains("--resume"), "{out}");
    let run = the_run(cwd.path(), &out);
    assert!(
        matches!(run.state(), RunState::Stopped { at: Some(p) } if p.epoch == 1 && p.batch > 0),
        "{:?}",
        run.state()
    );
    bench.resume_matches(cwd.path());
}

#[test]
fn closed_pipes_end_quietly_after_a_checkpoint() {
    let bench = Bench::new();
    // stderr closed mid-training: the run stops with a checkpoint and exits 141, no panic.
    let cwd = tempfile::tempdir().unwrap();
    let mut child = spawn(cwd.path(), bench.data.path(), &[]);
    child.until(|_, batches| batches >= 3);
    let Proc {
        mut child, lines, ..
    } = child;
    drop(lines);
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(141), "{status:?}");
    let run = the_run(cwd.path(), "");
    assert!(
        matches!(run.state(), RunState::Stopped { .. }),
        "{:?}",
        run.state()
    );
    bench.resume_matches(cwd.path());

    // stdout closed before the --json result: exit 141, no panic message.
    let cwd = tempfile::tempdir().unwrap();
    let mut cmd = command(cwd.path(), bench.data.path(), &["--json"]);
    cmd.stdout(Stdio::piped());
    let mut child = Proc::start(cmd);
    drop(child.child.stdout.take());
    let (code, out) = child.finish();
    assert_eq!(code, 141, "{out}");
    assert!(!out.contains("panicked"), "{out}");
}

/// A command whose files may grow to at most `bytes` (a write past it fails as on a full disk).
fn with_file_limit(cmd: &mut Command, bytes: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[test]
fn a_failed_save_keeps_the_last_checkpoint_and_a_second_writer_is_refused() {
    let bench = Bench::new();
    let cwd = tempfile::tempdir().unwrap();
    // One epoch (generations 1 and 2), then a resume whose save of generation 3 cannot be
    // written whole: the optimizer file is about twice the weights' (57 KB and 115 KB).
    let (code, out) = spawn(cwd.path(), bench.data.path(), &["--epochs", "1"]).finish();
    assert_eq!(code, 0, "{out}");
    let run = the_run(cwd.path(), &out);
    let extend = ["--resume", run.name.as_str(), "--epochs", "2"];
    let mut cmd = command(cwd.path(), bench.data.path(), &extend);
    with_file_limit(&mut cmd, 80_000);
    let (code, out) = Proc::start(cmd).finish();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("optimizer.safetensors"),
        "the error names the file:\n{out}"
    );
    let meta = assert_whole(&run.dir);
    assert_eq!(
        meta.progress.position.epoch, 1,
        "the last good checkpoint is kept"
    );
    let state = RunInfo::read(&run.dir).unwrap().state();
    assert!(matches!(state, RunState::Failed { .. }), "{state:?}");

    // Two writers: the first resume holds the run (paused in its save), the second is refused.
    let mut cmd = command(cwd.path(), bench.data.path(), &extend);
    cmd.env("CLASSGEN_TEST_PAUSE_SAVE", "meta@3");
    let mut first = Proc::start(cmd);
    let said = first.until(|line, _| line.contains("paused after"));
    assert!(said.contains("paused after"), "{said}");
    let (code, second) = spawn(cwd.path(), bench.data.path(), &["--resume", &run.name]).finish();
    assert_eq!(code, 1, "{second}");
    assert!(
        second.contains(&format!("PID {}", first.child.id())),
        "{second}"
    );
    let (code, out) = first.finish();
    assert_eq!(code, 0, "{out}");
    let meta = assert_whole(&run.dir);
    assert_eq!(meta.progress.position.epoch, 2);
    assert!(
        weights(&run.dir) == bench.reference,
        "weights differ after the failed save"
    );

    // A tampered checkpoint is refused with the key named, before any training.
    let path = run.dir.join(checkpoint::CHECKPOINT);
    let text = std::fs::read_to_string(&path).unwrap();
    let tampered = text.replace("\"batch_size\": 64", "\"batch_size\": 0");
    assert_ne!(text, tampered);
    std::fs::write(&path, tampered).unwrap();
    let args = ["--resume", run.name.as_str(), "--epochs", "3"];
    let (code, out) = spawn(cwd.path(), bench.data.path(), &args).finish();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("train.batch_size") && out.contains("checkpoint.json"),
        "{out}"
    );
}

#[test]
fn resume_keeps_the_runs_recipe_and_data() {
    let bench = Bench::new();
    let cwd = tempfile::tempdir().unwrap();
    let mut child = spawn(cwd.path(), bench.data.path(), &[]);
    child.until(|_, batches| batches >= 4);
    child.kill();
    // A recipe flag is refused; without flags the run's own epochs and data are used (the
    // config default of 5 epochs does not win over the run's 2).
    let (code, out) = spawn(cwd.path(), bench.data.path(), &["--resume", "--lr", "0.1"]).finish();
    assert_eq!(code, 1);
    assert!(out.contains("--lr cannot change when resuming"), "{out}");
    let args = ["--resume", "--source", "sample"];
    let (code, out) = spawn(cwd.path(), bench.data.path(), &args).finish();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("1024 train") && out.contains("8000 train"),
        "{out}"
    );
    bench.resume_matches(cwd.path());
}
