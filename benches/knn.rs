//! k-NN predict time: the full MNIST test set against the full train set when
//! `../shared/data/mnist` exists, else the bundled sample. Prints the median of 3 runs, the
//! accuracy for k = 1, 3, 5 and the exact distances computed per query.
//! `cargo bench --bench knn -- [PCA_DIMS]` (default 64).

use std::time::Instant;

mod common;

use classgen::baselines::knn::{Knn, KnnIndex};
use classgen::classifier::{accuracy, Classifier};

fn main() -> anyhow::Result<()> {
    classgen::runtime::tune_allocator();
    let dims = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(64);
    let data = common::bench_data()?;
    let (train, test, origin) = (data.train, data.test, data.origin.to_string());
    println!(
        "k-NN on {origin}: {} test vs {} train, {dims} PCA dims",
        test.len(),
        train.len()
    );
    let started = Instant::now();
    let index = KnnIndex::new(&train.images, &train.labels, dims, 42)?;
    println!("index built in {:.2} s", started.elapsed().as_secs_f64());
    let (_, stats) = index.search_u8(&test.images, 3);
    println!(
        "exact distances per query (k=3): {:.1}",
        stats.exact_distances as f64 / stats.queries as f64
    );
    let mut knn = Knn::new(index, 3)?;
    let mut times = Vec::new();
    let mut probs = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        probs = knn.predict_proba(&test.images)?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    println!(
        "k=3 predict: median {:.2} s of {times:.2?}, accuracy {:.2} %",
        times[1],
        100.0 * accuracy(&probs, &test.labels)
    );
    for k in [1, 5] {
        knn.k = k;
        let probs = knn.predict_proba(&test.images)?;
        println!(
            "k={k}: accuracy {:.2} %",
            100.0 * accuracy(&probs, &test.labels)
        );
    }
    Ok(())
}
