//! Convolutions as matrix products on the CPU (f32, NCHW), with the `gemm` crate (what candle's
//! matmul uses; it approaches this CPU's peak with AVX-512 and runs on every core). candle's own
//! CPU convolution is a direct loop at a few percent of peak.
//!
//! Forward, per image and group: `Y (C_out × OH·OW) = W (C_out × C_in·k·k) · cols`, where
//! `cols` is the im2col matrix of the input; a 1×1 stride-1 convolution needs no im2col — the
//! input already is `C_in × H·W`. The bias is the initial value of `Y` (fused into the product).
//!
//! Input gradient: `cols = Wᵀ · dY`, then col2im adds each column back where it was read from.
//! Unlike the zero-dilated transposed convolution, a strided convolution wastes nothing.

use gemm::Parallelism;

use super::geometry::Geometry;
use super::im2col::{col2im, im2col};
use super::matmul::matmul;
pub(super) use super::matmul::{SharedOut, matmul_raw};

/// About this many f32 of im2col columns per block (1 MiB): whole output rows, so that a
/// block's columns stay in this CPU's L2 cache while the GEMM reads them, and the buffer stays
/// small whatever the image size.
const BLOCK_FLOATS: usize = 1 << 18;

/// Output rows per im2col block.
fn block_rows(g: &Geometry) -> usize {
    let (oh, ow) = g.out_hw();
    (BLOCK_FLOATS / (g.patch() * ow).max(1)).clamp(1, oh.max(1))
}

/// `conv(x) + bias` for `x` of `(n, cin, h, w)` and `weight` of `(cout, cin/groups, k, k)`,
/// row-major; returns `(n, cout, oh, ow)`.
///
/// The work is split into tasks — one per image, group and block of output rows (the whole
/// plane for a pointwise convolution, which reads its input as it is) — each writing its own
/// columns of the output. With enough tasks to keep every core busy they run in parallel, each
/// with a one-thread GEMM (a batch, large images); otherwise one at a time with the GEMM on
/// every core.
///
/// `act`: ReLU (`Some(false)`) or ReLU6 (`Some(true)`) applied by each task to the rows it has
/// just written, while they are in cache.
pub fn forward(
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    g: &Geometry,
    act: Option<bool>,
) -> Vec<f32> {
    let (oh, ow) = g.out_hw();
    let (cin_g, cout_g, patch) = (g.cin_g(), g.cout_g(), g.patch());
    let plane_out = oh * ow;
    let mut y = vec![0f32; g.n * g.cout * plane_out];
    if let Some(b) = bias {
        for img in y.chunks_mut(g.cout * plane_out) {
            for (c, ch) in img.chunks_mut(plane_out).enumerate() {
                ch.fill(b[c]);
            }
        }
    }
    let rows = if g.is_pointwise() { oh } else { block_rows(g) };
    let blocks = oh.div_ceil(rows.max(1));
    let tasks = g.n * g.groups * blocks;
    let out = SharedOut(y.as_mut_ptr());
    let run = |task: usize, cols: &mut Vec<f32>, par: Parallelism| {
        let (b, grp, blk) = (
            task / (g.groups * blocks),
            task / blocks % g.groups,
            task % blocks,
        );
        let r = blk * rows..((blk + 1) * rows).min(oh);
        let n = r.len() * ow;
        let xb = &x[b * g.cin * g.h * g.w..(b + 1) * g.cin * g.h * g.w];
        let rhs: &[f32] = if g.is_pointwise() {
            &xb[grp * cin_g * plane_out..(grp + 1) * cin_g * plane_out]
        } else {
            cols.resize(patch * n, 0.0);
            im2col(
                xb,
                g,
                grp * cin_g,
                r.clone(),
                cols,
                !matches!(par, Parallelism::None),
            );
            cols
        };
        let w = &weight[grp * cout_g * patch..(grp + 1) * cout_g * patch];
        let start = (b * g.cout + grp * cout_g) * plane_out + r.start * ow;
        // SAFETY: this task alone writes output rows `r` of channels `grp·cout_g..` of image
        // `b`: rows `start + i·plane_out .. + n` for `i < cout_g`, all inside `y`, which
        // outlives the tasks and is not read meanwhile.
        unsafe {
            matmul_raw(
                (cout_g, n, patch),
                w,
                (patch, 1),
                rhs,
                (n, 1),
                out.at(start),
                plane_out,
                bias.is_some(),
                par,
            );
            if let Some(six) = act {
                for i in 0..cout_g {
                    let row = std::slice::from_raw_parts_mut(out.at(start + i * plane_out), n);
                    super::activation::clamp_in_place(row, six);
                }
            }
        }
    };
    run_tasks(tasks, run);
    y
}

/// Runs `run(task, scratch, parallelism)` for every task: with at least two tasks per core,
/// in parallel with one-thread GEMMs (one scratch buffer per worker); otherwise one at a time
/// with the GEMM on every core.
pub(super) fn run_tasks<B: Default>(tasks: usize, run: impl Fn(usize, &mut B, Parallelism) + Sync) {
    use rayon::prelude::*;
    if tasks >= 2 * rayon::current_num_threads() {
        (0..tasks)
            .into_par_iter()
            .for_each_init(B::default, |buf, t| run(t, buf, Parallelism::None));
    } else {
        let mut buf = B::default();
        for t in 0..tasks {
            run(t, &mut buf, Parallelism::Rayon(0));
        }
    }
}

