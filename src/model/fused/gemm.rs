//! Strided matrix views and a bounds-checked call of the `gemm` kernel, single-threaded: the
//! fused engine parallelises over its own fixed pieces of work, so a product's result never
//! depends on the number of threads.

/// A read-only strided matrix: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Debug, Clone, Copy)]
pub(super) struct View<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a> View<'a> {
    /// The first `rows * cols` values of `data` as a row-major `rows x cols` matrix.
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose (no copy).
    pub fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }

    /// Columns `start..end` (no copy).
    pub fn columns(self, start: usize, end: usize) -> Self {
        assert!(
            start <= end && end <= self.cols,
            "gemm: columns out of range"
        );
        Self {
            data: &self.data[(start * self.cs).min(self.data.len())..],
            cols: end - start,
            ..self
        }
    }

    /// Whether every element the strides address lies inside `data`.
    fn in_bounds(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.rs + (self.cols - 1) * self.cs < self.data.len()
    }
}

/// `out = a · b` (or `out += a · b` when `accumulate`), `out` row-major `a.rows x b.cols`.
///
/// Panics if the shapes disagree or a view reaches outside its slice: a programming error.
pub(super) fn gemm(out: &mut [f32], a: View, b: View, accumulate: bool) {
    let (m, n, k) = (a.rows, b.cols, a.cols);
    assert_eq!(b.rows, k, "gemm: inner dimensions differ");
    assert_eq!(out.len(), m * n, "gemm: output is not {m}x{n}");
    assert!(
        a.in_bounds() && b.in_bounds(),
        "gemm: operand out of bounds"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            out.fill(0.0);
        }
        return;
    }
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
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
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

    #[test]
    fn strided_views_multiply_as_their_definition() {
        // a = [[1,2,3],[4,5,6]], b = [[1,0],[0,1],[1,1]]: a·b = [[4,5],[10,11]].
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let mut out = [0.0; 4];
        gemm(&mut out, View::new(&a, 2, 3), View::new(&b, 3, 2), false);
        assert_eq!(out, [4.0, 5.0, 10.0, 11.0]);
        // Columns 1..3 of a, transposed: [[2,5],[3,6]]; times b's first two rows.
        let mut out = [1.0; 4];
        let at = View::new(&a, 2, 3).columns(1, 3).t();
        gemm(&mut out, at, View::new(&b[..4], 2, 2), true);
        assert_eq!(out, [3.0, 6.0, 4.0, 7.0]);
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn a_view_past_its_slice_is_refused() {
        let a = [1.0; 5];
        let mut out = [0.0; 4];
        gemm(&mut out, View::new(&a, 2, 3), View::new(&a, 3, 2), false);
    }
}
