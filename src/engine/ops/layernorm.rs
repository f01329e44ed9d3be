//! LayerNorm over the channels of every pixel (ConvNeXt's `LayerNorm2d`, and its block norm
//! applied channels-last): `y = (x − μ) / √(σ² + ε) · γ + β`, with `μ`, `σ²` (biased) over `C`.
//!
//! Input gradient, with `x̂ = (x − μ)·r`, `r = 1/√(σ² + ε)` and `ĝ = g·γ`:
//! `∂L/∂x = r · (ĝ − mean_C(ĝ) − x̂ · mean_C(ĝ·x̂))`.
//!
//! On the CPU, per image: one pass over blocks of pixels for the statistics (the channels of a
//! pixel are a plane apart), then one vectorized pass per channel plane.

use candle_core::{DType, Tensor};

use super::cpu::{cpu_data, with_cpu_slice};
use crate::engine::error::Result;

/// Pixels per statistics task.
const BLOCK: usize = 256;

/// A LayerNorm over channels.
pub struct LayerNorm2d {
    /// `(C,)`.
    pub weight: Tensor,
    /// `(C,)`.
    pub bias: Tensor,
    pub eps: f64,
}

/// Per-pixel statistics of one image: `μ`, `r`, and for the backward pass `mean_C(ĝ)`,
/// `mean_C(ĝ·x̂)`.
struct Stats {
    mean: Vec<f32>,
    rstd: Vec<f32>,
    a: Vec<f32>,
    b: Vec<f32>,
}

impl LayerNorm2d {
    fn on_cpu(x: &Tensor) -> bool {
        x.device().is_cpu() && x.dtype() == DType::F32 && x.rank() == 4
    }

