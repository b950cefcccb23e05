//! Compute devices: `cpu`, `cuda` or `cuda:N` (the latter two need the `cuda` cargo feature).

#[cfg(feature = "cuda")]
mod cuda;
#[cfg(any(feature = "cuda", test))]
mod diagnose;

use candle_core::Device;

/// A parsed device name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSpec {
    Cpu,
    Cuda(usize),
}

/// Parses `cpu`, `cuda` or `cuda:N`; the error says what is allowed.
pub fn parse(name: &str) -> Result<DeviceSpec, String> {
    match name {
        "cpu" => Ok(DeviceSpec::Cpu),
        "cuda" => Ok(DeviceSpec::Cuda(0)),
        _ => name
            .strip_prefix("cuda:")
            .and_then(|n| n.parse().ok())
            .map(DeviceSpec::Cuda)
            .ok_or_else(|| format!("expected 'cpu', 'cuda' or 'cuda:N', found '{name}'")),
    }
}

/// Opens a device by name.
pub fn open(name: &str) -> anyhow::Result<Device> {
    match parse(name).map_err(anyhow::Error::msg)? {
        DeviceSpec::Cpu => Ok(Device::Cpu),
        DeviceSpec::Cuda(ordinal) => open_cuda(ordinal),
    }
}

/// One line about a device for reports: the CPU's threads, a GPU's model, compute capability,
/// memory and driver.
pub fn describe(device: &Device) -> String {
    match device {
        Device::Cpu => format!("cpu ({} threads)", rayon::current_num_threads()),
        #[cfg(feature = "cuda")]
        Device::Cuda(gpu) => cuda::describe(gpu),
        other => format!("{:?}", other.location()),
    }
}

#[cfg(feature = "cuda")]
fn open_cuda(ordinal: usize) -> anyhow::Result<Device> {
    cuda::open(ordinal)
}

#[cfg(not(feature = "cuda"))]
fn open_cuda(_ordinal: usize) -> anyhow::Result<Device> {
    anyhow::bail!(
        "this classgen was built without CUDA: rebuild with `cargo build --release --features cuda` (with the CUDA toolkit, or after scripts/cuda-toolchain.sh where there is none), or use --device cpu"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_names() {
        assert_eq!(parse("cpu"), Ok(DeviceSpec::Cpu));
        assert_eq!(parse("cuda"), Ok(DeviceSpec::Cuda(0)));
        assert_eq!(parse("cuda:1"), Ok(DeviceSpec::Cuda(1)));
        assert!(parse("gpu").unwrap_err().contains("cuda:N"));
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_says_how_to_build() {
        let err = open("cuda").unwrap_err().to_string();
        assert!(err.contains("--features cuda"), "{err}");
    }
}
