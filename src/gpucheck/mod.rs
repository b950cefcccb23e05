//! `classgen gpu-check`: does a second device (a GPU) compute what the CPU computes, and how
//! fast? [`agreement`] compares every path classgen runs on a device, CPU against the device:
//! the CNN's forward pass and gradients, one epoch of training, an inversion trajectory, k-NN
//! and logistic-regression predictions. [`figures`] then times training, inference, an
//! inversion step and k-NN on both. [`Report::markdown`] writes it all as one report.

pub mod agreement;
pub mod figures;
mod report;

use crate::baselines::logreg::LogRegParams;
use crate::data::{Dataset, Origin};
use candle_core::Device;

/// Weights and data order of every network in the checks.
const SEED: u64 = 42;

/// What to check, on what data.
pub struct Plan<'a> {
    /// The device compared with the CPU.
    pub device: &'a Device,
    /// Data of the agreement checks (the bundled sample).
    pub checks: &'a Dataset,
    /// Data of the speed figures: full MNIST, or the sample with figures scaled to full size.
    pub figures: &'a Dataset,
    /// Images of the forward and gradient checks, and the training batch.
    pub batch: usize,
    /// Steps of the inversion trajectory.
    pub inversion_steps: usize,
    /// Neighbours of the k-NN checks.
    pub k: usize,
    /// The logistic regression fitted for its check.
    pub logreg: LogRegParams,
}

impl<'a> Plan<'a> {
    /// The standard plan: batches of 128, 40 inversion steps, k = 3, logistic regression as
    /// `classgen baselines` fits it.
    pub fn new(device: &'a Device, checks: &'a Dataset, figures: &'a Dataset) -> Self {
        Self {
            device,
            checks,
            figures,
            batch: 128,
            inversion_steps: 40,
            k: 3,
            logreg: LogRegParams {
                c: 1.0,
                max_iter: 100,
                tolerance: 1e-5,
            },
        }
    }
}

/// One agreement check: a difference between the CPU's and the device's results.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub name: String,
    /// What `measured` is.
    pub measure: &'static str,
    pub measured: f64,
    pub tolerance: f64,
}

impl Check {
    /// Whether the difference is within tolerance (a NaN is not).
    pub fn passed(&self) -> bool {
        self.measured <= self.tolerance
    }
}

/// One speed figure: seconds on the CPU and on the device.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub what: String,
    pub cpu_seconds: f64,
    pub device_seconds: f64,
    /// Measured on fewer images and scaled linearly to the size `what` names.
    pub scaled: bool,
}

/// Everything `classgen gpu-check` found.
#[derive(Debug, Clone)]
pub struct Report {
    /// `cpu (16 threads)` and the device's own description.
    pub cpu: String,
    pub device: String,
    /// Where the data of the checks and of the figures came from.
    pub checks_data: String,
    pub figures_data: String,
    pub checks: Vec<Check>,
    pub figures: Vec<Figure>,
    /// Wall time of the whole check.
    pub seconds: f64,
}

impl Report {
    /// Checks out of tolerance.
    pub fn failed(&self) -> usize {
        self.checks.iter().filter(|c| !c.passed()).count()
    }
}

/// Runs the agreement checks, then the speed figures; `progress` gets one line per result.
pub fn run(plan: &Plan, progress: &dyn Fn(&str)) -> anyhow::Result<Report> {
    let started = std::time::Instant::now();
    let describe = |d: &Dataset| {
        let origin = match &d.origin {
            Origin::Sample => "the bundled sample".to_string(),
            Origin::Dir(dir) => dir.display().to_string(),
            Origin::Hub { dir, .. } => format!("the Hub's copy in {}", dir.display()),
        };
        format!(
            "{origin} ({} train / {} test images)",
            d.train.len(),
            d.test.len()
        )
    };
    let checks = agreement::run(plan, progress)?;
    let figures = figures::run(plan, progress)?;
    Ok(Report {
        cpu: crate::device::describe(&Device::Cpu),
        device: crate::device::describe(plan.device),
        checks_data: describe(plan.checks),
        figures_data: describe(plan.figures),
        checks,
        figures,
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::source::load_sample;

    #[test]
    fn the_cpu_agrees_with_itself_and_the_report_says_so() {
        let full = load_sample().unwrap();
        let small = Dataset {
            train: full.train.head(512),
            test: full.test.head(256),
            ..full
        };
        let plan = Plan {
            batch: 64,
            inversion_steps: 5,
            logreg: LogRegParams {
                c: 1.0,
                max_iter: 10,
                tolerance: 1e-5,
            },
            ..Plan::new(&Device::Cpu, &small, &small)
        };
        let lines = std::cell::RefCell::new(Vec::new());
        let report = run(&plan, &|l| lines.borrow_mut().push(l.to_string())).unwrap();
        assert_eq!(report.failed(), 0, "{:#?}", report.checks);
        // Forward, nine gradients (8 parameters and the input), training (3), inversion (2),
        // k-NN (2), logistic regression (2).
        assert_eq!(report.checks.len(), 19);
        // The same code on the same device gives the same numbers; the two logistic
        // regressions are different code (candle's product and softmax against classgen's).
        assert!(
            report
                .checks
                .iter()
                .all(|c| c.measured == 0.0 || c.name.starts_with("logistic regression")),
            "{report:#?}"
        );
        assert_eq!(report.figures.len(), 4);
        assert!(report.figures.iter().all(|f| f.device_seconds > 0.0));
        // All but the inversion step depend on the data's size, here far from full MNIST's.
        assert_eq!(report.figures.iter().filter(|f| f.scaled).count(), 3);
        assert_eq!(lines.borrow().len(), 19 + 4);
        let text = report.markdown("cpu");
        assert!(text.contains("| gradient of conv1.weight |"), "{text}");
        assert!(text.contains("19 of 19 checks passed"), "{text}");
    }
}
