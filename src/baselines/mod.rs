//! Classical baselines next to the CNN, each behind [`crate::classifier::Classifier`].

pub mod forest;
pub mod knn;
pub mod knn_device;
pub mod logreg;
pub mod logreg_device;
mod settings;
pub mod svm;
pub mod tree;

pub use settings::BaselinesConfig;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::classifier::Classifier;
use crate::data::Split;

/// The baselines classgen can fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BaselineKind {
    /// Multinomial logistic regression (L-BFGS, L2 like scikit-learn's C).
    Logreg,
    /// Exact k-nearest neighbours, uniform vote.
    Knn,
    /// One CART decision tree (Gini, grown to purity).
    Tree,
    /// Random forest of bootstrapped CART trees.
    Forest,
    /// One-vs-one RBF SVM (SMO), on the first `svm_train_images` training images (0 = all).
    Svm,
}

impl BaselineKind {
    /// Name as in config and tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::Logreg => "logreg",
            Self::Knn => "knn",
            Self::Tree => "tree",
            Self::Forest => "forest",
            Self::Svm => "svm",
        }
    }

    /// The baseline of a table name (`logreg`, ...).
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Logreg, Self::Knn, Self::Tree, Self::Forest, Self::Svm]
            .into_iter()
            .find(|k| k.name() == name)
    }
}

impl fmt::Display for BaselineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Fits one baseline on `train` with the `[baselines]` settings.
pub fn fit(
    kind: BaselineKind,
    train: &Split,
    config: &BaselinesConfig,
) -> anyhow::Result<Box<dyn Classifier>> {
    let (x, y) = (&train.images, &train.labels);
    Ok(match kind {
        BaselineKind::Logreg => Box::new(logreg::LogReg::fit(
            x,
            y,
            logreg::LogRegParams {
                c: config.logreg_c,
                max_iter: config.logreg_max_iter,
                tolerance: 1e-5,
            },
        )?),
        BaselineKind::Knn => {
            let index = knn::KnnIndex::new(x, y, config.knn_pca_dims, config.seed)?;
            Box::new(knn::Knn::new(index, config.k)?)
        }
        BaselineKind::Tree => Box::new(tree::DecisionTree::fit(
            x,
            y,
            config.max_depth,
            config.seed,
        )?),
        BaselineKind::Forest => Box::new(forest::RandomForest::fit(
            x,
            y,
            config.forest_trees,
            config.max_depth,
            config.seed,
        )?),
        BaselineKind::Svm => Box::new(svm::Svm::fit(
            x,
            y,
            svm::SvmParams {
                c: config.svm_c,
                train_images: config.svm_train_images,
            },
        )?),
    })
}
