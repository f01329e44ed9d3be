//! Winograd F(2×2, 3×3) for stride-1 3×3 convolutions on the CPU (Lavin & Gray, "Fast
//! Algorithms for Convolutional Neural Networks", 2016): every 2×2 block ("tile") of outputs
//! comes from a 4×4 input patch with 16 multiplications per input/output channel pair instead
//! of 36 — 2.25× fewer — as 16 matrix products `M_ξ (C_out × T) = U_ξ (C_out × C_in) · V_ξ
//! (C_in × T)` over `T` tiles, with
//!
//! - `U = G g Gᵀ`, the kernel transform (made once per layer),
//! - `V = Bᵀ d B`, the input transform of each 4×4 patch `d`,
//! - `Y = Aᵀ M A`, the output transform, followed by the bias and the ReLU / ReLU6 epilogue.
//!
//! F(2, 3)'s transforms only add, subtract and halve, so its rounding error stays at the level
//! of the direct product (tested against the im2col path, and by the PyTorch parity fixtures at
//! 1e-4). Tiles are processed in blocks of whole tile rows whose transformed inputs and products
//! stay in cache; blocks run as parallel tasks, as in [`super::gemm_conv::forward`].

use gemm::Parallelism;

use super::gemm_conv::{Geometry, SharedOut, matmul_raw, run_tasks};
use super::simd::wide_fn;

/// Input planes at least this large (112 × 112) take this path. Measured on this 2-core
/// AVX-512 machine (BENCHMARKS.md): on VGG-16's 224² and 112² layers it saves ≈ 6–8 % of the
/// forward pass; on 56² planes and below (ResNet's stages) the 16 narrower products and the
/// transforms cost more than the 2.25× fewer multiplications save, and im2col + one GEMM wins.
const MIN_PLANE: usize = std_min_plane();
const fn std_min_plane() -> usize {
    112 * 112
}

/// Whether a convolution takes this path: 3×3, stride 1, not grouped, enough input channels
/// for the products to outweigh the transforms, and a large plane ([`MIN_PLANE`]).
pub fn applies(g: &Geometry) -> bool {
    g.k == 3
        && g.stride == 1
        && g.groups == 1
        && g.cin >= 16
        && g.pad <= 2
        && g.h * g.w
            >= std::env::var("WMIN")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(MIN_PLANE)
}

/// `U_ξ` for ξ = 0..16, each `C_out × C_in` row-major, from weights `(C_out, C_in, 3, 3)`.
pub fn transform_kernel(w: &[f32], cout: usize, cin: usize) -> Vec<f32> {
    let mut u = vec![0f32; 16 * cout * cin];
    for o in 0..cout {
        for i in 0..cin {
            let g = &w[(o * cin + i) * 9..(o * cin + i + 1) * 9];
            // G·g (4×3), G = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]].
            let mut t = [[0f32; 3]; 4];
            for c in 0..3 {
                let (a, b, d) = (g[c], g[3 + c], g[6 + c]);
                t[0][c] = a;
                t[1][c] = 0.5 * (a + b + d);
                t[2][c] = 0.5 * (a - b + d);
                t[3][c] = d;
            }
            // (G·g)·Gᵀ (4×4).
            for (r, row) in t.iter().enumerate() {
                let (a, b, d) = (row[0], row[1], row[2]);
                let v = [a, 0.5 * (a + b + d), 0.5 * (a - b + d), d];
                for (c, v) in v.into_iter().enumerate() {
                    u[((r * 4 + c) * cout + o) * cin + i] = v;
                }
            }
        }
    }
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
    let (ty, tx) = (oh.div_ceil(2), ow.div_ceil(2));
    let mut y = vec![0f32; g.n * g.cout * oh * ow];
    if ty == 0 || tx == 0 {
        return y;
    }
    // Whole tile rows, at least MIN_TILES tiles (narrower products lose the GEMM's speed).
    let rows = (BLOCK_FLOATS / (16 * (g.cin + g.cout) * tx))
        .max(MIN_TILES.div_ceil(tx))
        .clamp(1, ty);
    let blocks = ty.div_ceil(rows);
    let tasks = g.n * blocks;
    let out = SharedOut(y.as_mut_ptr());
    let run = |task: usize, buf: &mut Buffers, par: Parallelism| {
        let (b, blk) = (task / blocks, task % blocks);
        let tiles = blk * rows..((blk + 1) * rows).min(ty);
        let xb = &x[b * g.cin * g.h * g.w..(b + 1) * g.cin * g.h * g.w];
        let t = tiles.len() * tx;
        buf.v.resize(16 * g.cin * t, 0.0);
        buf.m.resize(16 * g.cout * t, 0.0);
        transform_input(xb, g, tiles.clone(), tx, &mut buf.patch, &mut buf.v);
        for xi in 0..16 {
            // SAFETY: `buf.m` holds 16 products of `cout × t`; this one is written alone.
            unsafe {
                matmul_raw(
                    (g.cout, t, g.cin),
                    &u[xi * g.cout * g.cin..(xi + 1) * g.cout * g.cin],
                    (g.cin, 1),
                    &buf.v[xi * g.cin * t..(xi + 1) * g.cin * t],
                    (t, 1),
                    buf.m.as_mut_ptr().add(xi * g.cout * t),
                    t,
                    false,
                    par,
                );
            }
        }
        // SAFETY: this task alone writes output rows 2·tiles of image `b` (every channel).
        unsafe {
            transform_output(&buf.m, g, b, tiles, tx, bias, act, out);
        }
    };
    run_tasks(tasks, run);
    y
}

