//! Matrix products on the CPU with the `gemm` crate (what candle's matmul uses; it approaches
//! this CPU's peak with AVX-512), split across cores in bands, and the shared output the
//! convolutions' parallel tasks write into.

use gemm::{Parallelism, gemm};

/// `c (m × n, row stride c_rs) (+)= a · b`, `a` of `m × k` and `b` of `k × n` with the given
/// row and column strides.
///
/// # Safety
/// `c` must be valid for writes at `i·c_rs + j` for every `i < m`, `j < n`, and no other thread
/// may touch those elements during the call.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn matmul_raw(
    (m, n, k): (usize, usize, usize),
    a: &[f32],
    (a_rs, a_cs): (usize, usize),
    b: &[f32],
    (b_rs, b_cs): (usize, usize),
    c: *mut f32,
    c_rs: usize,
    accumulate: bool,
    par: Parallelism,
) {
    if m == 0 || n == 0 {
        return;
    }
    let last =
        |rows: usize, cols: usize, rs: usize, cs: usize| (rows - 1) * rs + (cols - 1) * cs + 1;
    assert!(
        k == 0 || (a.len() >= last(m, k, a_rs, a_cs) && b.len() >= last(k, n, b_rs, b_cs)),
        "matmul operands too small"
    );
    let threads = match par {
        Parallelism::Rayon(0) => rayon::current_num_threads(),
        Parallelism::Rayon(t) => t,
        Parallelism::None => 1,
    };
    // On several cores: one single-threaded product per core on its own band of rows of `c`
    // (or of columns, when there are few rows). `gemm`'s own threading splits narrow products
    // (the 7² and 14² layers: n = 49, 196) badly — measured here 182 → 288 GFLOP/s on
    // 512 × 49 × 4608, 203 → 323 on 256 × 196 × 2304, never slower on our shapes.
    const MIN_BAND: usize = 64;
    let split_rows = m >= MIN_BAND * threads;
    if threads > 1 && (split_rows || n >= MIN_BAND * threads) {
        let (len, step) = if split_rows { (m, 16) } else { (n, 16) };
        let band = len.div_ceil(threads).next_multiple_of(step);
        let c = SharedOut(c);
        rayon::scope(|sc| {
            for start in (0..len).step_by(band) {
                let size = band.min(len - start);
                sc.spawn(move |_| {
                    let (dims, a, b, at) = if split_rows {
                        ((size, n, k), &a[start * a_rs..], b, start * c_rs)
                    } else {
                        ((m, size, k), a, &b[start * b_cs..], start)
                    };
                    // SAFETY: bands are disjoint rows (or columns) of the caller's `c`.
                    unsafe {
                        matmul_raw(
                            dims,
                            a,
                            (a_rs, a_cs),
                            b,
                            (b_rs, b_cs),
                            c.at(at),
                            c_rs,
                            accumulate,
                            Parallelism::None,
                        )
                    }
                });
            }
        });
        return;
    }
    // SAFETY: the assert keeps every read inside `a` and `b`; the caller vouches for `c`
    // (which cannot alias the shared `a` and `b`); f32 is one of gemm's types.
    unsafe {
        gemm(
            m,
            n,
            k,
            c,
            1,
            c_rs as isize,
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
            par,
        );
    }
}

/// [`matmul_raw`] into a row-major `m × n` slice, on every core.
pub(super) fn matmul(
    dims: (usize, usize, usize),
    a: &[f32],
    a_strides: (usize, usize),
    b: &[f32],
    b_strides: (usize, usize),
    c: &mut [f32],
    accumulate: bool,
) {
    assert!(c.len() >= dims.0 * dims.1, "matmul destination too small");
    // SAFETY: `c` is borrowed mutably and holds the m × n destination.
    unsafe {
        matmul_raw(
            dims,
            a,
            a_strides,
            b,
            b_strides,
            c.as_mut_ptr(),
            dims.1,
            accumulate,
            Parallelism::Rayon(0),
        )
    }
}

/// The output of a convolution, written by several tasks at once, each into its own columns.
#[derive(Clone, Copy)]
pub(super) struct SharedOut(pub(super) *mut f32);
// SAFETY: the tasks sharing one `SharedOut` write disjoint elements (see `forward`).
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

impl SharedOut {
    /// The element at `offset` (a method, so that closures capture the whole `SharedOut`).
    ///
    /// # Safety
    /// `offset` must lie inside the output.
    pub(super) unsafe fn at(&self, offset: usize) -> *mut f32 {
        unsafe { self.0.add(offset) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Products split into bands across threads (by rows, or by columns when there are few
    /// rows) against one single-threaded product, with strided operands, accumulation and a
    /// destination row stride wider than `n`.
    #[test]
    fn banded_products_match_one_product() {
        for &(m, n, k) in &[(300, 30, 17), (20, 300, 9), (129, 129, 5), (16, 16, 3)] {
            let a: Vec<f32> = (0..m * k).map(|i| ((i * 37) % 11) as f32 - 5.0).collect();
            // `b` column-major (strides (1, k)), to cover both stride orders.
            let b: Vec<f32> = (0..k * n).map(|i| ((i * 13) % 7) as f32 - 3.0).collect();
            let c_rs = n + 3;
            let run = |par| {
                let mut c: Vec<f32> = (0..m * c_rs).map(|i| (i % 5) as f32).collect();
                // SAFETY: `c` holds m rows of c_rs ≥ n elements and is borrowed mutably.
                unsafe {
                    matmul_raw(
                        (m, n, k),
                        &a,
                        (k, 1),
                        &b,
                        (1, k),
                        c.as_mut_ptr(),
                        c_rs,
                        true,
                        par,
                    )
                };
                c
            };
            assert_eq!(
                run(Parallelism::Rayon(2)),
                run(Parallelism::None),
                "{m}×{n}×{k}"
            );
            assert_eq!(
                run(Parallelism::Rayon(3)),
                run(Parallelism::None),
                "{m}×{n}×{k}, 3"
            );
        }
    }
}
