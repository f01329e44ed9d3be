//! im2col and its transpose for the GEMM convolutions ([`super::gemm_conv`]): the input
//! patches of a block of output rows as the columns of a matrix, and the columns added back.

use super::geometry::Geometry;
use super::simd::wide_fn;

/// The output columns `ox` whose input column `ox·s + kx - p` lies inside `0..w`.
#[inline(always)]
fn valid_range(out: usize, s: usize, kx: usize, p: usize, w: usize) -> (usize, usize) {
    // First ox with ox·s + kx ≥ p; first ox with ox·s + kx ≥ p + w.
    let first = |lim: usize| if kx >= lim { 0 } else { (lim - kx).div_ceil(s) };
    let lo = first(p).min(out);
    let hi = first(p + w).min(out);
    (lo, hi.max(lo))
}

/// Where kernel tap `(ky, kx)` meets the input, for output rows `rows`: for each of them
/// whose input row `iy` lies inside the plane, `f(i, iy, lo..hi, first)` — output columns
/// `lo..hi` of that row (the `i`-th of `rows`) read input columns `first, first + s, …` of row
/// `iy`.
#[inline(always)]
pub(super) fn tap_runs(
    g: &Geometry,
    (ky, kx): (usize, usize),
    rows: std::ops::Range<usize>,
    mut f: impl FnMut(usize, usize, std::ops::Range<usize>, usize),
) {
    let (_, ow) = g.out_hw();
    let (lo, hi) = valid_range(ow, g.stride, kx, g.pad, g.w);
    if lo == hi {
        return;
    }
    let first = lo * g.stride + kx - g.pad;
    for (i, oy) in rows.enumerate() {
        let iy = (oy * g.stride + ky).wrapping_sub(g.pad);
        if iy < g.h {
            f(i, iy, lo..hi, first);
        }
    }
}

/// `dst[j·s] += src[j]` for every `j` of `src` (`chunks`, not `step_by`: it vectorizes).
#[inline(always)]
fn add_to_strided(dst: &mut [f32], s: usize, src: &[f32]) {
    if s == 1 {
        for (d, &v) in dst.iter_mut().zip(src) {
            *d += v;
        }
    } else {
        for (d, &v) in dst.chunks_mut(s).zip(src) {
            d[0] += v;
        }
    }
}

/// Fills one im2col row (kernel tap `(ky, kx)` of one input plane) for output rows `rows`.
#[inline(always)]
fn im2col_row(
    plane: &[f32],
    g: &Geometry,
    (ky, kx): (usize, usize),
    rows: std::ops::Range<usize>,
    dst: &mut [f32],
) {
    let (_, ow) = g.out_hw();
    let (s, p) = (g.stride, g.pad);
    let (lo, hi) = valid_range(ow, s, kx, p, g.w);
    for (i, oy) in rows.enumerate() {
        let line = &mut dst[i * ow..(i + 1) * ow];
        let iy = (oy * s + ky).wrapping_sub(p);
        if iy >= g.h || lo == hi {
            line.fill(0.0);
            continue;
        }
        line[..lo].fill(0.0);
        line[hi..].fill(0.0);
        let src = &plane[iy * g.w..(iy + 1) * g.w];
        let first = lo * s + kx - p;
        if s == 1 {
            line[lo..hi].copy_from_slice(&src[first..first + hi - lo]);
        } else {
            for (d, c) in line[lo..hi].iter_mut().zip(src[first..].chunks(s)) {
                *d = c[0];
            }
        }
    }
}

/// The im2col block (`cin_g·k·k × rows·ow`) of channels `c0..c0 + cin_g` of one image, for
/// output rows `rows`; in parallel when `parallel`.
pub(super) fn im2col(
    x: &[f32],
    g: &Geometry,
    c0: usize,
    rows: std::ops::Range<usize>,
    cols: &mut [f32],
    parallel: bool,
) {
    use rayon::prelude::*;
    let (_, ow) = g.out_hw();
    let k = g.k;
    let plane = g.h * g.w;
    let n = rows.len() * ow;
    let fill = |(row, dst): (usize, &mut [f32])| {
        let (c, tap) = (row / (k * k), row % (k * k));
        let src = &x[(c0 + c) * plane..(c0 + c + 1) * plane];
        im2col_fill(src, g, (tap / k, tap % k), rows.clone(), dst);
    };
    let cols = &mut cols[..g.patch() * n];
    if parallel {
        cols.par_chunks_mut(n)
            .with_min_len((4096 / n).max(1))
            .enumerate()
            .for_each(fill);
    } else {
        cols.chunks_mut(n).enumerate().for_each(fill);
    }
}

/// Adds the im2col block `cols` (output rows `rows`) back into channels `c0..` of `dx` (the
/// transpose of im2col), one input channel per task.
pub(super) fn col2im(
    cols: &[f32],
    g: &Geometry,
    c0: usize,
    rows: std::ops::Range<usize>,
    dx: &mut [f32],
) {
    use rayon::prelude::*;
    let (_, ow) = g.out_hw();
    let k = g.k;
    let plane = g.h * g.w;
    let n = rows.len() * ow;
    dx[c0 * plane..(c0 + g.cin_g()) * plane]
        .par_chunks_mut(plane)
        .enumerate()
        .for_each(|(c, plane)| {
            col2im_plane(
                &cols[c * k * k * n..(c + 1) * k * k * n],
                g,
                rows.clone(),
                plane,
            )
        });
}

wide_fn! {
    /// [`im2col_row`], vectorized.
    fn im2col_fill(
        plane: &[f32],
        g: &Geometry,
        tap: (usize, usize),
        rows: std::ops::Range<usize>,
        dst: &mut [f32],
    ) {
        im2col_row(plane, g, tap, rows, dst)
    }
}

wide_fn! {
    /// [`col2im`] for one input channel: its `k·k` rows of `cols` added into `plane`.
    fn col2im_plane(cols: &[f32], g: &Geometry, rows: std::ops::Range<usize>, plane: &mut [f32]) {
        let (k, ow) = (g.k, g.out_hw().1);
        let n = rows.len() * ow;
        for ky in 0..k {
            for kx in 0..k {
                let src = &cols[(ky * k + kx) * n..(ky * k + kx + 1) * n];
                tap_runs(g, (ky, kx), rows.clone(), |i, iy, run, first| {
                    add_to_strided(
                        &mut plane[iy * g.w + first..(iy + 1) * g.w],
                        g.stride,
                        &src[i * ow + run.start..i * ow + run.end],
                    );
                });
            }
        }
    }
}
