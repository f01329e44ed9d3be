//! Winograd F(4×4, 3×3) for stride-1 3×3 convolutions on the CPU (Lavin & Gray, "Fast
//! Algorithms for Convolutional Neural Networks", 2016): every 4×4 block ("tile") of outputs
//! comes from a 6×6 input patch with 36 multiplications per input/output channel pair instead
//! of 144 — 4× fewer — as 36 matrix products `M_ξ (C_out × T) = U_ξ (C_out × C_in) · V_ξ
//! (C_in × T)` over `T` tiles, with
//!
//! - `U = G g Gᵀ`, the kernel transform (made once per layer, in f64),
//! - `V = Bᵀ d B`, the input transform of each 6×6 patch `d`,
//! - `Y = Aᵀ M A`, the output transform, followed by the bias and the ReLU / ReLU6 epilogue,
//!
//! on the interpolation points 0, ±1, ±2 (the paper's matrices). Its transforms multiply by up
//! to 8, so its rounding error is a few times the direct product's: tested against the im2col
//! path below (within 4e-5 of the output's scale on random data; 1.3e-5 observed for sums of
//! 2304 terms) and by the PyTorch parity fixtures at 1e-4. F(2×2, 3×3) (2.25× fewer multiplications) was used until session 6; F(4×4)
//! halves its products' work and its transforms' memory traffic (BENCHMARKS.md).
//!
//! Tiles are processed in blocks of whole tile rows whose transformed inputs and products stay
//! in cache; blocks run as parallel tasks, as in [`super::gemm_conv::forward`].

use gemm::Parallelism;

use super::gemm_conv::{SharedOut, matmul_raw, run_tasks};
use super::geometry::Geometry;
use super::simd::wide_fn;

/// Outputs per tile side.
const M: usize = 4;
/// Input patch side.
const A: usize = M + 2;
/// Products (and transformed values per patch).
const P: usize = A * A;

/// Input planes at least this large (14 × 14) take this path. Measured on this 2-core
/// machine (BENCHMARKS.md): from VGG-16's 224² layers down to ResNet's 14² stage it is
/// faster than im2col + one GEMM; on 7² planes (2 × 2 tiles of 4 × 4 for 7 × 7 outputs, 23 %
/// of them wasted) the transforms cost more than the products save.
const MIN_PLANE: usize = 14 * 14;

/// Whether a convolution takes this path: 3×3, stride 1, not grouped, enough input channels
/// for the products to outweigh the transforms, and a large enough plane ([`MIN_PLANE`]).
pub fn applies(g: &Geometry) -> bool {
    g.k == 3
        && g.stride == 1
        && g.groups == 1
        && g.cin >= 16
        && g.pad <= 2
        && g.h * g.w >= MIN_PLANE
}

/// `G·g` for one column `g` of a 3×3 kernel, G = [[¼, 0, 0], [−⅙, −⅙, −⅙], [−⅙, ⅙, −⅙],
/// [1/24, 1/12, ⅙], [1/24, −1/12, ⅙], [0, 0, 1]].
fn g_col([a, b, d]: [f64; 3]) -> [f64; A] {
    [
        a / 4.0,
        -(a + b + d) / 6.0,
        -(a - b + d) / 6.0,
        a / 24.0 + b / 12.0 + d / 6.0,
        a / 24.0 - b / 12.0 + d / 6.0,
        d,
    ]
}

/// `Bᵀ·d` for one column `d` of a 6×6 patch, Bᵀ = [[4, 0, −5, 0, 1, 0], [0, −4, −4, 1, 1, 0],
/// [0, 4, −4, −1, 1, 0], [0, −2, −1, 2, 1, 0], [0, 2, −1, −2, 1, 0], [0, 4, 0, −5, 0, 1]].
#[inline(always)]
fn bt([d0, d1, d2, d3, d4, d5]: [f32; A]) -> [f32; A] {
    [
        4.0 * d0 - 5.0 * d2 + d4,
        d3 + d4 - 4.0 * (d1 + d2),
        d4 - d3 + 4.0 * (d1 - d2),
        d4 - d2 + 2.0 * (d3 - d1),
        d4 - d2 + 2.0 * (d1 - d3),
        4.0 * d1 - 5.0 * d3 + d5,
    ]
}

