//! Analysis of any [`crate::classifier::Classifier`]'s outputs: confidence and calibration.

pub mod confidence;
