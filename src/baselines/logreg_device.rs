//! Logistic regression's predictions with candle's tensor ops, on any device (the GPU's path):
//! `softmax(x W + b)` for a model fitted by [`LogReg`].

use candle_core::{Device, Tensor};

use super::logreg::LogReg;
use crate::classifier::image_count;
use crate::data::{CLASSES, PIXELS};

/// Images per product: 10,000 images are 31 MB of f32 pixels.
const BATCH: usize = 10_000;

/// A fitted logistic regression's weights on a device.
pub struct DeviceLogReg {
    /// `[PIXELS, 10]`.
    weights: Tensor,
    /// `[10]`.
    bias: Tensor,
}

impl DeviceLogReg {
    /// Copies `model`'s weights to `device`.
    pub fn new(model: &LogReg, device: &Device) -> candle_core::Result<Self> {
        Ok(Self {
            weights: Tensor::from_slice(&model.weights, (PIXELS, CLASSES), device)?,
            bias: Tensor::from_slice(&model.bias, CLASSES, device)?,
        })
    }

    /// Class probabilities, `n * 10` values, for `n` u8 images (pixels scaled to [0,1] as the
    /// CPU model does).
    pub fn predict_proba(&self, pixels: &[u8]) -> anyhow::Result<Vec<f32>> {
        image_count(pixels)?;
        let mut probs = Vec::with_capacity(pixels.len() / PIXELS * CLASSES);
        for chunk in pixels.chunks(BATCH * PIXELS) {
            let x = Tensor::from_vec(
                super::logreg::features(chunk),
                (chunk.len() / PIXELS, PIXELS),
                self.weights.device(),
            )?;
            let logits = x.matmul(&self.weights)?.broadcast_add(&self.bias)?;
            let p = candle_nn::ops::softmax_last_dim(&logits)?;
            probs.extend(p.flatten_all()?.to_vec1::<f32>()?);
        }
        Ok(probs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baselines::logreg::LogRegParams;
    use crate::classifier::{predictions, Classifier};

    #[test]
    fn equals_the_cpu_model_on_the_sample() {
        let data = crate::data::source::load_sample().unwrap();
        let train = data.train.head(1000);
        let test = data.test.head(300);
        let params = LogRegParams {
            c: 1.0,
            max_iter: 30,
            tolerance: 1e-5,
        };
        let model = LogReg::fit(&train.images, &train.labels, params).unwrap();
        let want = model.predict_proba(&test.images).unwrap();
        let got = DeviceLogReg::new(&model, &Device::Cpu)
            .unwrap()
            .predict_proba(&test.images)
            .unwrap();
        assert_eq!(got.len(), want.len());
        let worst = got
            .iter()
            .zip(&want)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(worst < 1e-5, "largest difference {worst}");
        assert_eq!(predictions(&got), predictions(&want));
    }
}