/// `Aᵀ·m` for one column `m` of a 6×6 product, Aᵀ = [[1, 1, 1, 1, 1, 0], [0, 1, −1, 2, −2, 0],
/// [0, 1, 1, 4, 4, 0], [0, 1, −1, 8, −8, 1]].
#[inline(always)]
fn at([m0, m1, m2, m3, m4, m5]: [f32; A]) -> [f32; M] {
    let (s12, d12, s34, d34) = (m1 + m2, m1 - m2, m3 + m4, m3 - m4);
    [
        m0 + s12 + s34,
        d12 + 2.0 * d34,
        s12 + 4.0 * s34,
        d12 + 8.0 * d34 + m5,
    ]
}

/// `U_ξ` for ξ = 0..36, each `C_out × C_in` row-major, from weights `(C_out, C_in, 3, 3)`
/// (made once per layer, on its first pass; output channels in parallel).
pub fn transform_kernel(w: &[f32], cout: usize, cin: usize) -> Vec<f32> {
    use rayon::prelude::*;
    let mut u = vec![0f32; P * cout * cin];
    let out = SharedOut(u.as_mut_ptr());
    (0..cout).into_par_iter().for_each(|o| {
        for i in 0..cin {
            let g = &w[(o * cin + i) * 9..(o * cin + i + 1) * 9];
            // G·g (6×3), one column at a time.
            let mut t = [[0f64; 3]; A];
            for c in 0..3 {
                let col = g_col([g[c], g[3 + c], g[6 + c]].map(f64::from));
                for (r, v) in col.into_iter().enumerate() {
                    t[r][c] = v;
                }
            }
            // (G·g)·Gᵀ (6×6): G applied to each row.
            for (r, row) in t.iter().enumerate() {
                for (c, v) in g_col(*row).into_iter().enumerate() {
                    // SAFETY: inside `u`; output channel `o`'s elements are written by this
                    // task alone.
                    unsafe { *out.at(((r * A + c) * cout + o) * cin + i) = v as f32 };
                }
            }
        }
    });
    u
}

/// The kernel of the input gradient: `(C_in, C_out, 3, 3)` with each 3×3 flipped, from
/// `(C_out, C_in, 3, 3)` weights.
pub fn flipped(w: &[f32], cout: usize, cin: usize) -> Vec<f32> {
    let mut f = vec![0f32; w.len()];
    for o in 0..cout {
        for i in 0..cin {
            for t in 0..9 {
                f[(i * cout + o) * 9 + 8 - t] = w[(o * cin + i) * 9 + t];
            }
        }
    }
    f
}

/// About this many f32 in a block's transformed inputs and products (2 MiB).
const BLOCK_FLOATS: usize = 1 << 19;

/// Tiles per block at the least.
const MIN_TILES: usize = 96;

