//! `classgen gpu-check` and its CPU-vs-GPU agreement checks. Without the `cuda` feature the
//! command says how to build with it; with the feature the checks run against cuda:0, and on a
//! machine without a GPU they are skipped (saying so) while the command's one-line "no GPU" error
//! is checked instead.

use std::process::{Command, Output};

/// `classgen ARGS` run to its end.
fn classgen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_classgen"))
        .args(args)
        .output()
        .expect("the classgen binary runs")
}

#[cfg(not(feature = "cuda"))]
#[test]
fn gpu_check_without_the_feature_says_how_to_build() {
    let out = classgen(&["gpu-check"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("gpu-check: no GPU to check"), "{err}");
    assert!(err.contains("--features cuda"), "{err}");
}

#[test]
fn gpu_check_refuses_the_cpu() {
    let out = classgen(&["gpu-check", "--device", "cpu"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("name one (cuda:N)"), "{err}");
}

#[cfg(feature = "cuda")]
mod cuda {
    use candle_core::Device;
    use classgen::data::source::load_sample;
    use classgen::gpucheck::{agreement, Plan};

    use super::classgen;

    /// cuda:0, or `None` after saying why the test is skipped.
    fn gpu() -> Option<Device> {
        match classgen::device::open("cuda:0") {
            Ok(device) => Some(device),
            Err(e) => {
                eprintln!("skipped: no GPU here ({e:#})");
                None
            }
        }
    }

    #[test]
    fn every_device_path_agrees_with_the_cpu() {
        let Some(device) = gpu() else { return };
        let sample = load_sample().unwrap();
        let plan = Plan::new(&device, &sample, &sample);
        let checks = agreement::run(&plan, &|line| eprintln!("{line}")).unwrap();
        let failed: Vec<_> = checks.iter().filter(|c| !c.passed()).collect();
        assert!(failed.is_empty(), "out of tolerance: {failed:#?}");
    }

    #[test]
    fn gpu_check_without_a_gpu_is_one_line_naming_what_is_missing() {
        if classgen::device::open("cuda:0").is_ok() {
            eprintln!("skipped: this machine has a GPU");
            return;
        }
        let out = classgen(&["gpu-check"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("error: gpu-check: no GPU to check: cannot open cuda:0: "),
            "{err}"
        );
    }
}
