//! `[baselines]`: the settings of the classical models and of the confidence analysis.

use serde::{Deserialize, Serialize};

use super::BaselineKind;

/// `[baselines]`: the classical models and the confidence analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BaselinesConfig {
    pub models: Vec<BaselineKind>,
    pub k: usize,
    pub knn_pca_dims: usize,
    pub logreg_c: f64,
    pub logreg_max_iter: usize,
    pub max_depth: usize,
    pub forest_trees: usize,
    pub svm_c: f64,
    pub svm_train_images: usize,
    pub seed: u64,
    pub histogram_bins: usize,
    pub ece_bins: usize,
}

impl Default for BaselinesConfig {
    fn default() -> Self {
        Self {
            models: vec![
                BaselineKind::Logreg,
                BaselineKind::Knn,
                BaselineKind::Tree,
                BaselineKind::Forest,
            ],
            k: 3,
            knn_pca_dims: 64,
            logreg_c: 1.0,
            logreg_max_iter: 100,
            max_depth: 0,
            forest_trees: 100,
            svm_c: 10.0,
            svm_train_images: 0,
            seed: 42,
            histogram_bins: 20,
            ece_bins: 15,
        }
    }
}
