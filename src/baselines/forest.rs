//! Random forest: bootstrapped CART trees with `sqrt(784) = 28` features tried per split
//! (scikit-learn's defaults); the probabilities are the mean of the trees' leaf shares.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use super::tree::{Columns, Tree, TreeParams};
use crate::classifier::{image_count, Classifier};
use crate::data::{CLASSES, PIXELS};

/// A fitted forest.
pub struct RandomForest {
    pub trees: Vec<Tree>,
}

impl RandomForest {
    /// Grows `trees` trees in parallel; tree `t` draws from its own seed `seed + t`, so the
    /// forest does not depend on the thread count.
    pub fn fit(
        pixels: &[u8],
        labels: &[u8],
        trees: usize,
        max_depth: usize,
        seed: u64,
    ) -> anyhow::Result<Self> {
        let n = image_count(pixels)?;
        if n != labels.len() || n == 0 || trees == 0 {
            anyhow::bail!(
                "random forest: {n} images, {} labels, {trees} trees (need matching, non-zero counts)",
                labels.len()
            );
        }
        let columns = Columns::new(pixels);
        let params = TreeParams {
            max_depth,
            max_features: (PIXELS as f64).sqrt() as usize,
        };
        let trees = (0..trees as u64)
            .into_par_iter()
            .map(|t| {
                let mut rng = StdRng::seed_from_u64(seed.wrapping_add(t));
                let samples = (0..n).map(|_| rng.random_range(0..n as u32)).collect();
                Tree::grow(&columns, labels, samples, params, &mut rng)
            })
            .collect();
        Ok(Self { trees })
    }
}

impl Classifier for RandomForest {
    fn name(&self) -> &str {
        "forest"
    }

    fn predict_proba(&self, pixels: &[u8]) -> anyhow::Result<Vec<f32>> {
        image_count(pixels)?;
        let share = 1.0 / self.trees.len() as f32;
        Ok(pixels
            .par_chunks(PIXELS)
            .flat_map_iter(|img| {
                let mut p = [0.0f32; CLASSES];
                for tree in &self.trees {
                    for (a, b) in p.iter_mut().zip(tree.leaf(img)) {
                        *a += b * share;
                    }
                }
                p
            })
            .collect())
    }

    fn size_bytes(&self) -> usize {
        self.trees.iter().map(Tree::size_bytes).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::accuracy;

    #[test]
    fn fits_a_tiny_set_and_is_deterministic() {
        let data = crate::data::source::load_sample().unwrap();
        let train = data.train.head(300);
        let a = RandomForest::fit(&train.images, &train.labels, 8, 0, 5).unwrap();
        let b = RandomForest::fit(&train.images, &train.labels, 8, 0, 5).unwrap();
        assert_eq!(a.trees, b.trees);
        let probs = a.predict_proba(&train.images).unwrap();
        for row in probs.chunks_exact(CLASSES) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        }
        // Bootstrapped trees grown to purity fit most of their own training set.
        assert!(accuracy(&probs, &train.labels) > 0.95);
        let test = data.test.head(300);
        let held_out = accuracy(&a.predict_proba(&test.images).unwrap(), &test.labels);
        assert!(held_out > 0.5, "{held_out}");
    }
}