/// `conv(x) + bias` (then ReLU / ReLU6 for `act` = `Some(false)` / `Some(true)`) for a geometry
/// where [`applies`] holds, `u` from [`transform_kernel`]; returns `(n, cout, oh, ow)`.
pub fn forward(
    x: &[f32],
    u: &[f32],
    bias: Option<&[f32]>,
    g: &Geometry,
    act: Option<bool>,
) -> Vec<f32> {
    let (oh, ow) = g.out_hw();
    let (ty, tx) = (oh.div_ceil(M), ow.div_ceil(M));
    let mut y = vec![0f32; g.n * g.cout * oh * ow];
    if ty == 0 || tx == 0 {
        return y;
    }
    // Whole tile rows, at least MIN_TILES tiles (narrower products lose the GEMM's speed).
    let rows = (BLOCK_FLOATS / (P * (g.cin + g.cout) * tx))
        .max(MIN_TILES.div_ceil(tx))
        .clamp(1, ty);
    let blocks = ty.div_ceil(rows);
    let tasks = g.n * blocks;
    let out = SharedOut(y.as_mut_ptr());
    let (lo, hi) = match act {
        None => (f32::NEG_INFINITY, f32::INFINITY),
        Some(false) => (0.0, f32::INFINITY),
        Some(true) => (0.0, 6.0),
    };
    let run = |task: usize, buf: &mut Vec<f32>, par: Parallelism| {
        let (b, blk) = (task / blocks, task % blocks);
        let tiles = blk * rows..((blk + 1) * rows).min(ty);
        let xb = &x[b * g.cin * g.h * g.w..(b + 1) * g.cin * g.h * g.w];
        let t = tiles.len() * tx;
        // V then M, channel-major: `[cin][P][t]`, `[cout][P][t]`.
        buf.resize(P * (g.cin + g.cout) * t, 0.0);
        let (v, m) = buf.split_at_mut(P * g.cin * t);
        let parallel = matches!(par, Parallelism::Rayon(_));
        per_channel(v, P * t, parallel, |c, vc, patch, sums| {
            transform_input(
                &xb[c * g.h * g.w..(c + 1) * g.h * g.w],
                g,
                tiles.clone(),
                tx,
                (patch, sums),
                vc,
            )
        });
        for xi in 0..P {
            // SAFETY: product ξ writes rows ξ·t… of every channel's block of `m`, no other.
            unsafe {
                matmul_raw(
                    (g.cout, t, g.cin),
                    &u[xi * g.cout * g.cin..(xi + 1) * g.cout * g.cin],
                    (g.cin, 1),
                    &v[xi * t..],
                    (P * t, 1),
                    m.as_mut_ptr().add(xi * t),
                    P * t,
                    false,
                    par,
                );
            }
        }
        let (r0, r1) = (M * tiles.start, (M * tiles.end).min(oh));
        per_channel(m, P * t, parallel, |o, mo, _, sums| {
            // SAFETY: rows r0..r1 of channel `o` of image `b` lie inside the output, and only
            // this task writes them.
            let rows = unsafe {
                std::slice::from_raw_parts_mut(
                    out.at((b * g.cout + o) * oh * ow + r0 * ow),
                    (r1 - r0) * ow,
                )
            };
            let b0 = bias.map_or(0.0, |b| b[o]);
            output_channel(
                mo,
                (t, tiles.len(), tx),
                (oh, ow, r0),
                (b0, lo, hi),
                sums,
                rows,
            );
        });
    };
    run_tasks(tasks, run);
    y
}

/// `f(channel, chunk, patch, sums)` for each `len`-long chunk of `data`, in parallel tasks
/// when `parallel` (the caller runs alone and the GEMMs use every core), each with its scratch.
fn per_channel(
    data: &mut [f32],
    len: usize,
    parallel: bool,
    f: impl Fn(usize, &mut [f32], &mut Vec<f32>, &mut Vec<f32>) + Sync + Send,
) {
    use rayon::prelude::*;
    if parallel {
        data.par_chunks_mut(len)
            .enumerate()
            .with_min_len(4)
            .for_each_init(Default::default, |(patch, sums), (c, chunk)| {
                f(c, chunk, patch, sums)
            });
    } else {
        let (mut patch, mut sums) = Default::default();
        for (c, chunk) in data.chunks_mut(len).enumerate() {
            f(c, chunk, &mut patch, &mut sums);
        }
    }
}

