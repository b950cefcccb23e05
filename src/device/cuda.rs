//! Opening a CUDA device (the `cuda` feature): one kernel is run at once, and a failure is told
//! in one line by [`super::diagnose`], from the error code of the driver, cuBLAS or cuRAND and
//! what the driver can say about the machine.

use candle_core::cuda_backend::cudarc::driver::{result, sys, CudaContext, DriverError};
use candle_core::cuda_backend::{CudaDevice, CudaError};
use candle_core::{DType, Device, Tensor};

use super::diagnose::{self, Found, Needed};

/// Opens `cuda:ORDINAL` and runs one kernel on it.
pub fn open(ordinal: usize) -> anyhow::Result<Device> {
    let device = Device::new_cuda(ordinal).map_err(|e| failure(ordinal, &e))?;
    // candle loads its kernels on first use: use one now, so that a driver too old for them or
    // a GPU they were not built for is reported here, not in the middle of a job.
    Tensor::zeros(4, DType::F32, &device)
        .and_then(|t| t.affine(2.0, 1.0))
        .and_then(|t| t.to_vec1::<f32>())
        .map_err(|e| failure(ordinal, &e))?;
    Ok(device)
}

/// `NVIDIA H200, compute capability 9.0, 140 GiB, driver for CUDA 13.0`.
pub fn describe(device: &CudaDevice) -> String {
    let context = device.cuda_stream().context().clone();
    let name = context.name().unwrap_or_else(|e| format!("{e:?}"));
    let capability = context
        .compute_capability()
        .map_or("?".into(), |(major, minor)| format!("{major}.{minor}"));
    let memory = context
        .total_mem()
        .map_or("?".into(), |bytes| format!("{}", bytes >> 30));
    let driver = driver_version().map_or("?".into(), |v| format!("{}.{}", v / 1000, v % 1000 / 10));
    format!("{name}, compute capability {capability}, {memory} GiB, driver for CUDA {driver}")
}

/// What this build needs: the CUDA version cudarc was built against and the compute
/// capability named at build time, if any.
pub fn needed() -> Needed {
    Needed {
        cuda: sys::CUDA_VERSION,
        compute_cap: option_env!("CUDA_COMPUTE_CAP").map(str::to_string),
    }
}

/// The one-line error for `err`, raised opening or first using `cuda:ORDINAL`.
fn failure(ordinal: usize, err: &candle_core::Error) -> anyhow::Error {
    match status(err) {
        Some(code) => {
            let line = diagnose::message(&code, ordinal, &probe(ordinal), &needed());
            anyhow::anyhow!("cannot open cuda:{ordinal}: {line}")
        }
        None => anyhow::anyhow!("cannot open cuda:{ordinal}: {}", innermost(err)),
    }
}

/// The error without candle's backtrace and context layers.
fn innermost(err: &candle_core::Error) -> &candle_core::Error {
    match err {
        candle_core::Error::WithBacktrace { inner, .. }
        | candle_core::Error::Context { inner, .. } => innermost(inner),
        _ => err,
    }
}

/// The status name (`CUDA_ERROR_NO_DEVICE`, `CUBLAS_STATUS_NOT_INITIALIZED`) of the driver,
/// cuBLAS or cuRAND error inside a candle error, if that is what it is.
fn status(err: &candle_core::Error) -> Option<String> {
    match innermost(err) {
        candle_core::Error::Cuda(inner) => match inner.downcast_ref::<CudaError>()? {
            CudaError::Cuda(DriverError(code))
            | CudaError::Load {
                cuda: DriverError(code),
                ..
            } => Some(format!("{code:?}")),
            CudaError::Cublas(e) => Some(format!("{:?}", e.0)),
            CudaError::Curand(e) => Some(format!("{:?}", e.0)),
            _ => None,
        },
        _ => None,
    }
}

/// The CUDA version the installed driver supports (none from the stub library).
fn driver_version() -> Option<u32> {
    let mut version = 0;
    // SAFETY: cuDriverGetVersion writes one int through the pointer it is given, and needs no
    // initialised driver.
    let status = unsafe { sys::cuDriverGetVersion(&mut version) };
    (status == sys::CUresult::CUDA_SUCCESS)
        .then_some(version)
        .and_then(|v| u32::try_from(v).ok())
}

/// What the driver can say about the machine and about `cuda:ORDINAL`.
fn probe(ordinal: usize) -> Found {
    let devices = CudaContext::device_count()
        .ok()
        .and_then(|n| usize::try_from(n).ok());
    let gpu = i32::try_from(ordinal)
        .ok()
        .filter(|_| devices.is_some_and(|n| ordinal < n))
        .and_then(|i| result::device::get(i).ok())
        .and_then(|dev| {
            let name = result::device::get_name(dev).ok()?;
            let attribute = |a| {
                // SAFETY: `dev` was just returned by cuDeviceGet.
                unsafe { result::device::get_attribute(dev, a) }.ok()
            };
            let major =
                attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)?;
            let minor =
                attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)?;
            Some((name, (major, minor)))
        });
    Found {
        driver: driver_version(),
        devices,
        gpu,
    }
}
