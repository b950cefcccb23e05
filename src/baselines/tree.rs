//! CART decision trees (Gini) on u8 pixels, split search by histogram over the 256 values.
//!
//! Like scikit-learn: grown until pure (unless `max_depth`), a threshold halfway between two
//! adjacent observed values (`x <= t` goes left), and with `max_features` the features are
//! drawn at random until that many non-constant ones have been tried. A leaf predicts the class
//! shares of its training samples.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::classifier::{image_count, Classifier};
use crate::data::{CLASSES, PIXELS};

/// Pixel values.
const LEVELS: usize = 256;

/// One node: a split or a leaf.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Split {
        feature: u16,
        threshold: u8,
        left: u32,
        right: u32,
    },
    Leaf([f32; CLASSES]),
}

/// Growing settings.
#[derive(Debug, Clone, Copy)]
pub struct TreeParams {
    /// Deepest level (0 = unlimited).
    pub max_depth: usize,
    /// Features tried per split (at least 1; `PIXELS` = all).
    pub max_features: usize,
}

/// Training images stored feature-major (`PIXELS` columns of `n` values) for the histograms.
pub struct Columns {
    data: Vec<u8>,
    n: usize,
}

impl Columns {
    /// Transposes `n` row-major images.
    pub fn new(pixels: &[u8]) -> Self {
        let n = pixels.len() / PIXELS;
        let mut data = vec![0u8; pixels.len()];
        for (i, img) in pixels.chunks_exact(PIXELS).enumerate() {
            for (f, &v) in img.iter().enumerate() {
                data[f * n + i] = v;
            }
        }
        Self { data, n }
    }

    fn column(&self, f: usize) -> &[u8] {
        &self.data[f * self.n..(f + 1) * self.n]
    }
}

/// A fitted tree; node 0 is the root.
#[derive(Debug, Clone, PartialEq)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

/// The best split found for a node.
struct Best {
    score: f64,
    feature: usize,
    threshold: u8,
}

impl Tree {
    /// Grows a tree on the training samples `samples` (indices into `columns`, repeats allowed,
    /// as a bootstrap draws them).
    pub fn grow(
        columns: &Columns,
        labels: &[u8],
        mut samples: Vec<u32>,
        params: TreeParams,
        rng: &mut StdRng,
    ) -> Self {
        let mut nodes = vec![Node::Leaf([0.0; CLASSES])];
        // (node slot, start, end, depth) still to grow.
        let mut stack = vec![(0usize, 0usize, samples.len(), 0usize)];
        let mut features: Vec<usize> = (0..PIXELS).collect();
        let mut hist = vec![[0u32; CLASSES]; LEVELS];
        while let Some((slot, start, end, depth)) = stack.pop() {
            let idx = &mut samples[start..end];
            let mut counts = [0u32; CLASSES];
            for &i in idx.iter() {
                counts[labels[i as usize] as usize] += 1;
            }
            let pure = counts.iter().filter(|&&c| c > 0).count() <= 1;
            let best =
                if pure || idx.len() < 2 || (params.max_depth > 0 && depth >= params.max_depth) {
                    None
                } else {
                    best_split(
                        columns,
                        labels,
                        idx,
                        &counts,
                        &mut features,
                        &mut hist,
                        params,
                        rng,
                    )
                };
            let Some(best) = best else {
                let total = idx.len().max(1) as f32;
                nodes[slot] = Node::Leaf(counts.map(|c| c as f32 / total));
                continue;
            };
            let col = columns.column(best.feature);
            let mut mid = 0;
            for k in 0..idx.len() {
                if col[idx[k] as usize] <= best.threshold {
                    idx.swap(k, mid);
                    mid += 1;
                }
            }
            let (left, right) = (nodes.len(), nodes.len() + 1);
            nodes.push(Node::Leaf([0.0; CLASSES]));
            nodes.push(Node::Leaf([0.0; CLASSES]));
            nodes[slot] = Node::Split {
                feature: best.feature as u16,
                threshold: best.threshold,
                left: left as u32,
                right: right as u32,
            };
            stack.push((right, start + mid, end, depth + 1));
            stack.push((left, start, start + mid, depth + 1));
        }
        Self { nodes }
    }

    /// The leaf's class shares for one image.
    pub fn leaf(&self, image: &[u8]) -> &[f32; CLASSES] {
        let mut at = 0;
        loop {
            match &self.nodes[at] {
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                } => {
                    at = if image[*feature as usize] <= *threshold {
                        *left as usize
                    } else {
                        *right as usize
                    };
                }
                Node::Leaf(p) => return p,
            }
        }
    }

    /// Bytes of nodes.
    pub fn size_bytes(&self) -> usize {
        self.nodes.len() * std::mem::size_of::<Node>()
    }
}

