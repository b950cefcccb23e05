//! The real `classgen` binary given sizes past their bounds through flags and config files:
//! each flag reaches the config's validation, so every case exits 1 with one line naming the
//! key, before loading data, allocating or creating a run directory.

use std::path::Path;
use std::process::Command;

/// Runs classgen in `cwd` with `args`; returns (exit code, stderr).
fn classgen(cwd: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_classgen"))
        .current_dir(cwd)
        .args(args)
        .env("XDG_CACHE_HOME", cwd.join("cache"))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn oversized_flags_are_rejected_naming_the_key() {
    let cwd = tempfile::tempdir().unwrap();
    let too_many_threads = (classgen::limits::max_threads() + 1).to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["train", "--batch-size", "10000000"],
            "train.batch_size",
        ),
        (
            vec!["train", "--batch-size", "9223372036854775807"],
            "train.batch_size",
        ),
        (vec!["train", "--threads", "1000"], "train.threads"),
        (
            vec!["train", "--epochs", "9223372036854775807"],
            "train.epochs",
        ),
        (
            vec!["ablate", "--seeds", "1000000000000000000"],
            "ablation.seeds",
        ),
        (vec!["ablate", "--epochs", "100000"], "ablation.epochs"),
        (
            vec!["confidence", "--bins", "1000000000000"],
            "baselines.histogram_bins",
        ),
        (vec!["confidence", "--k", "100000"], "baselines.k"),
        (vec!["baselines", "--k", "100000"], "baselines.k"),
        (
            vec!["invert", "--target", "3", "--threads", "100000"],
            "invert.threads",
        ),
        (
            vec!["invert", "--target", "3", "--threads", &too_many_threads],
            "invert.threads",
        ),
        (
            vec!["invert", "--target", "3", "--max-steps", "1000000000"],
            "invert.max_steps",
        ),
        (
            vec![
                "invert",
                "--model",
                "knn",
                "--target",
                "3",
                "--max-steps",
                "1000000000",
            ],
            "invert.knn.max_steps",
        ),
        (
            vec!["invert", "--grid", "--from", "noise", "--starts", "1000000"],
            "invert.prototype.starts",
        ),
    ];
    for (args, key) in cases {
        let mut all = vec!["--source", "sample"];
        all.splice(0..0, args.iter().copied());
        let (code, stderr) = classgen(cwd.path(), &all);
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("config key '{key}'")),
            "{args:?}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    }
    // Nothing was started: no run directory, no data loaded.
    assert!(!cwd.path().join("runs").exists());
}

#[test]
fn oversized_config_values_are_rejected_naming_the_key() {
    let cwd = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[train]\nbatch_size = 9223372036854775807\n",
            "train.batch_size",
        ),
        ("[train]\nthreads = 1000\n", "train.threads"),
        ("[data]\nhub_timeout_secs = 0\n", "data.hub_timeout_secs"),
        (
            "[[arch]]\nname = \"big\"\nconvs = []\ndense = 1000000000\n",
            "arch",
        ),
    ];
    for (text, key) in cases {
        std::fs::write(cwd.path().join("big.toml"), text).unwrap();
        let (code, stderr) = classgen(cwd.path(), &["--config", "big.toml", "train"]);
        assert_eq!(code, Some(1), "{text}: {stderr}");
        assert!(
            stderr.contains(&format!("config key '{key}'")),
            "{text}: {stderr}"
        );
    }
}

#[test]
fn an_endless_or_odd_config_file_is_a_one_line_error_naming_it() {
    let cwd = tempfile::tempdir().unwrap();
    let (code, stderr) = classgen(cwd.path(), &["--config", "/dev/zero", "train"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr,
        "error: /dev/zero: is a character device, not a regular file\n"
    );
    let (code, stderr) = classgen(cwd.path(), &["--config", ".", "train"]);
    assert_eq!(code, Some(1));
    assert_eq!(stderr, "error: .: is a directory, not a regular file\n");
}

#[test]
fn data_files_that_are_not_files_say_what_they_are() {
    let cwd = tempfile::tempdir().unwrap();
    let data = cwd.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let images = data.join("train-images-idx3-ubyte");
    std::os::unix::fs::symlink(&images, &images).unwrap();
    let data_arg = data.to_string_lossy().into_owned();
    let (code, stderr) = classgen(
        cwd.path(),
        &["train", "--source", "dir", "--data-dir", &data_arg],
    );
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("train-images-idx3-ubyte: cannot read"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("(os error 40)").count(), 1, "{stderr}");
    assert!(!stderr.contains("no train-images"), "{stderr}");
}
