//! Classical baselines next to the CNN, each behind [`crate::classifier::Classifier`].

pub mod knn;