/// Searches features in random order until `max_features` non-constant ones have been tried;
/// returns the split with the largest `sum L²/nl + sum R²/nr` (the smallest weighted Gini),
/// even one that does not lower the impurity, as scikit-learn does.
#[allow(clippy::too_many_arguments)]
fn best_split(
    columns: &Columns,
    labels: &[u8],
    idx: &[u32],
    counts: &[u32; CLASSES],
    features: &mut [usize],
    hist: &mut [[u32; CLASSES]],
    params: TreeParams,
    rng: &mut StdRng,
) -> Option<Best> {
    let mut best: Option<Best> = None;
    let mut tried = 0;
    for k in 0..features.len() {
        if tried >= params.max_features {
            break;
        }
        let pick = rng.random_range(k..features.len());
        features.swap(k, pick);
        let f = features[k];
        let col = columns.column(f);
        let (mut lo, mut hi) = (u8::MAX, u8::MIN);
        for &i in idx {
            let v = col[i as usize];
            hist[v as usize][labels[i as usize] as usize] += 1;
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if lo == hi {
            hist[lo as usize] = [0; CLASSES];
            continue;
        }
        tried += 1;
        let mut left = [0u32; CLASSES];
        let mut nl = 0u32;
        let mut prev = lo;
        for v in lo..=hi {
            let bin = hist[v as usize];
            let size: u32 = bin.iter().sum();
            if size == 0 {
                continue;
            }
            if nl > 0 {
                let nr = idx.len() as u32 - nl;
                let (mut sl, mut sr) = (0.0f64, 0.0f64);
                for c in 0..CLASSES {
                    sl += (left[c] as f64).powi(2);
                    sr += ((counts[c] - left[c]) as f64).powi(2);
                }
                let score = sl / nl as f64 + sr / nr as f64;
                if best.as_ref().is_none_or(|b| score > b.score) {
                    best = Some(Best {
                        score,
                        feature: f,
                        threshold: ((prev as u16 + v as u16) / 2) as u8,
                    });
                }
            }
            for c in 0..CLASSES {
                left[c] += bin[c];
            }
            nl += size;
            prev = v;
            hist[v as usize] = [0; CLASSES];
        }
    }
    best
}

/// A single decision tree classifier.
pub struct DecisionTree {
    pub tree: Tree,
}

impl DecisionTree {
    /// Grows one tree on all training images with all features (deterministic given `seed`,
    /// which only orders features, deciding among equally good splits).
    pub fn fit(pixels: &[u8], labels: &[u8], max_depth: usize, seed: u64) -> anyhow::Result<Self> {
        let n = image_count(pixels)?;
        if n != labels.len() || n == 0 {
            anyhow::bail!("decision tree: {n} images but {} labels", labels.len());
        }
        let columns = Columns::new(pixels);
        let params = TreeParams {
            max_depth,
            max_features: PIXELS,
        };
        let mut rng = StdRng::seed_from_u64(seed);
        let tree = Tree::grow(&columns, labels, (0..n as u32).collect(), params, &mut rng);
        Ok(Self { tree })
    }
}

impl Classifier for DecisionTree {
    fn name(&self) -> &str {
        "tree"
    }

    fn predict_proba(&self, pixels: &[u8]) -> anyhow::Result<Vec<f32>> {
        image_count(pixels)?;
        Ok(pixels
            .chunks_exact(PIXELS)
            .flat_map(|img| *self.tree.leaf(img))
            .collect())
    }

    fn size_bytes(&self) -> usize {
        self.tree.size_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::accuracy;

    /// Images that are zero except pixel 0 (`a`) and pixel 1 (`b`).
    fn images(points: &[(u8, u8)]) -> Vec<u8> {
        points
            .iter()
            .flat_map(|&(a, b)| {
                let mut img = vec![0u8; PIXELS];
                img[0] = a;
                img[1] = b;
                img
            })
            .collect()
    }

    #[test]
    fn learns_an_xor_and_splits_halfway() {
        // Class = (a > 100) xor (b > 100): needs two levels.
        let pts = [
            (10, 10),
            (20, 200),
            (200, 30),
            (220, 220),
            (15, 12),
            (210, 230),
        ];
        let labels = [0, 1, 1, 0, 0, 0];
        let model = DecisionTree::fit(&images(&pts), &labels, 0, 3).unwrap();
        let probs = model.predict_proba(&images(&pts)).unwrap();
        assert_eq!(accuracy(&probs, &labels), 1.0);
        assert!(model.tree.nodes.len() >= 5, "{:?}", model.tree.nodes);
    }

    #[test]
    fn depth_limit_makes_mixed_leaves() {
        let pts = [(10, 0), (10, 0), (10, 0), (200, 0)];
        let labels = [2, 2, 5, 7];
        let model = DecisionTree::fit(&images(&pts), &labels, 1, 0).unwrap();
        assert_eq!(model.tree.nodes.len(), 3);
        let probs = model.predict_proba(&images(&[(0, 0)])).unwrap();
        assert!((probs[2] - 2.0 / 3.0).abs() < 1e-6);
        assert!((probs[5] - 1.0 / 3.0).abs() < 1e-6);
        // Split between 10 and 200 at 105.
        assert!(matches!(
            model.tree.nodes[0],
            Node::Split {
                feature: 0,
                threshold: 105,
                ..
            }
        ));
    }
}