/// Each group's `(cout_g, patch)` block of `weight` transposed to `(patch, cout_g)`: the
/// operand of [`backward`].
pub fn transposed(weight: &[f32], g: &Geometry) -> Vec<f32> {
    use rayon::prelude::*;
    let (cout_g, patch) = (g.cout_g(), g.patch());
    let mut t = vec![0f32; weight.len()];
    // In 32 × 32 tiles (a naive transpose misses the cache on every write: 40 ms for
    // ResNet-18's kernels, paid on the first input gradient), bands of 32 output rows in
    // parallel.
    const TILE: usize = 32;
    for grp in 0..g.groups {
        let src = &weight[grp * cout_g * patch..(grp + 1) * cout_g * patch];
        let dst = &mut t[grp * cout_g * patch..(grp + 1) * cout_g * patch];
        dst.par_chunks_mut(TILE * cout_g)
            .enumerate()
            .for_each(|(band, rows)| {
                let i0 = band * TILE;
                let ni = rows.len() / cout_g;
                for j0 in (0..cout_g).step_by(TILE) {
                    for j in j0..(j0 + TILE).min(cout_g) {
                        for i in 0..ni {
                            rows[i * cout_g + j] = src[j * patch + i0 + i];
                        }
                    }
                }
            });
    }
    t
}

/// `∂L/∂x` from `∂L/∂y` (`(n, cout, oh, ow)`), for the geometry of the forward pass, with
/// `weight_t` from [`transposed`]: per block of output rows, `cols = Wᵀ · dY` then col2im.
pub fn backward(dy: &[f32], weight_t: &[f32], g: &Geometry) -> Vec<f32> {
    let (oh, ow) = g.out_hw();
    let (cin_g, cout_g, patch) = (g.cin_g(), g.cout_g(), g.patch());
    let plane_out = oh * ow;
    let plane_in = g.h * g.w;
    let mut dx = vec![0f32; g.n * g.cin * plane_in];
    let rows = block_rows(g);
    let mut cols = Vec::new();
    for b in 0..g.n {
        for grp in 0..g.groups {
            let w = &weight_t[grp * cout_g * patch..(grp + 1) * cout_g * patch];
            let start = (b * g.cout + grp * cout_g) * plane_out;
            let dyg = &dy[start..start + cout_g * plane_out];
            let dxb = &mut dx[b * g.cin * plane_in..(b + 1) * g.cin * plane_in];
            // Wᵀ (patch × cout_g), row-major.
            if g.is_pointwise() {
                let dst = &mut dxb[grp * cin_g * plane_in..(grp + 1) * cin_g * plane_in];
                matmul(
                    (patch, plane_out, cout_g),
                    w,
                    (cout_g, 1),
                    dyg,
                    (plane_out, 1),
                    dst,
                    false,
                );
                continue;
            }
            for oy in (0..oh).step_by(rows) {
                let r = oy..(oy + rows).min(oh);
                let n = r.len() * ow;
                cols.resize(patch * n, 0.0);
                matmul(
                    (patch, n, cout_g),
                    w,
                    (cout_g, 1),
                    &dyg[oy * ow..],
                    (plane_out, 1),
                    &mut cols,
                    false,
                );
                col2im(&cols, g, grp * cin_g, r, dxb);
            }
        }
    }
    dx
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::super::cpu::cpu_data;
    use super::*;
    use crate::engine::error::Result;

    /// Against candle's direct convolution, for the shapes our models use (strided, padded,
    /// grouped, pointwise, a batch of two).
    #[test]
    fn forward_matches_candle() -> Result<()> {
        let dev = Device::Cpu;
        for &(n, cin, cout, k, s, p, groups, h) in &[
            (1, 3, 8, 7, 2, 3, 1, 23),
            (2, 8, 16, 3, 1, 1, 1, 9),
            (1, 8, 8, 3, 2, 1, 4, 10),
            (2, 16, 32, 1, 1, 0, 1, 7),
            (1, 16, 24, 1, 2, 0, 1, 8),
            (1, 4, 6, 5, 2, 0, 2, 11),
        ] {
            let x = Tensor::randn(0f32, 1f32, (n, cin, h, h + 1), &dev)?;
            let w = Tensor::randn(0f32, 1f32, (cout, cin / groups, k, k), &dev)?;
            let bias = Tensor::randn(0f32, 1f32, cout, &dev)?;
            let want = x
                .conv2d(&w, p, s, 1, groups)?
                .broadcast_add(&bias.reshape((1, cout, 1, 1))?)?;
            let g = Geometry {
                n,
                cin,
                h,
                w: h + 1,
                cout,
                k,
                stride: s,
                pad: p,
                groups,
            };
            let got = forward(
                &cpu_data(&x)?,
                &cpu_data(&w)?,
                Some(&bias.to_vec1::<f32>()?),
                &g,
                None,
            );
            let want = cpu_data(&want)?;
            assert_eq!(got.len(), want.len());
            let err = got
                .iter()
                .zip(&want)
                .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(err < 1e-4, "{g:?}: {err}");
        }
        Ok(())
    }
}