wide_fn! {
    /// `V = Bᵀ d B` of every tile of tile rows `tiles` of one input channel `src` (an `h × w`
    /// plane) into `v` (`[P][t]`, t = tiles·tx); `scratch` holds the padded input rows and
    /// the intermediate sums.
    ///
    /// The loops run element-wise over long contiguous runs so that they vectorize (a tile
    /// row has only 7–56 tiles): each padded input row is stored split by column phase
    /// (column `M·q + r` at `r·L + q`); `Bᵀ·d` runs over whole rows, per tile row; its results
    /// are regrouped by phase across all tile rows, so that `·B` runs over the whole block,
    /// one junk tile per tile row (`q = tx`) included and dropped when copied into `v`.
    fn transform_input(
        src: &[f32],
        g: &Geometry,
        tiles: std::ops::Range<usize>,
        tx: usize,
        scratch: (&mut Vec<f32>, &mut Vec<f32>),
        v: &mut [f32],
    ) {
        let (patch, work) = scratch;
        let (nt, t) = (tiles.len(), tiles.len() * tx);
        // M·nt + 2 padded rows; a tile reads phase columns q = tj, and q = tj + 1 for its last
        // two, so L = tx + 1 per phase.
        let (ph, l) = (M * nt + 2, tx + 1);
        let (pw, run) = (M * l, nt * l);
        patch.resize(ph * pw, 0.0);
        // One tile row's Bᵀ·d (A rows of pw), the same for all tile rows regrouped as
        // `[i][r][ti][q]`, d·B before dropping the junk tiles (`[j][ti][q]`), one padded row in
        // plain order.
        work.resize(A * pw + A * M * run + A * run + pw, 0.0);
        let (row6, rest) = work.split_at_mut(A * pw);
        let (cols, rest) = rest.split_at_mut(A * M * run);
        let (wide, line) = rest.split_at_mut(A * run);
        for r in 0..ph {
            let row = &mut patch[r * pw..(r + 1) * pw];
            let iy = (M * tiles.start + r).wrapping_sub(g.pad);
            if iy >= g.h {
                row.fill(0.0);
                continue;
            }
            // Padded column j = input column j − pad.
            line.fill(0.0);
            let n = g.w.min(pw.saturating_sub(g.pad));
            line[g.pad..g.pad + n].copy_from_slice(&src[iy * g.w..iy * g.w + n]);
            let [d0, d1, d2, d3] = split_rows::<M>(row, l).map(|d| &mut d[..l]);
            for (q, c) in line[..M * l].chunks_exact(M).enumerate().take(l) {
                (d0[q], d1[q], d2[q], d3[q]) = (c[0], c[1], c[2], c[3]);
            }
        }
        for ti in 0..nt {
            let [r0, r1, r2, r3, r4, r5] = rows_of::<A>(&patch[M * ti * pw..], pw).map(|r| &r[..pw]);
            let [s0, s1, s2, s3, s4, s5] = split_rows::<A>(row6, pw).map(|r| &mut r[..pw]);
            for k in 0..pw {
                let d = bt([r0[k], r1[k], r2[k], r3[k], r4[k], r5[k]]);
                (s0[k], s1[k], s2[k], s3[k], s4[k], s5[k]) = (d[0], d[1], d[2], d[3], d[4], d[5]);
            }
            for (ir, src) in row6.chunks_exact(l).enumerate() {
                cols[(ir * nt + ti) * l..][..l].copy_from_slice(src);
            }
        }
        let len = run - 1;
        for i in 0..A {
            let [p0, p1, p2, p3] = rows_of::<M>(&cols[i * M * run..], run);
            let (q0, q1) = (&p0[1..=len], &p1[1..=len]);
            let [p0, p1, p2, p3] = [p0, p1, p2, p3].map(|p| &p[..len]);
            let [w0, w1, w2, w3, w4, w5] = split_rows::<A>(wide, run).map(|w| &mut w[..len]);
            for u in 0..len {
                let d = bt([p0[u], p1[u], p2[u], p3[u], q0[u], q1[u]]);
                (w0[u], w1[u], w2[u], w3[u], w4[u], w5[u]) = (d[0], d[1], d[2], d[3], d[4], d[5]);
            }
            for (j, w) in wide.chunks_exact(run).enumerate() {
                let dst = &mut v[(i * A + j) * t..][..t];
                for (d, s) in dst.chunks_exact_mut(tx).zip(w.chunks(l)) {
                    d.copy_from_slice(&s[..tx]);
                }
            }
        }
    }
}

/// `N` rows of `data` starting `stride` apart, each `stride` long (the last one may end with
/// `data`); callers cut them to the run they need.
#[inline(always)]
fn rows_of<const N: usize>(data: &[f32], stride: usize) -> [&[f32]; N] {
    std::array::from_fn(|r| &data[r * stride..(r * stride + stride).min(data.len())])
}

/// The first `N` rows of `len` of `data`, each mutable.
#[inline(always)]
fn split_rows<const N: usize>(data: &mut [f32], len: usize) -> [&mut [f32]; N] {
    let mut rows = data[..N * len].chunks_exact_mut(len);
    std::array::from_fn(|_| rows.next().expect("N rows"))
}

