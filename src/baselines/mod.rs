//! Classical baselines next to the CNN, each behind [`crate::classifier::Classifier`].

pub mod forest;
pub mod knn;
pub mod logreg;
pub mod tree;