    pub(super) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if Self::on_cpu(x) {
            return self.cpu(x, None);
        }
        self.forward_candle(x)
    }

    /// `∂L/∂x` given the input `x` and the output's gradient `g`.
    pub(super) fn backward(&self, x: &Tensor, g: &Tensor) -> Result<Tensor> {
        if Self::on_cpu(x) && Self::on_cpu(g) && x.dims() == g.dims() {
            return self.cpu(x, Some(g));
        }
        self.backward_candle(x, g)
    }

    /// `x̂ = (x − μ)·r` and `r` through candle's ops.
    fn normalized_candle(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let d = x.broadcast_sub(&x.mean_keepdim(1)?)?;
        let r = (d.sqr()?.mean_keepdim(1)? + self.eps)?.sqrt()?.recip()?;
        Ok((d.broadcast_mul(&r)?, r))
    }

    fn channel(&self, t: &Tensor, like: &Tensor) -> Result<Tensor> {
        let c = t.dim(0)?;
        Ok(t.to_dtype(like.dtype())?.reshape((1, c, 1, 1))?)
    }

    /// The forward pass through candle's ops (other devices, other dtypes, the reference).
    fn forward_candle(&self, x: &Tensor) -> Result<Tensor> {
        let (xh, _) = self.normalized_candle(x)?;
        Ok(xh
            .broadcast_mul(&self.channel(&self.weight, x)?)?
            .broadcast_add(&self.channel(&self.bias, x)?)?)
    }

    /// The input gradient through candle's ops.
    fn backward_candle(&self, x: &Tensor, g: &Tensor) -> Result<Tensor> {
        let (xh, r) = self.normalized_candle(x)?;
        let gh = g.broadcast_mul(&self.channel(&self.weight, g)?)?;
        let a = gh.mean_keepdim(1)?;
        let b = gh.mul(&xh)?.mean_keepdim(1)?;
        Ok(gh
            .broadcast_sub(&a)?
            .sub(&xh.broadcast_mul(&b)?)?
            .broadcast_mul(&r)?)
    }

    /// The forward pass (`g` = `None`) or the input gradient on the CPU.
    fn cpu(&self, x: &Tensor, g: Option<&Tensor>) -> Result<Tensor> {
        use rayon::prelude::*;
        let (n, c, h, w) = x.dims4()?;
        let hw = h * w;
        let gamma = cpu_data(&self.weight)?;
        let beta = cpu_data(&self.bias)?;
        let g = g.map(|g| g.contiguous()).transpose()?;
        let mut out = vec![0f32; n * c * hw];
        with_cpu_slice(x, |xs| -> Result<()> {
            let mut run = |gs: Option<&[f32]>| {
                for (i, out) in out.chunks_mut(c * hw).enumerate() {
                    let x = &xs[i * c * hw..(i + 1) * c * hw];
                    let g = gs.map(|g| &g[i * c * hw..(i + 1) * c * hw]);
                    let s = self.stats(x, g, &gamma, c, hw);
                    out.par_chunks_mut(hw.max(1))
                        .enumerate()
                        .with_min_len((1 << 14) / hw.max(1))
                        .for_each(|(ch, o)| {
                            let xc = &x[ch * hw..(ch + 1) * hw];
                            match g {
                                None => {
                                    for p in 0..hw {
                                        o[p] =
                                            (xc[p] - s.mean[p]) * s.rstd[p] * gamma[ch] + beta[ch];
                                    }
                                }
                                Some(g) => {
                                    let gc = &g[ch * hw..(ch + 1) * hw];
                                    for p in 0..hw {
                                        let xh = (xc[p] - s.mean[p]) * s.rstd[p];
                                        o[p] =
                                            s.rstd[p] * (gc[p] * gamma[ch] - s.a[p] - xh * s.b[p]);
                                    }
                                }
                            }
                        });
                }
            };
            match &g {
                Some(g) => with_cpu_slice(g, |gs| run(Some(gs)))?,
                None => run(None),
            }
            Ok(())
        })??;
        Ok(Tensor::from_vec(out, (n, c, h, w), x.device())?)
    }

    /// Statistics of one image `x` (`C × HW`), in parallel blocks of pixels; with `g`, also the
    /// two channel means of the backward pass.
    fn stats(&self, x: &[f32], g: Option<&[f32]>, gamma: &[f32], c: usize, hw: usize) -> Stats {
        use rayon::prelude::*;
        let eps = self.eps as f32;
        let blocks: Vec<Stats> = (0..hw.div_ceil(BLOCK))
            .into_par_iter()
            .map(|bi| {
                let (p0, p1) = (bi * BLOCK, ((bi + 1) * BLOCK).min(hw));
                let m = p1 - p0;
                let mut mean = vec![0f32; m];
                for ch in 0..c {
                    let row = &x[ch * hw + p0..ch * hw + p1];
                    mean.iter_mut().zip(row).for_each(|(s, v)| *s += v);
                }
                mean.iter_mut().for_each(|s| *s /= c as f32);
                let mut var = vec![0f32; m];
                for ch in 0..c {
                    let row = &x[ch * hw + p0..ch * hw + p1];
                    for p in 0..m {
                        let d = row[p] - mean[p];
                        var[p] += d * d;
                    }
                }
                let rstd: Vec<f32> = var
                    .iter()
                    .map(|v| 1.0 / (v / c as f32 + eps).sqrt())
                    .collect();
                let (mut a, mut b) = (Vec::new(), Vec::new());
                if let Some(g) = g {
                    a = vec![0f32; m];
                    b = vec![0f32; m];
                    for ch in 0..c {
                        let row = &x[ch * hw + p0..ch * hw + p1];
                        let grow = &g[ch * hw + p0..ch * hw + p1];
                        for p in 0..m {
                            let gh = grow[p] * gamma[ch];
                            a[p] += gh;
                            b[p] += gh * (row[p] - mean[p]) * rstd[p];
                        }
                    }
                    a.iter_mut()
                        .chain(b.iter_mut())
                        .for_each(|v| *v /= c as f32);
                }
                Stats { mean, rstd, a, b }
            })
            .collect();
        let mut s = Stats {
            mean: Vec::with_capacity(hw),
            rstd: Vec::with_capacity(hw),
            a: Vec::new(),
            b: Vec::new(),
        };
        for b in blocks {
            s.mean.extend(b.mean);
            s.rstd.extend(b.rstd);
            s.a.extend(b.a);
            s.b.extend(b.b);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::super::fd::assert_input_gradient;
    use super::*;

    fn ln(c: usize) -> Result<LayerNorm2d> {
        let dev = Device::Cpu;
        Ok(LayerNorm2d {
            weight: (Tensor::randn(0f32, 1f32, c, &dev)? + 1.0)?,
            bias: Tensor::randn(0f32, 1f32, c, &dev)?,
            eps: 1e-6,
        })
    }

    /// The CPU passes against candle's ops (what other devices run), forward and backward, on
    /// a plane larger than one statistics block and a batch of two.
    #[test]
    fn cpu_passes_match_candle_ops() -> Result<()> {
        let dev = Device::Cpu;
        let norm = ln(5)?;
        let x = (Tensor::randn(0f32, 2f32, (2, 5, 17, 19), &dev)? + 0.5)?;
        let g = Tensor::randn(0f32, 1f32, (2, 5, 17, 19), &dev)?;
        let pairs = [
            (norm.forward(&x)?, norm.forward_candle(&x)?),
            (norm.backward(&x, &g)?, norm.backward_candle(&x, &g)?),
        ];
        for (got, want) in pairs {
            let d = (got - want)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(d < 1e-4, "max difference {d}");
        }
        Ok(())
    }

    /// The analytic gradient against central differences of `Σ r ⊙ y` in float64.
    #[test]
    fn gradient_matches_finite_differences() -> Result<()> {
        let dev = Device::Cpu;
        let c = 4;
        let norm = LayerNorm2d {
            weight: Tensor::new(&[1.5f64, -0.5, 0.8, 2.0], &dev)?,
            bias: Tensor::new(&[0.1f64, 0.2, -0.3, 0.0], &dev)?,
            eps: 1e-6,
        };
        let xs: Vec<f64> = (0..c * 6)
            .map(|i| ((i * 37 % 23) as f64 - 11.0) / 7.0)
            .collect();
        let x = Tensor::from_vec(xs.clone(), (1, c, 2, 3), &dev)?;
        let r = Tensor::from_vec(
            (0..c * 6)
                .map(|i| ((i * 53 % 19) as f64 - 9.0) / 5.0)
                .collect::<Vec<_>>(),
            (1, c, 2, 3),
            &dev,
        )?;
        let got = norm.backward(&x, &r)?;
        assert_input_gradient(&x, &r, &got, |xi| norm.forward(xi), 1e-6, "LayerNorm2d")?;
        Ok(())
    }
}
