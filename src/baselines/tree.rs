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

/// Nodes with at most this many samples find their non-constant features first (a min/max
/// over their rows) and draw only among those; larger nodes draw among all features.
const SMALL_NODE: usize = 1024;

/// Training images stored feature-major (`PIXELS` columns of `n` values) for the histograms,
/// and row-major for finding a small node's non-constant features.
pub struct Columns {
    data: Vec<u8>,
    rows: Vec<u8>,
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
        Self {
            data,
            rows: pixels.to_vec(),
            n,
        }
    }

    /// The features not constant over the images `idx`, in increasing order, into `out`.
    fn varying(&self, idx: &[u32], out: &mut Vec<usize>) {
        let (mut lo, mut hi) = ([u8::MAX; PIXELS], [u8::MIN; PIXELS]);
        for &i in idx {
            let row = &self.rows[i as usize * PIXELS..(i as usize + 1) * PIXELS];
            for ((l, h), &v) in lo.iter_mut().zip(hi.iter_mut()).zip(row) {
                *l = (*l).min(v);
                *h = (*h).max(v);
            }
        }
        out.clear();
        out.extend((0..PIXELS).filter(|&f| lo[f] != hi[f]));
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
        // Ascending indices, kept so by a stable partition: every node then reads its
        // columns front to back (prefetchable) instead of at random.
        samples.sort_unstable();
        let mut scratch = Vec::with_capacity(samples.len());
        let mut nodes = vec![Node::Leaf([0.0; CLASSES])];
        // (node slot, start, end, depth) still to grow.
        let mut stack = vec![(0usize, 0usize, samples.len(), 0usize)];
        let mut features: Vec<usize> = (0..PIXELS).collect();
        let mut varying = Vec::with_capacity(PIXELS);
        let mut hist = vec![[0u32; CLASSES]; LEVELS];
        // Labels of the node's samples, in `idx` order (read once per node, not per feature).
        let mut node_labels = Vec::with_capacity(samples.len());
        while let Some((slot, start, end, depth)) = stack.pop() {
            let idx = &mut samples[start..end];
            node_labels.clear();
            node_labels.extend(idx.iter().map(|&i| labels[i as usize]));
            let mut counts = [0u32; CLASSES];
            for &y in &node_labels {
                counts[y as usize] += 1;
            }
            let pure = counts.iter().filter(|&&c| c > 0).count() <= 1;
            let best =
                if pure || idx.len() < 2 || (params.max_depth > 0 && depth >= params.max_depth) {
                    None
                } else {
                    let candidates = if idx.len() <= SMALL_NODE {
                        columns.varying(idx, &mut varying);
                        &mut varying
                    } else {
                        &mut features
                    };
                    best_split(
                        columns,
                        &node_labels,
                        idx,
                        &counts,
                        candidates,
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
            scratch.clear();
            for k in 0..idx.len() {
                let i = idx[k];
                if col[i as usize] <= best.threshold {
                    idx[mid] = i;
                    mid += 1;
                } else {
                    scratch.push(i);
                }
            }
            idx[mid..].copy_from_slice(&scratch);
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
///
/// Per feature: one pass over the node's samples fills the class histogram of the 256 pixel
/// values and a bitmap of the values present; the scan then visits only present values, so a
/// small node costs about its size, not 256 bins.
#[allow(clippy::too_many_arguments)]
fn best_split(
    columns: &Columns,
    node_labels: &[u8],
    idx: &[u32],
    counts: &[u32; CLASSES],
    features: &mut [usize],
    hist: &mut [[u32; CLASSES]],
    params: TreeParams,
    rng: &mut StdRng,
) -> Option<Best> {
    let mut best: Option<Best> = None;
    let mut tried = 0;
    let total = idx.len() as u32;
    for k in 0..features.len() {
        if tried >= params.max_features {
            break;
        }
        let pick = rng.random_range(k..features.len());
        features.swap(k, pick);
        let f = features[k];
        let col = columns.column(f);
        let mut present = [0u64; LEVELS / 64];
        for (&i, &y) in idx.iter().zip(node_labels) {
            let v = col[i as usize] as usize;
            hist[v][y as usize] += 1;
            present[v / 64] |= 1 << (v % 64);
        }
        let distinct: u32 = present.iter().map(|w| w.count_ones()).sum();
        if distinct < 2 {
            present_values(&present).for_each(|v| hist[v] = [0; CLASSES]);
            continue;
        }
        tried += 1;
        let mut left = [0u32; CLASSES];
        let mut nl = 0u32;
        let mut prev = 0usize;
        for v in present_values(&present) {
            let bin = hist[v];
            if nl > 0 {
                let nr = total - nl;
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
                        threshold: ((prev + v) / 2) as u8,
                    });
                }
            }
            for c in 0..CLASSES {
                left[c] += bin[c];
                nl += bin[c];
            }
            prev = v;
            hist[v] = [0; CLASSES];
        }
    }
    best
}

/// The values whose bits are set in a 256-bit bitmap, in increasing order.
fn present_values(present: &[u64; LEVELS / 64]) -> impl Iterator<Item = usize> + '_ {
    present.iter().enumerate().flat_map(|(w, &bits)| {
        let mut bits = bits;
        std::iter::from_fn(move || {
            (bits != 0).then(|| {
                let t = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                w * 64 + t
            })
        })
    })
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
