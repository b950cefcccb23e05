//! Dense f32 matrix products for the baselines, on the `gemm` crate (the kernel candle uses).

/// How a matrix operand is stored: as written (`N`) or transposed (`T`, i.e. the stored
/// row-major array is the operand's transpose).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    N,
    T,
}

/// `out[m×n] = op(a)[m×k] · op(b)[k×n]` (or `+=` when `accumulate`), all row-major.
///
/// `parallel` lets the kernel use rayon's global pool; leave it off inside rayon tasks.
/// Panics if a slice length does not match its shape (a programming error, not input).
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    out: &mut [f32],
    a: &[f32],
    op_a: Op,
    b: &[f32],
    op_b: Op,
    (m, n, k): (usize, usize, usize),
    accumulate: bool,
    parallel: bool,
) {
    assert_eq!(out.len(), m * n, "matmul: output is not {m}x{n}");
    assert_eq!(a.len(), m * k, "matmul: left operand is not {m}x{k}");
    assert_eq!(b.len(), k * n, "matmul: right operand is not {k}x{n}");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            out.fill(0.0);
        }
        return;
    }
    // (column stride, row stride) of each operand, in elements.
    let (a_cs, a_rs) = match op_a {
        Op::N => (1, k as isize),
        Op::T => (m as isize, 1),
    };
    let (b_cs, b_rs) = match op_b {
        Op::N => (1, n as isize),
        Op::T => (k as isize, 1),
    };
    let parallelism = if parallel {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the asserts above guarantee that every (row, column) the strides address lies
    // inside its slice, and `out` is borrowed mutably, so it aliases neither operand.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_match_the_definition_for_each_layout() {
        // a = [[1,2,3],[4,5,6]] (2x3), b = [[1,0],[0,1],[1,1]] (3x2): a·b = [[4,5],[10,11]].
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let a_t = [1.0, 4.0, 2.0, 5.0, 3.0, 6.0];
        let b = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let b_t = [1.0, 0.0, 1.0, 0.0, 1.0, 1.0];
        let want = [4.0, 5.0, 10.0, 11.0];
        for (a, op_a) in [(&a, Op::N), (&a_t, Op::T)] {
            for (b, op_b) in [(&b, Op::N), (&b_t, Op::T)] {
                let mut out = [0.0; 4];
                matmul(&mut out, a, op_a, b, op_b, (2, 2, 3), false, false);
                assert_eq!(out, want, "{op_a:?} {op_b:?}");
            }
        }
        let mut out = [1.0; 4];
        matmul(&mut out, &a, Op::N, &b, Op::N, (2, 2, 3), true, true);
        assert_eq!(out, [5.0, 6.0, 11.0, 12.0]);
    }
}