wide_fn! {
    /// `Y = Aᵀ M A` of one output channel's products `m` (`[P][t]`, `tiles` tile rows of
    /// `tx` tiles), plus `b0`, clamped to `[lo, hi]`, into `rows` (output rows `r0…` of an
    /// `oh × ow` plane); `sums` is scratch. Both products run element-wise over all the
    /// block's tiles (vectorized), then each output row is interleaved from its tiles.
    fn output_channel(
        m: &[f32],
        shape: (usize, usize, usize),
        plane: (usize, usize, usize),
        epilogue: (f32, f32, f32),
        sums: &mut Vec<f32>,
        rows: &mut [f32],
    ) {
        let ((t, tiles, tx), (oh, ow, r0), (b0, lo, hi)) = (shape, plane, epilogue);
        // Aᵀ·M: `s[(j·M + i)·t + k]`; then (Aᵀ·M)·A with the epilogue: `y[(i·M + q)·t + k]`.
        sums.resize((A + M) * M * t, 0.0);
        let (s, y) = sums.split_at_mut(A * M * t);
        for j in 0..A {
            let [m0, m1, m2, m3, m4, m5] = rows_of::<A>(&m[j * t..], A * t).map(|r| &r[..t]);
            let [d0, d1, d2, d3] = split_rows::<M>(&mut s[j * M * t..], t).map(|d| &mut d[..t]);
            for k in 0..t {
                let r = at([m0[k], m1[k], m2[k], m3[k], m4[k], m5[k]]);
                (d0[k], d1[k], d2[k], d3[k]) = (r[0], r[1], r[2], r[3]);
            }
        }
        for i in 0..M {
            let [s0, s1, s2, s3, s4, s5] = rows_of::<A>(&s[i * t..], M * t).map(|r| &r[..t]);
            let [y0, y1, y2, y3] = split_rows::<M>(&mut y[i * M * t..], t).map(|d| &mut d[..t]);
            for k in 0..t {
                let r = at([s0[k], s1[k], s2[k], s3[k], s4[k], s5[k]]).map(|v| {
                    let v = v + b0;
                    let v = if v < lo { lo } else { v };
                    if v > hi { hi } else { v }
                });
                (y0[k], y1[k], y2[k], y3[k]) = (r[0], r[1], r[2], r[3]);
            }
        }
        let full = ow / M;
        for ti in 0..tiles {
            for i in 0..M {
                let yy = r0 + M * ti + i;
                if yy >= oh {
                    break;
                }
                let [y0, y1, y2, y3] =
                    rows_of::<M>(&y[i * M * t + ti * tx..], t).map(|r| &r[..tx]);
                let row = &mut rows[(yy - r0) * ow..(yy - r0 + 1) * ow];
                for (k, quad) in row.chunks_exact_mut(M).enumerate() {
                    quad.copy_from_slice(&[y0[k], y1[k], y2[k], y3[k]]);
                }
                let ys = [y0, y1, y2, y3];
                for (q, d) in row[full * M..].iter_mut().enumerate() {
                    *d = ys[q][full];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ops::gemm_conv::forward as im2col_forward;

    /// Against the im2col path: odd and even sizes, padding 0–2, a batch, several blocks run as
    /// parallel tasks, the ReLU6 epilogue (any size works; `applies` picks the large ones).
    #[test]
    fn matches_the_im2col_path() {
        let mut seed = 7u64;
        let mut rand = move || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            ((seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        };
        for &(n, cin, cout, h, w, pad, act) in &[
            (1, 16, 8, 9, 10, 1, None),
            (3, 32, 16, 14, 14, 1, Some(false)),
            (1, 16, 16, 7, 7, 0, None),
            (2, 16, 24, 5, 8, 2, Some(true)),
            (1, 256, 64, 40, 40, 1, None),
        ] {
            let g = Geometry {
                n,
                cin,
                h,
                w,
                cout,
                k: 3,
                stride: 1,
                pad,
                groups: 1,
            };
            let x: Vec<f32> = (0..n * cin * h * w).map(|_| rand()).collect();
            let wt: Vec<f32> = (0..cout * cin * 9).map(|_| rand()).collect();
            let bias: Vec<f32> = (0..cout).map(|_| rand()).collect();
            let want = im2col_forward(&x, &wt, Some(&bias), &g, act);
            let u = transform_kernel(&wt, cout, cin);
            let got = forward(&x, &u, Some(&bias), &g, act);
            assert_eq!(got.len(), want.len());
            let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
            let err = got
                .iter()
                .zip(&want)
                .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(err < 4e-5 * scale, "{g:?}: {err} (scale {scale})");
        }
    }
}
