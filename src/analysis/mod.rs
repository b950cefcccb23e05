//! Analysis of any [`crate::classifier::Classifier`]'s outputs: confidence and calibration,
//! accuracy under noise and attack.

pub mod confidence;
pub mod robustness;
