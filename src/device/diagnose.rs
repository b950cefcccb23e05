//! One line for a CUDA device that cannot be opened: what the CUDA driver reported, what the
//! machine has, and what this build needs.

/// What the driver could tell about the machine (each `None` where it could not).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Found {
    /// The CUDA version the driver supports, as 13000 for 13.0.
    pub driver: Option<u32>,
    /// GPUs the driver sees.
    pub devices: Option<usize>,
    /// The GPU asked for: its name and compute capability.
    pub gpu: Option<(String, (i32, i32))>,
}

/// What this build needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Needed {
    /// The CUDA version it was built with, as 13000 for 13.0.
    pub cuda: u32,
    /// The compute capability its kernels were built for (`CUDA_COMPUTE_CAP`, as `90`), when
    /// the build named one.
    pub compute_cap: Option<String>,
}

/// `13.0` for 13000.
fn version(v: u32) -> String {
    format!("{}.{}", v / 1000, v % 1000 / 10)
}

/// The oldest Linux driver that runs a CUDA major version's code.
fn min_driver(cuda: u32) -> &'static str {
    match cuda / 1000 {
        13.. => "580",
        12 => "525",
        _ => "450",
    }
}

/// Why `cuda:ORDINAL` cannot be used, given the error `code` of the driver (`CUDA_ERROR_...`),
/// cuBLAS or cuRAND. A driver older than the build's CUDA explains any of them: candle's
/// kernels are PTX that only a driver of that CUDA version or newer compiles.
pub fn message(code: &str, ordinal: usize, found: &Found, needed: &Needed) -> String {
    let driver_needed = format!(
        "an NVIDIA driver for CUDA {} ({} or newer)",
        version(needed.cuda),
        min_driver(needed.cuda)
    );
    let driver_found = found
        .driver
        .map_or("a driver of unknown version".into(), |v| {
            format!("a driver for CUDA {}", version(v))
        });
    let gpu = found
        .gpu
        .as_ref()
        .map_or(format!("cuda:{ordinal}"), |(name, (major, minor))| {
            format!("cuda:{ordinal} ({name}, compute capability {major}.{minor})")
        });
    let too_old = found.driver.is_some_and(|v| v / 10 < needed.cuda / 10);
    match code {
        _ if too_old => format!(
            "the driver is too old: found {driver_found}, this classgen was built with CUDA {} and needs {driver_needed} ({code}); update the driver, or build classgen with the CUDA toolkit the driver supports",
            version(needed.cuda)
        ),
        "CUDA_ERROR_STUB_LIBRARY" => format!(
            "no NVIDIA driver: the libcuda.so.1 found is CUDA's stub library ({code}); needs {driver_needed} and a GPU, or use --device cpu"
        ),
        "CUDA_ERROR_NO_DEVICE" => format!(
            "{driver_found} is installed but sees no GPU ({code}; check nvidia-smi and CUDA_VISIBLE_DEVICES), or use --device cpu"
        ),
        "CUDA_ERROR_INVALID_DEVICE" => match found.devices {
            Some(1) => format!("there is no cuda:{ordinal}: this machine has one GPU, cuda:0"),
            Some(n) if n > 1 => format!(
                "there is no cuda:{ordinal}: this machine has {n} GPUs, cuda:0 to cuda:{}",
                n - 1
            ),
            _ => format!("there is no cuda:{ordinal} ({code})"),
        },
        "CUDA_ERROR_INSUFFICIENT_DRIVER"
        | "CUDA_ERROR_UNSUPPORTED_PTX_VERSION"
        | "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE" => format!(
            "the driver does not run this classgen's CUDA {} code: found {driver_found}, needs {driver_needed} ({code})",
            version(needed.cuda)
        ),
        "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH" => format!(
            "the NVIDIA kernel module and its libcuda.so.1 are of different versions ({code}): reinstall the driver or reboot"
        ),
        "CUDA_ERROR_NO_BINARY_FOR_GPU" | "CUDA_ERROR_INVALID_PTX" | "CUDA_ERROR_INVALID_IMAGE" => {
            let rebuild = found.gpu.as_ref().map_or(String::new(), |(_, (major, minor))| {
                format!(": rebuild with CUDA_COMPUTE_CAP={major}{minor}")
            });
            let built = needed
                .compute_cap
                .as_ref()
                .map_or("another compute capability".into(), |cap| {
                    format!("compute capability {cap} (CUDA_COMPUTE_CAP={cap})")
                });
            format!("{gpu} cannot run this classgen's kernels, built for {built} ({code}){rebuild}")
        }
        "CUDA_ERROR_OUT_OF_MEMORY" => {
            format!("{gpu} has no memory free ({code}): other processes hold it (nvidia-smi)")
        }
        "CUDA_ERROR_DEVICE_UNAVAILABLE" | "CUDA_ERROR_NOT_PERMITTED" => format!(
            "{gpu} is busy or reserved ({code}: another process may hold it in exclusive mode, see nvidia-smi)"
        ),
        _ => format!("{code} from {driver_found}; {gpu}; this classgen needs {driver_needed}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needed() -> Needed {
        Needed {
            cuda: 13000,
            compute_cap: Some("90".into()),
        }
    }

    #[test]
    fn the_stub_library_means_no_driver() {
        let m = message("CUDA_ERROR_STUB_LIBRARY", 0, &Found::default(), &needed());
        assert!(m.starts_with("no NVIDIA driver"), "{m}");
        assert!(m.contains("CUDA 13.0 (580 or newer)"), "{m}");
        assert!(m.contains("--device cpu"), "{m}");
    }

    #[test]
    fn an_old_driver_names_both_versions() {
        let found = Found {
            driver: Some(12040),
            ..Found::default()
        };
        for code in [
            "CUDA_ERROR_INSUFFICIENT_DRIVER",
            "CUDA_ERROR_UNSUPPORTED_PTX_VERSION",
        ] {
            let m = message(code, 0, &found, &needed());
            assert!(m.contains("found a driver for CUDA 12.4"), "{m}");
            assert!(
                m.contains("needs an NVIDIA driver for CUDA 13.0 (580"),
                "{m}"
            );
        }
        // With the driver's version unknown, the code still says what is needed.
        let m = message(
            "CUDA_ERROR_UNSUPPORTED_PTX_VERSION",
            0,
            &Found::default(),
            &needed(),
        );
        assert!(
            m.starts_with("the driver does not run this classgen's CUDA 13.0 code"),
            "{m}"
        );
    }

    #[test]
    fn any_error_under_an_old_driver_is_the_old_driver() {
        let found = Found {
            driver: Some(12080),
            devices: Some(1),
            gpu: Some(("NVIDIA L4".into(), (8, 9))),
        };
        let m = message("CUBLAS_STATUS_NOT_INITIALIZED", 0, &found, &needed());
        assert!(
            m.starts_with("the driver is too old: found a driver for CUDA 12.8"),
            "{m}"
        );
        assert!(m.contains("(CUBLAS_STATUS_NOT_INITIALIZED)"), "{m}");
        // A driver newer than the build's is no reason.
        let newer = Found {
            driver: Some(13020),
            ..found
        };
        let m = message("CUDA_ERROR_OUT_OF_MEMORY", 0, &newer, &needed());
        assert!(
            m.starts_with("cuda:0 (NVIDIA L4, compute capability 8.9) has no memory free"),
            "{m}"
        );
    }

    #[test]
    fn a_missing_ordinal_lists_the_gpus() {
        let found = Found {
            devices: Some(2),
            ..Found::default()
        };
        let m = message("CUDA_ERROR_INVALID_DEVICE", 3, &found, &needed());
        assert_eq!(
            m,
            "there is no cuda:3: this machine has 2 GPUs, cuda:0 to cuda:1"
        );
    }

    #[test]
    fn kernels_for_another_gpu_say_how_to_rebuild() {
        let found = Found {
            driver: Some(13000),
            devices: Some(1),
            gpu: Some(("NVIDIA A100".into(), (8, 0))),
        };
        let m = message("CUDA_ERROR_NO_BINARY_FOR_GPU", 0, &found, &needed());
        assert!(
            m.starts_with("cuda:0 (NVIDIA A100, compute capability 8.0) cannot run"),
            "{m}"
        );
        assert!(m.contains("built for compute capability 90"), "{m}");
        assert!(m.ends_with("rebuild with CUDA_COMPUTE_CAP=80"), "{m}");
    }

    #[test]
    fn other_codes_keep_the_code_and_what_was_found() {
        let found = Found {
            driver: Some(13000),
            ..Found::default()
        };
        let m = message("CUDA_ERROR_UNKNOWN", 0, &found, &needed());
        assert!(
            m.contains("CUDA_ERROR_UNKNOWN from a driver for CUDA 13.0"),
            "{m}"
        );
    }
}