/// One task's scratch space.
#[derive(Default)]
struct Buffers {
    /// The input rows of the block, zero-padded, one channel at a time.
    patch: Vec<f32>,
    /// `V_ξ`: `[16][cin][t]`.
    v: Vec<f32>,
    /// `M_ξ`: `[16][cout][t]`.
    m: Vec<f32>,
}

wide_fn! {
    /// `V = Bᵀ d B` of every tile of tile rows `tiles`, every input channel, into `v`
    /// (`[16][cin][t]`, t = tiles·tx), Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0],
    /// [0, 1, 0, −1]].
    fn transform_input(
        x: &[f32],
        g: &Geometry,
        tiles: std::ops::Range<usize>,
        tx: usize,
        patch: &mut Vec<f32>,
        v: &mut [f32],
    ) {
        let t = tiles.len() * tx;
        // The padded input rows the block reads: 2·tiles.len() + 2 rows of 2·tx + 2 columns.
        let (ph, pw) = (2 * tiles.len() + 2, 2 * tx + 2);
        patch.resize(ph * pw, 0.0);
        let plane = g.h * g.w;
        let mut sums: [Vec<f32>; 4] = Default::default();
        for c in 0..g.cin {
            let src = &x[c * plane..(c + 1) * plane];
            for r in 0..ph {
                let row = &mut patch[r * pw..(r + 1) * pw];
                let iy = (2 * tiles.start + r).wrapping_sub(g.pad);
                row.fill(0.0);
                if iy < g.h {
                    // Padded column j reads input column j − pad.
                    let lo = g.pad.min(pw);
                    let n = g.w.min(pw - lo);
                    row[lo..lo + n].copy_from_slice(&src[iy * g.w..iy * g.w + n]);
                }
            }
            // Per tile row: Bᵀ·d on whole padded rows (element-wise), then ·B along each row at
            // the tiles' columns 2·tj … 2·tj + 3.
            for ti in 0..tiles.len() {
                let r = |i: usize| &patch[(2 * ti + i) * pw..(2 * ti + i + 1) * pw];
                let (r0, r1, r2, r3) = (r(0), r(1), r(2), r(3));
                for (i, s) in sums.iter_mut().enumerate() {
                    s.resize(pw, 0.0);
                    for (k, s) in s.iter_mut().enumerate() {
                        *s = match i {
                            0 => r0[k] - r2[k],
                            1 => r1[k] + r2[k],
                            2 => r2[k] - r1[k],
                            _ => r1[k] - r3[k],
                        };
                    }
                }
                for (i, s) in sums.iter().enumerate() {
                    let base = |j: usize| ((i * 4 + j) * g.cin + c) * t + ti * tx;
                    let (b0, b1, b2, b3) = (base(0), base(1), base(2), base(3));
                    for tj in 0..tx {
                        let (a0, a1, a2, a3) = (s[2 * tj], s[2 * tj + 1], s[2 * tj + 2], s[2 * tj + 3]);
                        v[b0 + tj] = a0 - a2;
                        v[b1 + tj] = a1 + a2;
                        v[b2 + tj] = a2 - a1;
                        v[b3 + tj] = a1 - a3;
                    }
                }
            }
        }
    }
}

