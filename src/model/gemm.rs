//! A safe, single-threaded wrapper over the `gemm` crate (the kernel candle's CPU matmul uses),
//! for the conv layers' hand-written forward and backward passes.

/// `c = [c +] a · b` for row-major matrices: `c` is `m×n`; `a` is `m×k`, or stored `k×m` when
/// `a_transposed`; `b` is `k×n`, or stored `n×k` when `b_transposed`.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    c: &mut [f32],
    a: &[f32],
    a_transposed: bool,
    b: &[f32],
    b_transposed: bool,
    (m, n, k): (usize, usize, usize),
    accumulate: bool,
) {
    assert!(
        c.len() >= m * n && a.len() >= m * k && b.len() >= k * n,
        "matmul: slices too short"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(0.0);
        }
        return;
    }
    let (a_rs, a_cs) = if a_transposed { (1, m) } else { (k, 1) };
    let (b_rs, b_cs) = if b_transposed { (1, k) } else { (n, 1) };
    // SAFETY: the assert above guarantees every index the strides reach is inside its slice:
    // a's largest offset is (m-1)*a_rs + (k-1)*a_cs < m*k, likewise for b and c; `c` is borrowed
    // mutably and cannot alias `a` or `b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], at: bool, b: &[f32], bt: bool, m: usize, n: usize, k: usize) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                for p in 0..k {
                    let av = if at { a[p * m + i] } else { a[i * k + p] };
                    let bv = if bt { b[j * k + p] } else { b[p * n + j] };
                    c[i * n + j] += av * bv;
                }
            }
        }
        c
    }

    #[test]
    fn matches_the_naive_product_for_every_transposition() {
        let (m, n, k) = (5, 3, 4);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
        for at in [false, true] {
            for bt in [false, true] {
                let mut c = vec![1.0; m * n];
                matmul(&mut c, &a, at, &b, bt, (m, n, k), true);
                let expected = naive(&a, at, &b, bt, m, n, k);
                for (x, y) in c.iter().zip(&expected) {
                    assert!((x - 1.0 - y).abs() < 1e-5, "at={at} bt={bt}: {x} vs {y}+1");
                }
            }
        }
    }
}
