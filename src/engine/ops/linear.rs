//! Fully connected layers. The backward pass computes the input gradient only (for VGG's
//! 25088 × 4096 fc6, a weight gradient would be 100 M numbers nobody asked for).
//!
//! With a few inputs a linear layer is a matrix–vector product bound by reading its weights
//! (fc6: 411 MB). On the CPU, batches of up to [`STREAM_BATCH`] stream the weights once, in
//! parallel row blocks (forward) or column blocks (input gradient), at memory speed — candle's
//! matmul took twice as long there. Larger batches use candle's matmul (the `gemm` crate).

use candle_core::{DType, Tensor};
use rayon::prelude::*;

use super::cpu::with_cpu_slice;
use super::simd::{axpy, wide_fn};
use crate::engine::error::Result;

/// Batches up to this size stream the weights; larger ones are matrix products.
const STREAM_BATCH: usize = 8;

/// Weight elements per parallel task.
const TASK_ELEMENTS: usize = 1 << 16;

/// A fully connected layer, `y = x Wᵀ + b`.
pub struct Linear {
    /// `(out, in)`.
    pub weight: Tensor,
    /// `(out,)`.
    pub bias: Tensor,
}

/// Whether `x` (a `(batch, features)` activation) takes the streaming path with `w`.
fn streams(x: &Tensor, w: &Tensor) -> bool {
    let cpu = |t: &Tensor| t.device().is_cpu() && t.dtype() == DType::F32;
    cpu(x) && cpu(w) && x.rank() == 2 && x.dim(0).is_ok_and(|b| b <= STREAM_BATCH)
}

/// `Σ a[i]·b[i]`, in 64 independent lanes (vectorizable) then summed.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 64];
    let (ca, cb) = (a.chunks_exact(64), b.chunks_exact(64));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for ((s, &x), &y) in acc.iter_mut().zip(x).zip(y) {
            *s += x * y;
        }
    }
    acc.iter().sum::<f32>() + tail
}

wide_fn! {
    /// `col[b] = row · x[b] + bias` for each input `b` of `x` (rows of `row.len()`).
    fn dots(row: &[f32], x: &[f32], bias: f32, col: &mut [f32]) {
        for (v, x) in col.iter_mut().zip(x.chunks_exact(row.len())) {
            *v = dot(row, x) + bias;
        }
    }
}

wide_fn! {
    /// `dst[b] = Σ_o g[b, o] · w[o, c0..c0 + n]` for each input `b` (`dst`: `batch × n`,
    /// `w`: rows of `inp`).
    fn axpy_rows(w: &[f32], at: (usize, usize), g: &[f32], dst: &mut [f32]) {
        let (inp, c0) = at;
        let out = w.len() / inp;
        let batch = g.len() / out;
        let n = dst.len() / batch;
        for o in 0..out {
            let row = &w[o * inp + c0..o * inp + c0 + n];
            for b in 0..batch {
                axpy(&mut dst[b * n..(b + 1) * n], row, g[b * out + o]);
            }
        }
    }
}

impl Linear {
    pub(super) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (out, inp) = self.weight.dims2()?;
        super::count_flops(2 * (x.elem_count() * out) as u64);
        if !streams(x, &self.weight) || x.dim(1)? != inp {
            return Ok(x.matmul(&self.weight.t()?)?.broadcast_add(&self.bias)?);
        }
        let batch = x.dim(0)?;
        let mut y = vec![0f32; out * batch];
        with_cpu_slice(&self.weight, |w| {
            with_cpu_slice(x, |x| {
                with_cpu_slice(&self.bias, |bias| {
                    // y is (batch, out); tasks take rows of W, so they write y transposed.
                    let mut yt = vec![0f32; out * batch];
                    yt.par_chunks_mut(batch)
                        .enumerate()
                        .with_min_len((TASK_ELEMENTS / inp).max(1))
                        .for_each(|(o, col)| dots(&w[o * inp..(o + 1) * inp], x, bias[o], col));
                    for (o, col) in yt.chunks_exact(batch).enumerate() {
                        for (b, &v) in col.iter().enumerate() {
                            y[b * out + o] = v;
                        }
                    }
                })
            })
        })???;
        Ok(Tensor::from_vec(y, (batch, out), x.device())?)
    }

    pub(super) fn backward(&self, g: &Tensor) -> Result<Tensor> {
        let (out, inp) = self.weight.dims2()?;
        if !streams(g, &self.weight) || g.dim(1)? != out {
            return Ok(g.matmul(&self.weight)?);
        }
        let batch = g.dim(0)?;
        // dx (batch × in) = g · W: each task a block of input columns, over every row of W.
        let block = (TASK_ELEMENTS / out).clamp(64, inp.max(64));
        let mut dx = vec![0f32; batch * inp];
        with_cpu_slice(&self.weight, |w| {
            with_cpu_slice(g, |g| {
                let mut cols: Vec<Vec<f32>> = (0..inp.div_ceil(block))
                    .map(|i| vec![0f32; batch * block.min(inp - i * block)])
                    .collect();
                cols.par_iter_mut().enumerate().for_each(|(i, dst)| {
                    let c0 = i * block;
                    axpy_rows(w, (inp, c0), g, dst);
                });
                for (i, src) in cols.iter().enumerate() {
                    let (c0, n) = (i * block, block.min(inp - i * block));
                    for b in 0..batch {
                        dx[b * inp + c0..b * inp + c0 + n]
                            .copy_from_slice(&src[b * n..(b + 1) * n]);
                    }
                }
            })
        })??;
        Ok(Tensor::from_vec(dx, (batch, inp), g.device())?)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::*;

    /// The streaming paths against candle's matmul, for batches on both sides of
    /// [`STREAM_BATCH`] and sizes that are not multiples of the lanes or blocks.
    #[test]
    fn streaming_matches_matmul() -> Result<()> {
        let dev = Device::Cpu;
        for &(batch, inp, out) in &[(1, 1000, 37), (3, 2053, 515), (8, 70, 1100), (9, 130, 40)] {
            let l = Linear {
                weight: Tensor::randn(0f32, 1f32, (out, inp), &dev)?,
                bias: Tensor::randn(0f32, 1f32, out, &dev)?,
            };
            let x = Tensor::randn(0f32, 1f32, (batch, inp), &dev)?;
            let fast = l.forward(&x)?;
            let slow = x.matmul(&l.weight.t()?)?.broadcast_add(&l.bias)?;
            let d = (fast - slow)?.abs()?.max_all()?.to_scalar::<f32>()?;
            // Sums of `inp` products of N(0, 1) values (size ≈ √inp).
            assert!(d < 1e-5 * inp as f32, "forward {batch}×{inp}→{out}: {d}");
            let g = Tensor::randn(0f32, 1f32, (batch, out), &dev)?;
            let fast = l.backward(&g)?;
            let slow = g.matmul(&l.weight)?;
            let d = (fast - slow)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(d < 1e-5 * out as f32, "backward {batch}×{inp}→{out}: {d}");
        }
        Ok(())
    }
}