/// `Y = Aᵀ M A` of every tile and output channel, plus the bias, then the activation, written
/// into the output rows of tile rows `tiles` of image `b`; Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]].
///
/// # Safety
/// `out` must be the `(n, cout, oh, ow)` output, and no other thread may write these rows.
#[allow(clippy::too_many_arguments)]
unsafe fn transform_output(
    m: &[f32],
    g: &Geometry,
    b: usize,
    tiles: std::ops::Range<usize>,
    tx: usize,
    bias: Option<&[f32]>,
    act: Option<bool>,
    out: SharedOut,
) {
    let (oh, ow) = g.out_hw();
    let t = tiles.len() * tx;
    let hi = if act == Some(true) {
        6.0
    } else {
        f32::INFINITY
    };
    let mut sums: [[Vec<f32>; 4]; 2] = Default::default();
    for o in 0..g.cout {
        let b0 = bias.map_or(0.0, |b| b[o]);
        // This task's output rows of channel `o`.
        let (r0, r1) = (2 * tiles.start, (2 * tiles.end).min(oh));
        // SAFETY: rows r0..r1 of channel `o` of image `b` lie inside the output, and only this
        // task writes them (the caller's contract).
        let rows = unsafe {
            std::slice::from_raw_parts_mut(
                out.at((b * g.cout + o) * oh * ow + r0 * ow),
                (r1 - r0) * ow,
            )
        };
        output_channel(
            &m[o * t..],
            (g.cout * t, tiles.len(), tx),
            (oh, ow, r0),
            (b0, act.map(|_| hi)),
            &mut sums,
            rows,
        );
    }
}

wide_fn! {
    /// [`transform_output`] for one output channel: `m` from its first product row (the 16
    /// products `stride` apart), `tiles` tile rows of `tx` tiles, into `rows` (output rows
    /// `r0…` of an `oh × ow` plane), plus `b0`, clamped to `[0, hi]` with `clamp = Some(hi)`.
    fn output_channel(
        m: &[f32],
        shape: (usize, usize, usize),
        plane: (usize, usize, usize),
        epilogue: (f32, Option<f32>),
        sums: &mut [[Vec<f32>; 4]; 2],
        rows: &mut [f32],
    ) {
        let ((stride, tiles, tx), (oh, ow, r0), (b0, clamp)) = (shape, plane, epilogue);
        for ti in 0..tiles {
            let oy = r0 + 2 * ti;
            let mrow = |xi: usize| &m[xi * stride + ti * tx..][..tx];
            // Aᵀ·M: two rows of four columns, each across the row's tiles.
            for (i, s) in sums.iter_mut().enumerate() {
                for (j, s) in s.iter_mut().enumerate() {
                    s.resize(tx, 0.0);
                    let (m0, m1, m2, m3) = (mrow(j), mrow(4 + j), mrow(8 + j), mrow(12 + j));
                    for k in 0..tx {
                        s[k] = if i == 0 {
                            m0[k] + m1[k] + m2[k]
                        } else {
                            m1[k] - m2[k] - m3[k]
                        };
                    }
                }
            }
            for (i, s) in sums.iter().enumerate() {
                let yy = oy + i;
                if yy >= oh {
                    continue;
                }
                let row = &mut rows[(yy - r0) * ow..(yy - r0 + 1) * ow];
                for (tj, pair) in row.chunks_mut(2).enumerate() {
                    let v = [
                        s[0][tj] + s[1][tj] + s[2][tj],
                        s[1][tj] - s[2][tj] - s[3][tj],
                    ];
                    for (d, v) in pair.iter_mut().zip(v) {
                        let mut v = v + b0;
                        if let Some(hi) = clamp {
                            v = if v < 0.0 { 0.0 } else { v };
                            v = if v > hi { hi } else { v };
                        }
                        *d = v;
                    }
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
            assert!(err < 1e-5 * scale, "{g:?}: {err} (scale {scale})");
        }
    }
}
